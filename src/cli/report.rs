//! The one report, printed: `fuzz`, `run` and `replay` fill a [`ReportFile`] and print it here,
//! as text or as JSON, bucket by bucket in one shape.

use std::io::{self, Write};

use serde::Serialize;

use crate::check::SeedPlay;
use crate::check::bucket;
use crate::check::{BucketFile, ExampleFile, ReportFile, SCHEMA, kind_of};
use crate::check::{FileOutcome, FileResult, Tally};
use crate::inject::RunReport;
use crate::service::{Framing, ServiceDescriptor};
use crate::text::escape_markup;
use crate::text::human_duration;
use crate::transcript::{self, Transcript};
use crate::world::Failure;

/// A report's buckets as text: what failed, how often, its signature, its transcript and the
/// command that plays it again. `notes` adds lines of a command's own under a bucket.
pub(super) fn print_buckets(
    out: &mut dyn Write,
    file: &ReportFile,
    fail: &str,
    notes: &dyn Fn(&BucketFile) -> Vec<String>,
) -> io::Result<()> {
    let n = file.buckets.len();
    for (i, b) in file.buckets.iter().enumerate() {
        let e = &b.example;
        let mut lowest = format!("lowest {}", e.seed);
        if let Some(fixture) = &e.fixture {
            lowest = format!("{lowest} {fixture}");
        }
        if let Some(semantics) = &e.semantics {
            lowest = format!("{lowest} ({semantics})");
        }
        // A replay has shown each file's failure in full as it went: its first line names it.
        let message = if file.report == "replay" {
            e.message.lines().next().unwrap_or_default()
        } else {
            &e.message
        };
        // A message that starts with its kind is not prefixed twice.
        let message = if message.starts_with(&format!("{}:", b.kind)) {
            message.to_string()
        } else {
            format!("{}: {message}", b.kind)
        };
        let runs = if e.fixture.is_some() && file.report == "replay" {
            "file(s)"
        } else {
            "seed(s)"
        };
        writeln!(
            out,
            "{fail} {} of {n}: {} {runs}, {lowest}: {message}",
            i + 1,
            b.count
        )?;
        writeln!(out, "  signature: {}", b.signature)?;
        for note in notes(b) {
            writeln!(out, "  {note}")?;
        }
        if let Some(path) = &e.path {
            writeln!(out, "  transcript: {path}")?;
        }
        if let Some(again) = &b.reproduce {
            writeln!(out, "  reproduce: {again}")?;
        }
    }
    Ok(())
}

/// What the generator reached, and what it never tried, below a report of generated runs.
pub(super) fn print_reach(out: &mut dyn Write, file: &ReportFile) -> io::Result<()> {
    if let Some(reach) = &file.reach {
        writeln!(out, "{reach}")?;
        let gaps = reach.never_tried();
        if !gaps.is_empty() {
            writeln!(out, "never tried: {}", gaps.join("; "))?;
        }
    }
    Ok(())
}

/// A report with a command's own keys beside the shared ones, as JSON.
pub(super) fn json_with<T: Serialize>(file: &ReportFile, extra: &T) -> String {
    #[derive(Serialize)]
    struct With<'a, T> {
        #[serde(flatten)]
        file: &'a ReportFile,
        #[serde(flatten)]
        extra: &'a T,
    }
    super::json(&With { file, extra })
}

/// `run`'s report in the shared shape; `again` gives each example's reproduce line.
pub(super) fn of_run(
    report: &RunReport,
    paths: &[Option<String>],
    again: &dyn Fn(u64) -> String,
) -> ReportFile {
    ReportFile {
        schema: SCHEMA,
        report: "run".to_string(),
        target: format!("process `{}`", report.command),
        service: report.clients.clone(),
        shards: Vec::new(),
        seeds_run: report.seeds_run,
        failed_seeds: report.failed_seeds,
        interrupted: report.interrupted,
        buckets: report
            .buckets
            .iter()
            .zip(paths)
            .map(|(b, path)| BucketFile {
                signature: b.signature.clone(),
                kind: b.example.kind.name().to_string(),
                count: b.count,
                seeds: b.seeds.clone(),
                example: ExampleFile {
                    seed: b.example.seed,
                    fixture: b.example.fixture.as_ref().map(|p| p.display().to_string()),
                    kind: b.example.kind.name().to_string(),
                    semantics: None,
                    message: b.example.message.clone(),
                    transcript: Some(b.example.transcript.clone()).filter(|t| !t.is_empty()),
                    path: path.clone(),
                    output: b.example.output.clone(),
                },
                reproduce: Some(again(b.example.seed)),
            })
            .collect(),
        reach: None,
    }
}

/// One failing fixture of a replay.
pub(super) struct Failed<'a> {
    /// The fixture.
    pub(super) path: &'a str,
    /// The seed it ran under.
    pub(super) seed: u64,
    /// The failure's kind, where one check named it.
    pub(super) kind: &'a str,
    /// The failure's signature, where the simulator gave one.
    pub(super) signature: Option<&'a str>,
    /// What failed.
    pub(super) message: &'a str,
}

/// `replay`'s report in the shared shape: failing fixtures bucketed by signature, each
/// reproduced by replaying that file with `again`.
pub(super) fn of_replay(
    target: &str,
    service: &str,
    runs: u64,
    failed: &[Failed<'_>],
    again: &dyn Fn(&str) -> String,
) -> ReportFile {
    let mut buckets: Vec<BucketFile> = Vec::new();
    for f in failed {
        let first = f.message.lines().next().unwrap_or_default();
        let signature = f.signature.map_or_else(
            || bucket::normalize(&format!("{}: {first}", f.kind)),
            str::to_string,
        );
        match buckets.iter_mut().find(|b| b.signature == signature) {
            Some(b) => {
                b.count += 1;
                if !b.seeds.contains(&f.seed) {
                    b.seeds.push(f.seed);
                }
            }
            None => buckets.push(BucketFile {
                kind: kind_of(&signature).to_string(),
                signature,
                count: 1,
                seeds: vec![f.seed],
                example: ExampleFile {
                    seed: f.seed,
                    fixture: Some(f.path.to_string()),
                    kind: f.kind.to_string(),
                    semantics: None,
                    message: f.message.to_string(),
                    transcript: None,
                    path: Some(f.path.to_string()),
                    output: Vec::new(),
                },
                reproduce: Some(again(f.path)),
            }),
        }
    }
    ReportFile {
        schema: SCHEMA,
        report: "replay".to_string(),
        target: target.to_string(),
        service: service.to_string(),
        shards: Vec::new(),
        seeds_run: runs,
        failed_seeds: failed.len() as u64,
        interrupted: false,
        buckets,
        reach: None,
    }
}

/// The results as a JUnit XML test suite: one test case per transcript.
pub(super) fn junit(results: &[FileResult]) -> String {
    use std::fmt::Write as _;
    let count = |o: FileOutcome| results.iter().filter(|r| r.outcome == o).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let _ = writeln!(
        out,
        "<testsuite name=\"muxsim replay\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{total:.3}\">",
        results.len(),
        count(FileOutcome::Fail),
        count(FileOutcome::Error),
        count(FileOutcome::Inconclusive),
    );
    for r in results {
        let _ = write!(
            out,
            "  <testcase classname=\"muxsim.replay\" name=\"{}\" time=\"{:.3}\"",
            escape_markup(&r.path),
            r.seconds
        );
        let message = escape_markup(r.message.as_deref().unwrap_or_default());
        match r.outcome {
            FileOutcome::Pass => out.push_str("/>\n"),
            FileOutcome::Fail => {
                let _ = writeln!(
                    out,
                    ">\n    <failure message=\"{}\">{message}</failure>\n  </testcase>",
                    message.lines().next().unwrap_or_default()
                );
            }
            FileOutcome::Error => {
                let _ = writeln!(
                    out,
                    ">\n    <error message=\"{}\">{message}</error>\n  </testcase>",
                    message.lines().next().unwrap_or_default()
                );
            }
            FileOutcome::Inconclusive => {
                let _ = writeln!(
                    out,
                    ">\n    <skipped message=\"{message}\"/>\n  </testcase>"
                );
            }
        }
    }
    out.push_str("</testsuite>\n");
    out
}

/// `replay`'s text ending: the failing buckets, then the tally.
pub(super) fn print_replay_text(
    out: &mut dyn Write,
    file: &ReportFile,
    fail: &str,
    tally: Tally,
) -> io::Result<()> {
    print_buckets(out, file, fail, &|_| Vec::new())?;
    let mut summary = format!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.inconclusive > 0 {
        summary.push_str(&format!(", {} inconclusive", tally.inconclusive));
    }
    if tally.errors > 0 {
        summary.push_str(&format!(", {} could not be read", tally.errors));
    }
    writeln!(out, "{summary}")
}

/// `replay`'s JSON: the one report, with the tally and every file's result.
pub(super) fn print_replay_json(
    out: &mut dyn Write,
    file: &ReportFile,
    tally: Tally,
    results: &[FileResult],
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Files<'a> {
        #[serde(flatten)]
        tally: Tally,
        files: &'a [FileResult],
    }
    let extra = Files {
        tally,
        files: results,
    };
    writeln!(out, "{}", json_with(file, &extra))
}

/// `fuzz`'s text ending: the buckets, the campaign in one line, and its reach.
pub(super) fn print_fuzz_text(
    out: &mut dyn Write,
    file: &ReportFile,
    fail: &str,
    speed: String,
    stopped_by_signal: bool,
    reach: bool,
) -> io::Result<()> {
    print_buckets(out, file, fail, &|_| Vec::new())?;
    writeln!(
        out,
        "{} seeds ({}), {} failed, {} distinct failure(s), {speed}{}",
        file.seeds_run,
        file.service,
        file.failed_seeds,
        file.buckets.len(),
        if stopped_by_signal {
            "; interrupted"
        } else if file.interrupted {
            "; stopped at the failure limit"
        } else {
            ""
        }
    )?;
    if reach {
        print_reach(out, file)?;
    }
    Ok(())
}

/// `run`'s JSON: the one report, with what only a run has (the server's command, the
/// clients, the faults injected, restarts, memory, where each bucket's transcript went).
pub(super) fn print_run_json(
    out: &mut dyn Write,
    file: &ReportFile,
    report: &RunReport,
    transcripts: Vec<Option<String>>,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Run<'a> {
        command: &'a str,
        clients: &'a str,
        injected: &'a std::collections::BTreeMap<String, u64>,
        restarts: u64,
        rss_start: Option<u64>,
        rss_end: Option<u64>,
        transcripts: Vec<Option<String>>,
        reproduce: Vec<Option<String>>,
    }
    let extra = Run {
        command: &report.command,
        clients: &report.clients,
        injected: &report.injected,
        restarts: report.restarts,
        rss_start: report.rss_start,
        rss_end: report.rss_end,
        transcripts,
        reproduce: file.buckets.iter().map(|b| b.reproduce.clone()).collect(),
    };
    writeln!(out, "{}", json_with(file, &extra))
}

/// `run`'s text ending: the buckets, each with a note when faults only POSIX allows fired in
/// it, then the run's summary.
pub(super) fn print_run_text(
    out: &mut dyn Write,
    file: &ReportFile,
    report: &RunReport,
    fail: &str,
) -> io::Result<()> {
    print_buckets(out, file, fail, &|b| {
        let posix_only = posix_only_faults(b.example.transcript.as_deref().unwrap_or_default());
        if posix_only.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "faults only POSIX allows fired in this seed: {} (Linux itself does not do them; --faults linux leaves them out)",
            posix_only.join(", ")
        )]
    })?;
    writeln!(out, "{report}")
}

/// The kinds of fault in a repro that only POSIX allows (Linux does not make them), in order,
/// each once.
fn posix_only_faults(repro: &str) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    if let Ok(t) = transcript::parse(repro) {
        for line in &t.lines {
            if let transcript::Item::Fault(f) = &line.item {
                let kind = f.spec.kind();
                if !kind.linux_makes() && !kinds.contains(&kind.name()) {
                    kinds.push(kind.name());
                }
            }
        }
    }
    kinds
}

#[derive(Serialize)]
struct FailureJson {
    kind: &'static str,
    message: String,
    signature: String,
}

impl FailureJson {
    fn of(f: &Failure) -> Self {
        FailureJson {
            kind: f.kind().name(),
            message: f.to_string(),
            signature: bucket::signature(f),
        }
    }
}

/// `sim`'s JSON: the seed, its run in numbers, its verdict and its transcript.
pub(super) fn print_sim_json(
    out: &mut dyn Write,
    service: &ServiceDescriptor,
    played: &SeedPlay,
    transcript: &Transcript,
    deterministic: Option<bool>,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Sim {
        service: String,
        seed: u64,
        semantics: &'static str,
        faults_drawn: String,
        pass: bool,
        failure: Option<FailureJson>,
        steps: u64,
        events: u64,
        virtual_time_ns: u64,
        deterministic: Option<bool>,
        transcript: String,
    }
    let (run, verdict) = (&played.run, &played.verdict);
    let sim = Sim {
        service: service.name().to_string(),
        seed: run.seed,
        semantics: run.semantics.name(),
        faults_drawn: run.plan.active().to_string(),
        pass: verdict.is_pass(),
        failure: verdict.failure().map(FailureJson::of),
        steps: run.steps,
        events: run.net_stats.events,
        virtual_time_ns: run.end.as_nanos(),
        deterministic,
        transcript: transcript.to_string(),
    };
    writeln!(out, "{}", super::json(&sim))
}

/// `sim`'s text: the run as a transcript between comment lines that say what it was.
pub(super) fn print_sim_text(
    out: &mut dyn Write,
    played: &SeedPlay,
    transcript: &Transcript,
    deterministic: Option<bool>,
) -> io::Result<()> {
    let run = &played.run;
    writeln!(
        out,
        "# seed {} (faults drawn: {})",
        run.seed,
        run.plan.active()
    )?;
    write!(out, "{transcript}")?;
    writeln!(
        out,
        "# {} steps, {} events, {} of virtual time",
        run.steps,
        run.net_stats.events,
        human_duration(run.end.since_start())
    )?;
    match deterministic {
        Some(true) => writeln!(
            out,
            "# determinism: same trace twice ({:016x})",
            run.trace_hash()
        )?,
        Some(false) => writeln!(out, "# determinism: FAILED, the runs differ")?,
        None => {}
    }
    for line in format!("seed {}: {}", run.seed, played.verdict).lines() {
        writeln!(out, "# {line}")?;
    }
    Ok(())
}

/// `services NAME`: what muxsim knows of a service: framing, greeting, limits, deadlines,
/// oracle, options.
pub(super) fn describe_service(service: &ServiceDescriptor) -> String {
    use std::fmt::Write as _;
    let defaults = service.defaults();
    let protocol = service.protocol_for(&defaults);
    let mut text = String::new();
    let _ = writeln!(text, "{}: {}", service.name(), service.description());
    let framing = match protocol.framing() {
        Framing::Chunks => "none (chunks as read)".to_string(),
        Framing::Delimited(d) => format!("messages end with {}", crate::text::quote(d)),
        Framing::LengthPrefixed { width, big_endian } => format!(
            "{width}-byte {} length prefix",
            if *big_endian {
                "big-endian"
            } else {
                "little-endian"
            }
        ),
    };
    let _ = writeln!(text, "framing: {framing}");
    if !protocol.get_greeting().is_empty() {
        let _ = writeln!(
            text,
            "greeting: {}",
            crate::text::quote(protocol.get_greeting())
        );
    }
    if let Some((limit, _)) = protocol.get_max_message() {
        let _ = writeln!(text, "message limit: {limit} bytes");
    }
    for d in protocol.get_deadlines() {
        let _ = writeln!(
            text,
            "deadline: {:?}, {}",
            d.kind(),
            human_duration(d.after())
        );
    }
    let _ = writeln!(
        text,
        "oracle: {}",
        if service.has_oracle() { "yes" } else { "none" }
    );
    if !service.options().is_empty() {
        let _ = writeln!(text, "limits (--limit NAME=VALUE, `limit NAME VALUE`):");
        for o in service.options() {
            let _ = writeln!(text, "  {:<22} {} [default: {}]", o.name, o.help, o.default);
        }
    }
    text
}
