//! Helpers for a service's own `cargo test`.
//!
//! ```no_run
//! use muxsim::{Protocol, ServiceDescriptor};
//! use muxsim::core::echo::Echo;
//!
//! #[test]
//! fn fixtures() {
//!     let service = ServiceDescriptor::new("echo", |_| Echo::default())
//!         .protocol(Protocol::chunks().greeting(b"hello".to_vec()));
//!     // Every fixtures/*.txn replayed; each one that fails is reported with its own diff.
//!     muxsim::testing::assert_fixtures("fixtures", &service);
//! }
//! ```
//!
//! Snapshots of runs go through insta with [`crate::assert_run_snapshot!`], which pins the
//! whole recorded transcript of a run (every client event and fault) and its verdict.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::scenario::{Outcome, Replay, Scenario, replay};
use crate::service::ServiceDescriptor;
use crate::text::side_by_side;
use crate::transcript::{FileError, Transcript, find, load};
use crate::world::{Failure, Verdict};

/// The kinds a step over TCP fails with: the one vocabulary, [`crate::FailureKind`].
#[allow(deprecated)]
pub use crate::tcp::TcpFailureKind;
pub use crate::tcp::{
    LineEnding, RealBackend, ServerError, ServerHandle, TcpFailure, TcpOutcome, TcpReplay,
    TcpReplayOptions, WakeFn, client, replay_tcp, replay_tcp_watched, serve, serve_on,
};

/// The replay of one fixture file.
#[derive(Debug)]
#[non_exhaustive]
pub struct FixtureResult {
    /// The file.
    pub(crate) path: PathBuf,
    /// Its replay, or why it could not be read.
    pub(crate) result: Result<Replay, String>,
}

impl FixtureResult {
    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Its replay, or why it could not be read.
    pub fn result(&self) -> &Result<Replay, String> {
        &self.result
    }
}

impl FixtureResult {
    /// Whether the fixture ended as it expects.
    pub fn is_ok(&self) -> bool {
        self.result.as_ref().is_ok_and(Replay::is_ok)
    }

    /// What went wrong, with a diff for a mismatch, or `None` when it passed.
    pub fn problem(&self) -> Option<String> {
        match &self.result {
            Err(message) => Some(message.clone()),
            Ok(replay) if replay.is_ok() => None,
            Ok(replay) => Some(describe(replay)),
        }
    }
}

/// A failed replay, for people: the verdict, a side-by-side diff for a byte mismatch, the
/// seed.
pub fn describe(replay: &Replay) -> String {
    let mut out = String::new();
    match (&replay.outcome, &replay.verdict) {
        (
            Outcome::Failed,
            Verdict::Fail(Failure::Mismatch {
                client,
                expected,
                got,
            }),
        ) => {
            let _ = write!(
                out,
                "client {client} received other bytes than expected\n{}",
                side_by_side(expected, got)
            );
        }
        _ => {
            let _ = write!(out, "{replay}");
        }
    }
    let _ = write!(out, "\n    (seed {})", replay.run.seed);
    out
}

/// Replays every transcript under `dir` (or the file `dir` names) against `service`, in
/// sorted order; one result per file.
pub fn check_fixtures(dir: impl AsRef<Path>, service: &ServiceDescriptor) -> Vec<FixtureResult> {
    let dir = dir.as_ref();
    let files = match find(&[dir.to_path_buf()]) {
        Ok(files) => files,
        Err(e) => {
            return vec![FixtureResult {
                path: dir.to_path_buf(),
                result: Err(e.to_string()),
            }];
        }
    };
    files
        .into_iter()
        .map(|path| {
            let result = load(&path)
                .map_err(|e: FileError| e.to_string())
                .and_then(|t| replay(&t, service).map_err(|e| format!("{}:{e}", path.display())));
            FixtureResult { path, result }
        })
        .collect()
}

/// Replays every transcript under `dir` against `service` and panics, listing each one that
/// did not end as it expects (each with its own diff), if any did not — or if there were
/// none at all.
#[track_caller]
pub fn assert_fixtures(dir: impl AsRef<Path>, service: &ServiceDescriptor) {
    let dir = dir.as_ref();
    let results = check_fixtures(dir, service);
    if results.is_empty() {
        panic!("no transcripts (*.txn) under {}", dir.display());
    }
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.problem()
                .map(|p| format!("FAIL {}: {p}", r.path.display()))
        })
        .collect();
    if !failed.is_empty() {
        panic!(
            "{} of {} fixtures under {} failed:\n\n{}",
            failed.len(),
            results.len(),
            dir.display(),
            failed.join("\n\n")
        );
    }
}

/// What a snapshot of `scenario`'s run pins: the recorded transcript (header, every client
/// event and fault, in order) and the verdict.
pub fn snapshot_text(scenario: &Scenario) -> String {
    let run = scenario.run();
    let verdict = scenario.judge(&run);
    format!("{}# verdict: {verdict}\n", scenario.recorded(&run, false))
}

/// [`snapshot_text`] of the transcript's scenario, for `service`.
pub fn snapshot_of(transcript: &Transcript, service: &ServiceDescriptor) -> String {
    match Scenario::from_transcript_with(transcript, service) {
        Ok(scenario) => snapshot_text(&scenario),
        Err(e) => format!("# cannot run: {e}\n"),
    }
}

/// Pins a scenario's run with insta: `assert_run_snapshot!("name", scenario)`. The snapshot
/// is the recorded transcript and the verdict ([`snapshot_text`]); insta keeps it beside the
/// calling test, as its other macros do.
#[macro_export]
macro_rules! assert_run_snapshot {
    ($name:expr, $scenario:expr) => {{
        let run = $crate::testing::snapshot_text(&$scenario);
        $crate::__private::insta::assert_snapshot!($name, run)
    }};
}
