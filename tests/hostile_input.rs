//! Hostile input through the real binary, bounded: mutated fixtures and mutated command
//! lines. Whatever the input, muxsim exits 0, 1 or 2 within its time, never panics, and
//! every exit-2 message about a transcript names the file, the line and the column.
//!
//! `MUXSIM_MUTANTS` sets how many of each are tried (default 120).

mod common;

use common::muxsim;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn mutants() -> usize {
    common::count_from_env("MUXSIM_MUTANTS", 120) as usize
}

/// Pieces of the grammar, to splice into fixtures.
const TOKENS: &[&str] = &[
    "limit steps 4000000000\n",
    "limit max-conns 1\n",
    "! accept-emfile 1000000\n",
    "! a short-read 1\n",
    "! z spurious\n",
    "expect panic\n",
    "expect mismatch\n",
    "oracle on\n",
    "clients b a\n",
    "a wait 18446744073709551615ns\n",
    "a wait 1h\n",
    "! a delay 99999h\n",
    "b connect\n",
    "a recv-len 99999999\n",
    "a recv-line \"(\"\n",
    "a recv-set \"x\"\n",
    "\\x",
    "\"",
    "\u{feff}",
    "\r",
    "@ 5ms\n",
    "semantics epoll-linux\n",
    "seed 18446744073709551615\n",
    "service nope\n",
];

fn mutate(rng: &mut ChaCha8Rng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = bytes.len();
        let at = rng.random_range(0..=len);
        match rng.random_range(0..6) {
            0 if len > 0 => bytes[at.min(len - 1)] = rng.random(),
            1 => bytes.insert(at, rng.random()),
            2 if len > 0 => {
                let end = (at + rng.random_range(1..40)).min(len);
                bytes.drain(at.min(end)..end);
            }
            3 => {
                let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                let i = rng.random_range(0..lines.len());
                let mut line = lines[i].to_vec();
                line.push(b'\n');
                let pos = rng.random_range(0..=len);
                bytes.splice(pos..pos, line);
            }
            _ => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
                // At a line start more often than not.
                let pos = if rng.random_bool(0.7) {
                    bytes[..at]
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |p| p + 1)
                } else {
                    at
                };
                bytes.splice(pos..pos, token.iter().copied());
            }
        }
    }
    bytes
}

#[test]
fn mutated_fixtures_exit_0_1_or_2_and_errors_name_file_line_and_column() {
    let fixtures = common::fixtures();
    let texts: Vec<String> = fixtures
        .iter()
        // The 3,000-line fixture makes every mutant slow; the others cover its grammar.
        .filter(|p| std::fs::metadata(p).unwrap().len() < 20_000)
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x6d75_7473);
    let mut codes = [0usize; 3];
    for i in 0..mutants() {
        let text = &texts[i % texts.len()];
        let bytes = mutate(&mut rng, text);
        let path = dir.path().join(format!("m{i}.txn"));
        std::fs::write(&path, &bytes).unwrap();
        let out = muxsim().arg("replay").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = || format!("{}\n---\n{stderr}", String::from_utf8_lossy(&bytes));
        assert!(!stderr.contains("panicked"), "{}", shown());
        let code = out
            .status
            .code()
            .unwrap_or_else(|| panic!("killed: {}", shown()));
        assert!((0..=2).contains(&code), "exit {code}: {}", shown());
        codes[code as usize] += 1;
        if code == 2 {
            // `muxsim: /tmp/.../m7.txn:3:9: ...`
            let prefix = format!("muxsim: {}:", path.display());
            let line = stderr
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no `{prefix}` line: {}", shown()));
            let mut rest = line[prefix.len()..].splitn(3, ':');
            let (l, c) = (rest.next().unwrap(), rest.next().unwrap_or(""));
            assert!(
                l.parse::<usize>().is_ok_and(|l| l > 0) && c.parse::<usize>().is_ok_and(|c| c > 0),
                "no line and column: {}",
                shown()
            );
        }
    }
    // The mutants reach every outcome, or the test proves little.
    assert!(codes.iter().all(|&n| n > 0), "{codes:?}");
}

/// Commands that end by themselves, with their flags and a good value for each.
const COMMANDS: &[&[&str]] = &[
    &[
        "sim",
        "--service",
        "echo",
        "--seed",
        "3",
        "--clients",
        "2",
        "--faults",
        "all",
    ],
    &[
        "sim",
        "--service",
        "lines",
        "--seed",
        "1",
        "--semantics",
        "poll",
        "--limit",
        "max-line=8",
    ],
    &[
        "replay",
        "--timeout-ms",
        "500",
        "--split",
        "2",
        "--format",
        "json",
        "fixtures/echo.txn",
    ],
    &[
        "replay",
        "--backend",
        "sim",
        "--strict",
        "fixtures/lines.txn",
    ],
    &[
        "fuzz",
        "--service",
        "echo",
        "--seeds",
        "5",
        "--jobs",
        "1",
        "--start-seed",
        "9",
        "--out",
        "OUT",
    ],
    &[
        "fuzz",
        "--service",
        "lines",
        "--seeds",
        "3",
        "--shard",
        "1/2",
        "--faults",
        "short-io,eintr",
        "--out",
        "OUT",
    ],
    &[
        "chaos",
        "--target",
        "127.0.0.1:1",
        "--duration",
        "1s",
        "--clients",
        "2",
    ],
    &[
        "load",
        "127.0.0.1:1",
        "--conns",
        "2",
        "--depth",
        "2",
        "--duration",
        "100ms",
    ],
    &["services", "lines"],
    &["limits", "--service", "lines"],
    &["completions", "bash"],
];

const VALUES: &[&str] = &[
    "0",
    "-1",
    "18446744073709551616",
    "18446744073709551615s",
    "",
    "1e9",
    "NaN",
    "ünïcödé",
    "1/0",
    "0/0",
    "3/2",
    "all,none",
    "max-line=",
    "=5",
    "/nonexistent/dir/file",
    "fixtures",
    "-",
    "--help",
    "0ms",
    "1.5.5s",
];

#[test]
fn mutated_command_lines_exit_0_1_or_2_with_a_message() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x666c_6167);
    for _ in 0..mutants() {
        let base = COMMANDS[rng.random_range(0..COMMANDS.len())];
        let mut args: Vec<String> = base
            .iter()
            .map(|a| {
                if *a == "OUT" {
                    out.to_string()
                } else {
                    a.to_string()
                }
            })
            .collect();
        for _ in 0..rng.random_range(1..=2) {
            let i = rng.random_range(1..args.len());
            match rng.random_range(0..4) {
                // Replace a value (or a flag) with a hostile one.
                0 | 1 => args[i] = VALUES[rng.random_range(0..VALUES.len())].to_string(),
                // Drop an argument.
                2 => {
                    args.remove(i);
                }
                // Repeat one.
                _ => {
                    let a = args[i].clone();
                    args.insert(i, a);
                }
            }
            if args.len() < 2 {
                break;
            }
        }
        let output = muxsim()
            .current_dir(common::root())
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let code = output
            .status
            .code()
            .unwrap_or_else(|| panic!("killed: muxsim {}", args.join(" ")));
        assert!(
            !stderr.contains("panicked"),
            "muxsim {}\n{stderr}",
            args.join(" ")
        );
        assert!(
            (0..=2).contains(&code),
            "exit {code}: muxsim {}\n{stderr}",
            args.join(" ")
        );
        if code == 2 {
            assert!(
                !stderr.trim().is_empty(),
                "exit 2 without a message: muxsim {}",
                args.join(" ")
            );
        }
    }
}
