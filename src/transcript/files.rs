//! Transcript files: reading one safely, and finding every transcript under some paths.
//!
//! Only regular files are read, up to [`MAX_SIZE`] bytes, so neither `/dev/zero` nor a FIFO
//! can hang a replay or exhaust its memory. Directories are walked for `*.txn` files, in
//! sorted order; a directory reached twice (a symlink loop, or two links to one place) is
//! walked once.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{MAX_SIZE, Transcript, parse};

/// Why a transcript file cannot be used: which file, where in it, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// The file.
    pub(crate) path: PathBuf,
    /// Where in it, when the problem is in its text.
    pub(crate) position: Option<(usize, usize)>,
    /// What is wrong.
    pub(crate) message: String,
}

impl FileError {
    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Where in it, when the problem is in its text.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(
                f,
                "{}:{line}:{column}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for FileError {}

impl FileError {
    fn new(path: &Path, message: impl Into<String>) -> Self {
        FileError {
            path: path.to_path_buf(),
            position: None,
            message: message.into(),
        }
    }
}

/// Reads and parses a transcript file.
pub fn load(path: &Path) -> Result<Transcript, FileError> {
    let meta = fs::metadata(path).map_err(|e| FileError::new(path, e.to_string()))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        return Err(FileError::new(
            path,
            format!("{what}: a transcript must be a regular file"),
        ));
    }
    if meta.len() > MAX_SIZE {
        return Err(FileError::new(path, too_large()));
    }
    let file = fs::File::open(path).map_err(|e| FileError::new(path, e.to_string()))?;
    load_from(path, file)
}

fn too_large() -> String {
    format!(
        "larger than {} MiB: a transcript that large is not one a person can read",
        MAX_SIZE / (1024 * 1024)
    )
}

/// Reads and parses a transcript from `reader` (standard input, say), naming it `name` in
/// errors; at most [`MAX_SIZE`] bytes are read.
pub fn load_from(name: &Path, reader: impl Read) -> Result<Transcript, FileError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::new(name, e.to_string()))?;
    if bytes.len() as u64 > MAX_SIZE {
        return Err(FileError::new(name, too_large()));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
        FileError {
            path: name.to_path_buf(),
            position: Some((line, column)),
            message: "expected UTF-8 text (write other bytes as \\xNN inside quotes)".to_string(),
        }
    })?;
    parse(text).map_err(|e| FileError {
        path: name.to_path_buf(),
        position: Some((e.line, e.column)),
        message: e.message,
    })
}

/// The transcript files under `paths`: files as given, directories searched for `*.txn`
/// (sorted, each directory once however many links lead to it).
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|e| FileError::new(path, e.to_string()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found, &mut seen)?;
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    seen: &mut BTreeSet<(u64, u64)>,
) -> Result<(), FileError> {
    let meta = fs::metadata(dir).map_err(|e| FileError::new(dir, e.to_string()))?;
    if !seen.insert((meta.dev(), meta.ino())) {
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| FileError::new(dir, e.to_string()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| FileError::new(dir, e.to_string()))?
            .path();
        // A dangling link is skipped, not fatal.
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, out, seen)?;
        } else if path.extension().is_some_and(|e| e == "txn") {
            out.push(path);
        }
    }
    Ok(())
}
