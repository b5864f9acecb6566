//! Whether a program can be reached through `LD_PRELOAD` at all: a statically linked
//! program has no dynamic loader to load the library, and a Go program makes its socket calls
//! without libc. Either would run clean under `muxsim run` with no fault ever injected, so
//! they are refused up front with the reason.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Finds `program` as the shell would: a path as given, else on `PATH`.
pub(super) fn resolve(program: &OsStr) -> Option<PathBuf> {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return path.is_file().then(|| path.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Why `program` bypasses libc, if it does.
pub(super) fn bypasses_libc(program: &OsStr) -> Option<String> {
    bypass_reason(&resolve(program)?, 0)
}

fn bypass_reason(path: &Path, depth: usize) -> Option<String> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 << 20)
        .read_to_end(&mut head)
        .ok()?;
    if let Some(line) = head.strip_prefix(b"#!") {
        // A script: its interpreter is what runs (`#!/usr/bin/env python3` names two).
        let line = line.split(|&b| b == b'\n').next()?;
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_whitespace();
        let first = words.next()?;
        let interpreter = if first.ends_with("/env") {
            words.find(|w| !w.starts_with('-'))?
        } else {
            first
        };
        return (depth < 4)
            .then(|| bypass_reason(&resolve(OsStr::new(interpreter))?, depth + 1))
            .flatten();
    }
    elf_reason(&head, path)
}

fn elf_reason(bytes: &[u8], path: &Path) -> Option<String> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        // Not a 64-bit ELF file: nothing to say.
        return None;
    }
    let le = bytes[5] == 1;
    let u16_at = |i: usize| {
        let b = [bytes[i], bytes[i + 1]];
        if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        if le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        }
    };
    let phoff = u64_at(0x20) as usize;
    let phentsize = u16_at(0x36) as usize;
    let phnum = u16_at(0x38) as usize;
    const PT_INTERP: u32 = 3;
    let dynamic = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        at + 4 <= bytes.len() && {
            let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            let kind = if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            };
            kind == PT_INTERP
        }
    });
    let name = path.display();
    if section_names(bytes, le)
        .iter()
        .any(|s| s == ".go.buildinfo" || s == ".note.go.buildid")
    {
        return Some(format!(
            "{name} is a Go program: Go makes its socket calls without libc, so LD_PRELOAD cannot reach them"
        ));
    }
    (!dynamic).then(|| {
        format!(
            "{name} is statically linked: there is no dynamic loader to load the muxsim library into it"
        )
    })
}

/// The names of an ELF file's sections (empty when the table is not in `bytes`).
fn section_names(bytes: &[u8], le: bool) -> Vec<String> {
    let get = |at: usize, len: usize| -> Option<u64> {
        let b = bytes.get(at..at + len)?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if le { b[len - 1 - i] } else { b[i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let (Some(shoff), Some(shentsize), Some(shnum), Some(shstrndx)) =
        (get(0x28, 8), get(0x3A, 2), get(0x3C, 2), get(0x3E, 2))
    else {
        return Vec::new();
    };
    let header = |i: u64| (shoff + i * shentsize) as usize;
    let Some(strtab) = get(header(shstrndx) + 0x18, 8) else {
        return Vec::new();
    };
    (0..shnum)
        .filter_map(|i| {
            let name = get(header(i), 4)? as usize;
            let start = strtab as usize + name;
            let text = bytes.get(start..)?;
            let end = text.iter().position(|&b| b == 0)?;
            Some(String::from_utf8_lossy(&text[..end]).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_programs_and_scripts_pass_and_static_ones_are_named() {
        // The test binary itself is dynamically linked.
        let me = std::env::current_exe().unwrap();
        assert_eq!(bypass_reason(&me, 0), None);
        // A script whose interpreter is a dynamic program.
        let dir = std::env::temp_dir().join(format!("muxsim-binary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s.sh");
        std::fs::write(&script, format!("#!{}\n", me.display())).unwrap();
        assert_eq!(bypass_reason(&script, 0), None);
        // An ELF header with no PT_INTERP: static.
        let mut elf = vec![0u8; 128];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        let fake = dir.join("static");
        std::fs::write(&fake, &elf).unwrap();
        let why = bypass_reason(&fake, 0).unwrap();
        assert!(why.contains("statically linked"), "{why}");
        // Its bytes may say anything; the section table says what it is.
        elf.extend_from_slice(b"\xff Go buildinf:");
        std::fs::write(&fake, &elf).unwrap();
        assert!(
            bypass_reason(&fake, 0)
                .unwrap()
                .contains("statically linked")
        );
        // Two sections: the null one and `.go.buildinfo`, names in a string table at 256.
        let mut elf = vec![0u8; 512];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[0x28..0x30].copy_from_slice(&128u64.to_le_bytes()); // e_shoff
        elf[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        elf[0x3C..0x3E].copy_from_slice(&2u16.to_le_bytes()); // e_shnum
        elf[0x3E..0x40].copy_from_slice(&0u16.to_le_bytes()); // e_shstrndx
        elf[128 + 0x18..128 + 0x20].copy_from_slice(&256u64.to_le_bytes()); // strtab offset
        elf[192..196].copy_from_slice(&1u32.to_le_bytes()); // second section's name
        elf[257..257 + 13].copy_from_slice(b".go.buildinfo");
        std::fs::write(&fake, &elf).unwrap();
        assert!(bypass_reason(&fake, 0).unwrap().contains("Go program"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
