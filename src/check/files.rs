//! Transcript files played on a target and judged: what `muxsim replay` decides for each file.
//!
//! One file, one target (the simulator, muxsim's own server on a real backend, or any server
//! at an address), one [`FileResult`]: passed, failed, inconclusive (the failure it expects
//! depends on faults the target cannot be made to show) or an error (it could not be read or
//! named no service to run). The command line only parses, calls [`play_file`] per file and
//! prints.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::scenario::{self, Outcome, Scenario, ScenarioErrorKind, fails_as_expected};
use crate::service::{Registry, ServiceDescriptor};
use crate::tcp::{self, RealBackend, TcpOutcome, TcpReplay, TcpReplayOptions};
use crate::text::side_by_side;
use crate::transcript::{self, FaultLine, Item, Transcript};
use crate::view::Timeline;
use crate::world::{Failure, Verdict};

/// Where a file is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileTarget {
    /// The simulator, under the transcript's seed and semantics.
    Simulator,
    /// muxsim's own server for the file's service, on a real backend, in this process: the
    /// file's server-side faults fire inside it.
    Backend(RealBackend),
    /// Any server listening at an address: file order over real sockets.
    Address(SocketAddr),
}

/// How files are played.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileOptions<'a> {
    /// The service to run, over the file's own `service` line (which it may supply but not
    /// contradict, unless `any_service`).
    pub(crate) service: Option<&'a ServiceDescriptor>,
    /// Run files written for another service against `service`, saying so.
    pub(crate) any_service: bool,
    /// A fault line that never fired fails a file that otherwise passed.
    pub(crate) strict: bool,
    /// Real-socket replay: the time bound and write splitting.
    pub(crate) tcp: TcpReplayOptions,
    /// Keep the run's timeline (for a page, a trace or a diagram).
    pub(crate) timeline: bool,
    /// Keep every server call in the simulator's trace (for a chrome trace or a page).
    pub(crate) detail: bool,
    /// Keep the run, rendered as a transcript: `Some(true)` with every fault and server call.
    pub(crate) recorded: Option<bool>,
}

/// How a file ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FileOutcome {
    /// As the file expects.
    Pass,
    /// Not as the file expects.
    Fail,
    /// The target cannot show what the file expects (faults only the server's kernel causes).
    Inconclusive,
    /// The file could not be read or run.
    Error,
}

/// One file's result.
#[derive(Serialize)]
pub(crate) struct FileResult {
    pub(crate) path: String,
    pub(crate) outcome: FileOutcome,
    pub(crate) message: Option<String>,
    pub(crate) note: Option<String>,
    pub(crate) warnings: Vec<String>,
    pub(crate) seed: Option<u64>,
    /// The failure the run ended in (expected or not).
    pub(crate) failure: Option<String>,
    /// Its signature: the bucket a campaign files it under.
    pub(crate) signature: Option<String>,
    /// The kind of check that failed the file, when it failed.
    #[serde(skip)]
    pub(crate) kind: &'static str,
    pub(crate) seconds: f64,
    #[serde(skip)]
    pub(crate) transcript: Option<String>,
    /// The run's timeline, when [`FileOptions::timeline`] asks for it.
    #[serde(skip)]
    pub(crate) timeline: Option<Timeline>,
}

impl FileResult {
    pub(crate) fn new(path: &Path) -> Self {
        FileResult {
            path: path.display().to_string(),
            outcome: FileOutcome::Pass,
            message: None,
            note: None,
            warnings: Vec::new(),
            seed: None,
            failure: None,
            signature: None,
            kind: "mismatch",
            seconds: 0.0,
            transcript: None,
            timeline: None,
        }
    }

    pub(crate) fn pass(mut self) -> Self {
        self.outcome = FileOutcome::Pass;
        self
    }

    pub(crate) fn fail(mut self, message: String) -> Self {
        self.outcome = FileOutcome::Fail;
        self.message = Some(message);
        self
    }

    pub(crate) fn error(mut self, message: String) -> Self {
        self.outcome = FileOutcome::Error;
        self.message = Some(message);
        self
    }

    /// Keeps the failure the run ended in (expected or not) and its bucket, whichever
    /// target played it.
    fn ended_in(&mut self, verdict: &Verdict) {
        if let Verdict::Fail(f) = verdict {
            self.failure = Some(f.to_string());
            self.signature = Some(super::signature(f));
        }
    }

    fn never_fired(&mut self, never: &[(usize, FaultLine)]) {
        for (line, fault) in never {
            self.warnings.push(format!(
                "the fault on line {line} (`{}`) never fired",
                transcript::render_item(&Item::Fault(fault.clone()))
            ));
        }
    }

    fn unfired_fails(mut self, never: usize) -> Self {
        self.kind = "unfired-fault";
        self.fail(format!("{never} fault line(s) never fired (--strict)"))
    }
}

/// What a set of files came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Tally {
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) inconclusive: usize,
    pub(crate) errors: usize,
}

impl Tally {
    pub(crate) fn of(results: &[FileResult]) -> Self {
        let count = |o: FileOutcome| results.iter().filter(|r| r.outcome == o).count();
        Tally {
            passed: count(FileOutcome::Pass),
            failed: count(FileOutcome::Fail),
            inconclusive: count(FileOutcome::Inconclusive),
            errors: count(FileOutcome::Error),
        }
    }

    /// The exit code: 2 if a file could not be read, else 1 if one failed, else 3 if one was
    /// inconclusive, else 0.
    pub(crate) fn exit_code(&self) -> i32 {
        if self.errors > 0 {
            2
        } else if self.failed > 0 {
            1
        } else if self.inconclusive > 0 {
            3
        } else {
            0
        }
    }
}

/// A campaign's exit code (`fuzz`, `run`): 1 if it found a failure, else 130 if a signal
/// stopped it, else 0.
pub(crate) fn campaign_exit_code(clean: bool, stopped_by_signal: bool) -> i32 {
    if !clean {
        1
    } else if stopped_by_signal {
        130
    } else {
        0
    }
}

/// Reads a transcript file; `-` reads standard input.
pub(crate) fn read(path: &Path) -> Result<Transcript, transcript::FileError> {
    if path == Path::new("-") {
        transcript::load_from(Path::new("<stdin>"), io::stdin().lock())
    } else {
        transcript::load(path)
    }
}

/// Plays one file on `target` and judges it.
pub(crate) fn play_file(
    path: &Path,
    registry: &Registry,
    target: FileTarget,
    options: &FileOptions<'_>,
) -> FileResult {
    let mut result = FileResult::new(path);
    let t = match read(path) {
        Ok(t) => t,
        Err(e) => return result.error(e.to_string()),
    };
    let scenario = match scenario_of(&t, path, registry, target, options, &mut result) {
        Ok(scenario) => scenario,
        Err(message) => return result.error(message),
    };
    match (target, scenario) {
        (FileTarget::Simulator, Some(scenario)) => simulate(&t, scenario, options, result),
        (FileTarget::Address(addr), scenario) => {
            at_address(&t, addr, scenario.as_ref(), options, result)
        }
        (FileTarget::Backend(kind), Some(scenario)) => {
            in_process(&t, kind, &scenario, options, result)
        }
        (_, None) => result.error("no service to run".to_string()),
    }
}

/// The file's scenario (see [`fixture_scenario`]). Against an address a file may name no
/// service, or one muxsim does not know: the line only names what runs there, and the file's
/// expectations alone judge it.
fn scenario_of(
    t: &Transcript,
    path: &Path,
    registry: &Registry,
    target: FileTarget,
    options: &FileOptions<'_>,
    result: &mut FileResult,
) -> Result<Option<Scenario>, String> {
    let known = match (options.service, t.service()) {
        (Some(_), _) => true,
        (None, Some(name)) => registry.get(name).is_some(),
        (None, None) => false,
    };
    if !known && matches!(target, FileTarget::Address(_)) {
        return Ok(None);
    }
    let (scenario, warning) = fixture_scenario(
        t,
        path,
        registry,
        options.service,
        options.any_service,
        None,
    )?;
    result.warnings.extend(warning);
    Ok(Some(scenario))
}

/// The scenario of a transcript played on a service the command line names (`given`), or on
/// its own `service` line: `replay`, `fuzz --fixtures` and `run`. A file written for another service is an
/// error unless `any_service`, when it is played on `given` anyway and the warning says so.
/// A file that names no service and asks no oracle plays on `black_box`, if given: its
/// expectations alone judge the server.
pub(crate) fn fixture_scenario(
    t: &Transcript,
    path: &Path,
    registry: &Registry,
    given: Option<&ServiceDescriptor>,
    any_service: bool,
    black_box: Option<&ServiceDescriptor>,
) -> Result<(Scenario, Option<String>), String> {
    let mut warning = None;
    let scenario = match (given, t.service()) {
        (Some(service), Some(written)) if any_service && written != service.name() => {
            warning = Some(format!(
                "written for service `{written}`, run against `{}` (--any-service)",
                service.name()
            ));
            Scenario::from_transcript_as(t, service)
        }
        (Some(service), _) => Scenario::from_transcript_with(t, service),
        (None, Some(_)) => Scenario::from_transcript(t, registry),
        (None, None) => match black_box {
            Some(service) if !t.oracle() => Scenario::from_transcript_with(t, service),
            Some(_) => {
                return Err(format!(
                    "{}:1:1: `oracle on` needs a service: add a `service` line or --service (services: {})",
                    path.display(),
                    registry.names()
                ));
            }
            None => {
                return Err(format!(
                    "{}:1:1: no `service` line: add one, or name it with --service (services: {})",
                    path.display(),
                    registry.names()
                ));
            }
        },
    };
    let scenario = scenario.map_err(|e| match e.kind() {
        ScenarioErrorKind::OtherService => format!(
            "{}:{e} (--any-service runs it against --service anyway)",
            path.display()
        ),
        _ => format!("{}:{e}", path.display()),
    })?;
    Ok((scenario, warning))
}

/// The service of a fixture that names none, run against a server muxsim did not build: its
/// expectations alone judge the server.
pub(crate) fn black_box() -> ServiceDescriptor {
    ServiceDescriptor::new("black-box", |_| crate::core::sink::Sink::default())
        .about("a server judged by a fixture's expectations alone")
}

fn simulate(
    t: &Transcript,
    mut scenario: Scenario,
    options: &FileOptions<'_>,
    mut result: FileResult,
) -> FileResult {
    scenario.config.sim.detail = options.detail;
    let run = scenario.run();
    let verdict = scenario.judge(&run);
    if options.timeline {
        result.timeline = Some(Timeline::of_run(&run, verdict.failure()));
    }
    if let Some(everything) = options.recorded {
        result.transcript = Some(scenario.recorded(&run, everything).to_string());
    }
    result.seed = Some(run.seed());
    result.ended_in(&verdict);
    let never = scenario::unfired(t, &run);
    result.never_fired(&never);
    result.kind = verdict
        .failure()
        .map_or("unexpected-pass", |f| f.kind().name());
    match scenario.outcome(&run) {
        Outcome::AsExpected if options.strict && !never.is_empty() => {
            result.unfired_fails(never.len())
        }
        Outcome::AsExpected => {
            if let Verdict::Fail(f) = &verdict {
                result.note = Some(fails_as_expected(f));
            }
            result.pass()
        }
        outcome @ Outcome::UnexpectedPass { .. } => result.fail(outcome.to_string()),
        _ => {
            let message = verdict.failure().map(describe).unwrap_or_default();
            result.fail(format!("(seed {}) {message}", run.seed()))
        }
    }
}

fn at_address(
    t: &Transcript,
    addr: SocketAddr,
    scenario: Option<&Scenario>,
    options: &FileOptions<'_>,
    mut result: FileResult,
) -> FileResult {
    let judged = scenario.map(|s| (&s.service, &s.options));
    let replayed = tcp::replay_judged(t, addr, &options.tcp, judged);
    // A server that stopped accepting connections died during the replay.
    let crashed = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .err()
        .map(|e| format!("the server stopped accepting connections ({e})"));
    let (verdict, outcome) = replayed.judge(t, judged, crashed.as_deref());
    if options.timeline {
        result.timeline = Some(Timeline::of_clients(replayed.clients(), outcome.failure()));
    }
    over_tcp(result, &replayed, &verdict, outcome)
}

fn in_process(
    t: &Transcript,
    kind: RealBackend,
    scenario: &Scenario,
    options: &FileOptions<'_>,
    mut result: FileResult,
) -> FileResult {
    let played = match tcp::replay_in_process(
        kind,
        t,
        (&scenario.service, &scenario.options),
        &scenario.config,
        &options.tcp,
    ) {
        Ok(played) => played,
        Err(e) => return result.error(format!("cannot start a server: {e}")),
    };
    // Client-side lines are the clients' own doing: only the server's can miss.
    let never: Vec<_> = scenario::unfired_of(t, played.fired)
        .into_iter()
        .filter(|(_, f)| f.spec().kind().is_server_side())
        .collect();
    result.never_fired(&never);
    if options.strict && !never.is_empty() && played.outcome.is_pass() {
        return result.unfired_fails(never.len());
    }
    if options.timeline {
        result.timeline = Some(Timeline::of_clients(
            played.replay.clients(),
            played.outcome.failure(),
        ));
    }
    over_tcp(result, &played.replay, &played.verdict, played.outcome)
}

/// A real-socket replay's outcome as a file result.
fn over_tcp(
    mut result: FileResult,
    replayed: &TcpReplay,
    verdict: &Verdict,
    outcome: TcpOutcome,
) -> FileResult {
    for (line, spec) in replayed.skipped_faults() {
        result.warnings.push(format!(
            "skipped line {line}: `{spec}` happens inside the server and cannot be caused from outside"
        ));
    }
    result.warnings.extend(replayed.notes().iter().cloned());
    result.ended_in(verdict);
    match outcome {
        TcpOutcome::Pass { note } => {
            result.note = note;
            result.pass()
        }
        TcpOutcome::Inconclusive(why) => {
            result.outcome = FileOutcome::Inconclusive;
            result.message = Some(why);
            result
        }
        TcpOutcome::Fail(mut message) => {
            result.kind = verdict
                .failure()
                .map_or("unexpected-pass", |f| f.kind().name());
            if let Some(f) = replayed.failure() {
                if let (Some(e), Some(r)) = (f.expected(), f.received()) {
                    message.push('\n');
                    message.push_str(&side_by_side(e, r));
                }
            }
            result.fail(message)
        }
    }
}

/// A failure in words, a mismatch with the expected and received bytes side by side.
fn describe(failure: &Failure) -> String {
    match failure {
        Failure::Mismatch {
            client,
            expected,
            got,
        } => format!(
            "client {client} received other bytes than expected\n{}",
            side_by_side(expected, got)
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_puts_unreadable_before_failed_before_inconclusive() {
        let tally = |passed, failed, inconclusive, errors| Tally {
            passed,
            failed,
            inconclusive,
            errors,
        };
        assert_eq!(tally(3, 0, 0, 0).exit_code(), 0);
        assert_eq!(tally(3, 0, 1, 0).exit_code(), 3);
        assert_eq!(tally(3, 1, 1, 0).exit_code(), 1);
        assert_eq!(tally(3, 1, 1, 1).exit_code(), 2);
        assert_eq!(tally(0, 0, 0, 1).exit_code(), 2);
    }

    #[test]
    fn a_campaign_that_found_a_failure_exits_1_even_when_interrupted() {
        assert_eq!(campaign_exit_code(true, false), 0);
        assert_eq!(campaign_exit_code(true, true), 130);
        assert_eq!(campaign_exit_code(false, true), 1);
        assert_eq!(campaign_exit_code(false, false), 1);
    }

    #[test]
    fn a_file_that_names_no_service_is_an_error_on_the_simulator_but_not_at_an_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.txn");
        std::fs::write(&path, "a connect\na send \"x\"\n").unwrap();
        let registry = Registry::builtin();
        let options = FileOptions::default();
        let sim = play_file(&path, &registry, FileTarget::Simulator, &options);
        assert_eq!(sim.outcome, FileOutcome::Error);
        assert!(sim.message.unwrap().contains("no `service` line"));
        // Nothing listens on the address: the replay fails, it is not an error of the file.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let options = FileOptions {
            tcp: TcpReplayOptions {
                timeout: Duration::from_millis(500),
                ..TcpReplayOptions::default()
            },
            ..FileOptions::default()
        };
        let far = play_file(&path, &registry, FileTarget::Address(addr), &options);
        assert_ne!(far.outcome, FileOutcome::Error, "{:?}", far.message);
    }
    fn scenario_of_text(
        text: &str,
        given: Option<&str>,
        any_service: bool,
        black_box: bool,
    ) -> Result<(Scenario, Option<String>), String> {
        let registry = Registry::builtin();
        let t = transcript::parse(text).unwrap();
        let given = given.map(|name| registry.get(name).unwrap());
        let sink =
            crate::service::ServiceDescriptor::new("black-box", |_| crate::core::Sink::default());
        let black_box = black_box.then_some(&sink);
        fixture_scenario(
            &t,
            Path::new("f.txn"),
            &registry,
            given,
            any_service,
            black_box,
        )
    }

    #[test]
    fn a_fixture_for_another_service_runs_there_only_when_asked_and_says_so() {
        let text = "service echo\n\na connect\na send \"x\"\na recv \"x\"\n";
        let refused = scenario_of_text(text, Some("ack"), false, false)
            .err()
            .unwrap();
        assert!(refused.contains("--any-service"), "{refused}");
        let (scenario, warning) = scenario_of_text(text, Some("ack"), true, false).unwrap();
        assert_eq!(scenario.service.name(), "ack");
        assert_eq!(
            warning.as_deref(),
            Some("written for service `echo`, run against `ack` (--any-service)")
        );
        let (same, none) = scenario_of_text(text, Some("echo"), true, false).unwrap();
        assert_eq!((same.service.name(), none), ("echo", None));
    }

    #[test]
    fn a_fixture_naming_no_service_plays_on_the_black_box_unless_it_asks_an_oracle() {
        let text = "a connect\na send \"x\"\n";
        let (scenario, _) = scenario_of_text(text, None, false, true).unwrap();
        assert_eq!(scenario.service.name(), "black-box");
        let unnamed = scenario_of_text(text, None, false, false).err().unwrap();
        assert!(
            unnamed.starts_with("f.txn:1:1: no `service` line"),
            "{unnamed}"
        );
        let judged = scenario_of_text(&format!("oracle on\n{text}"), None, false, true)
            .err()
            .unwrap();
        assert!(judged.contains("`oracle on` needs a service"), "{judged}");
    }
}
