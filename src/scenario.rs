//! Scenarios: a transcript turned into a world, run, judged against what it expects, and a
//! run turned back into a transcript.
//!
//! [`Scenario::from_transcript`] finds the service in a [`Registry`] and reads the header:
//! semantics, seed, faults, and the `limit` lines, each a limit of the run (the driver's or
//! the simulated network's) or an option the service declares. It splits the other lines into
//! one script per client; faults with `at N` are anchored to that operation, faults without it
//! are armed when the client's script reaches them (or, for server-wide faults, from the
//! start). Every error names the line and column it comes from.
//!
//! [`Scenario::recorded`] writes a run as the transcript that replays it: the same header
//! (with `oracle on` when an oracle judged the run), every client event and every fault in the
//! order it happened. Replaying it under its seed gives the same run and the same verdict.
//!
//! [`replay`] is the one call a test needs: a transcript and a service in, the outcome out.

use std::fmt;

use crate::fault::FaultFamilies;
use crate::script::{ClientId, Entry, Script, Step};
use crate::semantics::Semantics;
use crate::service::{Registry, ServiceDescriptor, ServiceOptions};
use crate::text::shorten;
use crate::transcript::{
    Expect, FaultLine, Header, HeaderKind, Item, Line, ParseError, Transcript,
};
use crate::world::{
    Failure, Limit, Play, Run, ScriptError, ScriptedFault, TraceKind, Verdict, WorldConfig, limits,
};

/// Why a transcript cannot be run: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ScenarioError {
    /// 1-based line (1 when the problem is the whole file).
    pub(crate) line: usize,
    /// 1-based column.
    pub(crate) column: usize,
    /// What kind of problem.
    pub(crate) kind: ScenarioErrorKind,
    /// What is wrong, for people.
    pub(crate) message: String,
}

impl ScenarioError {
    /// 1-based line (1 when the problem is the whole file).
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What kind of problem.
    pub fn kind(&self) -> ScenarioErrorKind {
        self.kind
    }

    /// What is wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The kinds of [`ScenarioError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScenarioErrorKind {
    /// The transcript does not parse.
    Syntax,
    /// No `service` line, and no service given.
    NoService,
    /// The service is not in the registry.
    UnknownService,
    /// The transcript names another service than the one given.
    OtherService,
    /// A `limit` line names no limit of the run or the service, or its value is out of range.
    Limit,
    /// A client's steps cannot run as written.
    Script,
    /// A fault names a client that takes no step.
    UnknownClient,
    /// The transcript has no client.
    NoClients,
}

impl ScenarioError {
    fn new(line: usize, column: usize, kind: ScenarioErrorKind, message: String) -> Self {
        ScenarioError {
            line,
            column,
            kind,
            message,
        }
    }
}

impl From<ParseError> for ScenarioError {
    fn from(e: ParseError) -> Self {
        ScenarioError::new(e.line, e.column, ScenarioErrorKind::Syntax, e.message)
    }
}

/// A runnable description of a simulation: a service with its options, the world's settings,
/// the clients' play, and what the run must end in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Scenario {
    /// The service under test.
    pub service: ServiceDescriptor,
    /// Its options.
    pub options: ServiceOptions,
    /// Seed, semantics, limits.
    pub config: WorldConfig,
    /// The clients and scripted faults.
    pub play: Play,
    /// What the run must end in.
    pub expect: Expect,
    /// Judge clients by the service's oracle too (`oracle on`).
    pub oracle: bool,
}

/// Whether a run ended the way its transcript expects.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Passed, or failed exactly as `expect` says.
    AsExpected,
    /// Expected a failure of some kind and passed.
    UnexpectedPass {
        /// What was expected.
        expected: Expect,
    },
    /// Failed, not as expected.
    Failed,
}

impl Outcome {
    /// Whether the run ended as expected.
    pub fn is_ok(&self) -> bool {
        *self == Outcome::AsExpected
    }
}

/// The one wording of each outcome, whichever target played the run: `as expected`,
/// ``expected the run to end in `panic` but it passed``, `failed`.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::AsExpected => f.write_str("as expected"),
            Outcome::UnexpectedPass { expected } => write!(
                f,
                "expected the run to end in `{}` but it passed",
                expected.name()
            ),
            Outcome::Failed => f.write_str("failed"),
        }
    }
}

/// The note of a run that failed as its transcript expects, whichever target played it.
pub(crate) fn fails_as_expected(failure: &dyn fmt::Display) -> String {
    format!("fails as expected: {failure}")
}

/// The `expect` value a transcript uses for a failure, where there is one.
pub fn expect_of(failure: &Failure) -> Option<Expect> {
    Expect::of(failure.kind())
}

/// Where each entry of each client's script came from, to place errors.
struct Origins {
    /// Per client, per entry: (line, column).
    entries: Vec<Vec<(usize, usize)>>,
    /// Per scripted fault: (line, column).
    faults: Vec<(usize, usize)>,
    /// Per client: where it first appears.
    clients: Vec<(usize, usize)>,
}

impl Scenario {
    /// A scenario of `service` with its default options and the simulator's defaults.
    pub fn new(service: &ServiceDescriptor, play: Play) -> Self {
        Scenario {
            options: service.defaults(),
            service: service.clone(),
            config: WorldConfig::default(),
            play,
            expect: Expect::Pass,
            oracle: false,
        }
    }

    /// Reads a transcript whose `service` line names a service of `registry`.
    pub fn from_transcript(t: &Transcript, registry: &Registry) -> Result<Self, ScenarioError> {
        let Some(name) = t.service() else {
            return Err(ScenarioError::new(
                1,
                1,
                ScenarioErrorKind::NoService,
                format!(
                    "no `service` line: add one such as `service echo` (services: {})",
                    registry.names()
                ),
            ));
        };
        let service = registry.lookup(name).map_err(|e| {
            let (line, column) = service_position(t);
            ScenarioError::new(
                line,
                column,
                ScenarioErrorKind::UnknownService,
                e.to_string(),
            )
        })?;
        Scenario::from_transcript_with(t, service)
    }

    /// Reads a transcript written for any service as a scenario of `service`, whatever its
    /// `service` line names: a variant of a service run against the other's fixtures. Its
    /// limits and options must still be ones `service` has.
    pub fn from_transcript_as(
        t: &Transcript,
        service: &ServiceDescriptor,
    ) -> Result<Self, ScenarioError> {
        Scenario::build(t, service, false)
    }

    /// Reads a transcript for `service`: its `service` line, if it has one, must name it.
    pub fn from_transcript_with(
        t: &Transcript,
        service: &ServiceDescriptor,
    ) -> Result<Self, ScenarioError> {
        Scenario::build(t, service, true)
    }

    fn build(
        t: &Transcript,
        service: &ServiceDescriptor,
        same_service: bool,
    ) -> Result<Self, ScenarioError> {
        if let Some(name) = t.service()
            && same_service
            && name != service.name()
        {
            let (line, column) = service_position(t);
            return Err(ScenarioError::new(
                line,
                column,
                ScenarioErrorKind::OtherService,
                format!(
                    "the transcript is for service `{name}`, not `{}`",
                    service.name()
                ),
            ));
        }
        let mut config = WorldConfig {
            seed: t.seed().unwrap_or(0),
            faults: t.faults().unwrap_or(FaultFamilies::NONE),
            strict: !t.oracle(),
            ..WorldConfig::default()
        };
        config.sim.semantics = t.semantics().unwrap_or(Semantics::EpollEt);
        let mut options = service.defaults();
        for (line, name, value) in t.limits() {
            let column = t.lines[line - 1].column(1);
            let error = |message: String| {
                ScenarioError::new(line, column, ScenarioErrorKind::Limit, message)
            };
            match Limit::find(name) {
                Some(limit) => limit.apply(&mut config, value).map_err(error)?,
                None => service.set_option(&mut options, name, value).map_err(|e| {
                    error(format!(
                        "unknown limit `{name}`: not a limit of the run ({}), and {e}",
                        Limit::names()
                    ))
                })?,
            }
        }
        let (play, origins) = split(t)?;
        validate(&play, &origins)?;
        Ok(Scenario {
            service: service.clone(),
            options,
            config,
            play,
            expect: t.expect(),
            oracle: t.oracle(),
        })
    }

    /// Builds the world and runs it.
    pub fn run(&self) -> Run {
        self.clone().into_run()
    }

    /// Runs, giving the scenario up: no copy of its scripts (payloads can be large, and a
    /// campaign runs each scenario once).
    pub fn into_run(mut self) -> Run {
        // A model oracle judges against what the server saw.
        self.config.journal |= self.oracle && self.service.needs_server();
        let service = self.service.build(&self.options);
        let (seed, semantics) = (self.config.seed, self.config.sim.semantics);
        match crate::world::run_watching_heap(self.config, service, self.play) {
            Ok(run) => run,
            Err(e) => Run::refused(seed, semantics, e.to_string()),
        }
    }

    /// The run's verdict, with the service's oracle applied when `oracle on`.
    pub fn judge(&self, run: &Run) -> Verdict {
        judge_run(&self.service, &self.options, self.oracle, run)
    }

    /// Judges a run against this scenario's `expect` line.
    pub fn outcome(&self, run: &Run) -> Outcome {
        outcome(&self.judge(run), self.expect)
    }

    /// The header lines that reproduce this scenario: service, semantics, seed, clients,
    /// limits and options that differ from their defaults, `oracle on`.
    pub fn headers(&self) -> Vec<Header> {
        let mut headers = vec![
            Header::Service(self.service.name().to_string()),
            Header::Semantics(self.config.sim.semantics),
            Header::Seed(self.config.seed),
        ];
        if self.play.clients.len() > 1 {
            headers.push(Header::Clients(
                self.play.clients.iter().map(|s| s.name.clone()).collect(),
            ));
        }
        for (name, value) in limits::changed(&self.config) {
            headers.push(Header::Limit(name.to_string(), value));
        }
        let defaults = self.service.defaults();
        for (name, value) in self.options.iter() {
            if defaults.iter().any(|(n, v)| n == name && v != value) {
                headers.push(Header::Limit(name.to_string(), value));
            }
        }
        if self.oracle {
            headers.push(Header::Oracle(true));
        }
        headers
    }

    /// Runs the scenario twice, tracing every server call, and compares the two runs event by
    /// event: where they first differ, if they do. A service that iterates a `HashMap`, reads
    /// the wall clock or draws from an unseeded RNG shows here.
    pub fn divergence(&self) -> Option<Divergence> {
        self.twice().0
    }

    /// [`Scenario::divergence`], with the second run's verdict.
    ///
    /// Cheap first: two runs with the clients' trace only, compared by hash; only when they
    /// differ are two more run with every server call traced, to say where.
    pub(crate) fn twice(&self) -> (Option<Divergence>, Verdict) {
        let mut s = self.clone();
        s.config.record = true;
        s.config.sim.detail = false;
        let first = s.run();
        let second = s.run();
        let verdict = s.judge(&second);
        // The same trace and the same reports judge the same: no need to judge twice.
        if first.trace == second.trace
            && first.clients == second.clients
            && first.verdict == second.verdict
        {
            return (None, verdict);
        }
        s.config.sim.detail = true;
        let a = s.recorded(&s.run(), true).to_string();
        let b = s.recorded(&s.run(), true).to_string();
        let divergence = Divergence::between(self.config.seed, &a, &b).or_else(|| {
            // The traced runs happened to agree: say where the quick ones differed.
            Divergence::between(
                self.config.seed,
                &s.recorded(&first, false).to_string(),
                &s.recorded(&second, false).to_string(),
            )
        });
        (divergence, verdict)
    }

    /// The run as the transcript that replays it: this scenario's header, then every client
    /// event and fault in the order it happened, with `@` lines where the clock moved. Server
    /// detail and log lines become comments when `with_detail` is set.
    pub fn recorded(&self, run: &Run, with_detail: bool) -> Transcript {
        let mut t = Transcript::default();
        for h in self.headers() {
            t.push(Item::Header(h));
        }
        t.push(Item::Blank);
        let name = |c: ClientId| run.clients[c.index()].name.clone();
        let mut last_at = crate::time::Instant::ZERO;
        for event in &run.trace {
            let item = match &event.kind {
                TraceKind::Client { client, step } => Item::Step {
                    client: name(*client),
                    step: step.clone(),
                },
                TraceKind::Fault { client, spec, at } => Item::Fault(FaultLine {
                    client: client.map(name),
                    spec: *spec,
                    at: Some(*at),
                }),
                TraceKind::Server(text) | TraceKind::Log(text) if with_detail => {
                    Item::Comment(format!(" {text}"))
                }
                _ => continue,
            };
            if event.at != last_at {
                last_at = event.at;
                t.push(Item::At(event.at.since_start()));
            }
            t.push(item);
        }
        if run.unreached.iter().any(|u| !u.is_empty()) {
            t.push(Item::Blank);
            t.push(Item::Comment(
                " not reached when the run ended:".to_string(),
            ));
            for (c, entries) in run.unreached.iter().enumerate() {
                let client = run.clients[c].name.clone();
                for entry in entries {
                    t.push(entry_item(&client, entry));
                }
            }
        }
        t
    }
}

/// A run's verdict, with `service`'s oracle applied to every client when `oracle`.
pub fn judge_run(
    service: &ServiceDescriptor,
    options: &ServiceOptions,
    oracle: bool,
    run: &Run,
) -> Verdict {
    if !oracle || !run.verdict.is_pass() {
        return run.verdict.clone();
    }
    match service.judge_run(options, &crate::service::RunView::of_run(run)) {
        Ok(()) => Verdict::Pass,
        Err((client, detail)) => Verdict::Fail(Failure::Oracle { client, detail }),
    }
}

/// Whether `verdict` is what `expect` asks for.
pub fn outcome(verdict: &Verdict, expect: Expect) -> Outcome {
    match (verdict, expect) {
        (Verdict::Pass, Expect::Pass) => Outcome::AsExpected,
        (Verdict::Pass, expected) => Outcome::UnexpectedPass { expected },
        (Verdict::Fail(f), expected) if expect_of(f) == Some(expected) => Outcome::AsExpected,
        (Verdict::Fail(_), _) => Outcome::Failed,
    }
}

/// A script entry as a transcript line of `client`.
pub fn entry_item(client: &str, entry: &Entry) -> Item {
    match entry {
        Entry::Step(step) => Item::Step {
            client: client.to_string(),
            step: step.clone(),
        },
        Entry::Fault(spec) => Item::Fault(FaultLine {
            client: Some(client.to_string()),
            spec: *spec,
            at: None,
        }),
    }
}

fn service_position(t: &Transcript) -> (usize, usize) {
    t.header_line(HeaderKind::Service)
        .map_or((1, 1), |(line, l)| (line, l.column(1)))
}

/// Splits a transcript's lines into one script per client and the scripted faults.
fn split(t: &Transcript) -> Result<(Play, Origins), ScenarioError> {
    let names = t.clients();
    let mut scripts: Vec<Script> = names.iter().map(Script::new).collect();
    let mut origins = Origins {
        entries: vec![Vec::new(); names.len()],
        faults: Vec::new(),
        clients: vec![(1, 1); names.len()],
    };
    let mut seen = vec![false; names.len()];
    let mut faults = Vec::new();
    let index_of = |name: &str| names.iter().position(|n| n == name);
    for (i, line) in t.lines.iter().enumerate() {
        let line_no = i + 1;
        match &line.item {
            Item::Step { client, step } => {
                let c = index_of(client).unwrap_or(0);
                if !seen[c] {
                    seen[c] = true;
                    origins.clients[c] = (line_no, line.column(0));
                }
                let step = match step {
                    // `a after b`: every step of `b` written above this line.
                    Step::After {
                        client: other,
                        steps: None,
                    } => Step::After {
                        client: other.clone(),
                        steps: Some(
                            index_of(other).map_or(0, |o| scripts[o].steps().count() as u64),
                        ),
                    },
                    step => step.clone(),
                };
                scripts[c].entries.push(Entry::Step(step));
                origins.entries[c].push((line_no, line.column(0)));
            }
            Item::Fault(fault) => {
                let position = (line_no, fault_column(line));
                match (&fault.client, fault.at) {
                    (Some(client), None) => {
                        let c = index_of(client).unwrap_or(0);
                        scripts[c].entries.push(Entry::Fault(fault.spec));
                        origins.entries[c].push(position);
                    }
                    (client, at) => {
                        let client = client
                            .as_deref()
                            .and_then(index_of)
                            .map(ClientId::from_index);
                        faults.push(ScriptedFault {
                            client,
                            spec: fault.spec,
                            at,
                        });
                        origins.faults.push(position);
                    }
                }
            }
            _ => {}
        }
    }
    // A name that only faults mention has no step: it is not a client.
    for script in &scripts {
        if script.steps().next().is_none() {
            let (line, column) = first_mention(t, &script.name).unwrap_or((1, 1));
            let listed = t
                .header_line(HeaderKind::Clients)
                .filter(|(_, l)| matches!(&l.item, Item::Header(Header::Clients(list)) if list.contains(&script.name)));
            let message = match listed {
                Some(_) => format!(
                    "client {} is listed but never connects: give it a `{} connect` line",
                    script.name, script.name
                ),
                None => format!(
                    "unknown client `{}`: no line of this transcript has it take a step",
                    script.name
                ),
            };
            return Err(ScenarioError::new(
                line,
                column,
                ScenarioErrorKind::UnknownClient,
                message,
            ));
        }
    }
    Ok((
        Play {
            clients: scripts,
            faults,
        },
        origins,
    ))
}

/// The column of a fault line's client (or its fault, when it names none).
fn fault_column(line: &Line) -> usize {
    line.column(1)
}

/// Where `name` first appears: a step, a fault, or the `clients` line.
fn first_mention(t: &Transcript, name: &str) -> Option<(usize, usize)> {
    t.lines.iter().enumerate().find_map(|(i, l)| match &l.item {
        Item::Fault(FaultLine {
            client: Some(c), ..
        }) if c == name => Some((i + 1, l.column(1))),
        Item::Header(Header::Clients(list)) => list
            .iter()
            .position(|c| c == name)
            .map(|p| (i + 1, l.column(p + 1))),
        _ => None,
    })
}

/// Checks the play with the world's one validator, and places its errors on their lines.
fn validate(play: &Play, origins: &Origins) -> Result<(), ScenarioError> {
    let Err(e) = play.validate() else {
        return Ok(());
    };
    let client_of = |name: &str| play.clients.iter().position(|s| s.name == name);
    let (line, column, kind) = match &e {
        ScriptError::NotConnectedFirst { client, entry, .. }
        | ScriptError::ConnectTwice { client, entry }
        | ScriptError::BadAfter { client, entry, .. } => {
            let c = client_of(client).unwrap_or(0);
            let at = origins.entries[c].get(*entry).copied().unwrap_or((1, 1));
            (at.0, at.1, ScenarioErrorKind::Script)
        }
        ScriptError::NeverConnects { client } => {
            let c = client_of(client).unwrap_or(0);
            let at = origins.clients[c];
            (at.0, at.1, ScenarioErrorKind::Script)
        }
        ScriptError::UnknownClient { fault, .. } | ScriptError::FaultTarget { fault, .. } => {
            let at = origins.faults.get(*fault).copied().unwrap_or((1, 1));
            (at.0, at.1, ScenarioErrorKind::Script)
        }
        ScriptError::NoClients => (1, 1, ScenarioErrorKind::NoClients),
    };
    let message = match e {
        ScriptError::NoClients => {
            "no client steps: a transcript needs at least one `NAME connect` line".to_string()
        }
        other => other.to_string(),
    };
    Err(ScenarioError::new(line, column, kind, message))
}

/// Where two runs of one scenario first differ, in transcript syntax: the recorded runs, with
/// every server call, poll and log line, compared line by line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    seed: u64,
    line: usize,
    client: Option<String>,
    before: Vec<String>,
    first: Option<String>,
    second: Option<String>,
}

/// Lines of context a [`Divergence`] keeps before the first difference.
const DIVERGENCE_CONTEXT: usize = 5;

impl Divergence {
    /// Compares two recordings of seed `seed`'s run; `None` when they are the same.
    pub(crate) fn between(seed: u64, first: &str, second: &str) -> Option<Divergence> {
        let a: Vec<&str> = first.lines().collect();
        let b: Vec<&str> = second.lines().collect();
        let i = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))?;
        let differing = a.get(i).or(b.get(i)).copied().unwrap_or_default();
        // A step line starts with its client's name; a comment (`# read a: ...`) names it second.
        let words: Vec<&str> = differing.split_whitespace().collect();
        let client = match words.as_slice() {
            ["#", _, who, ..] => Some(who.trim_end_matches(':').to_string()),
            [who, ..] if !who.starts_with(['#', '!', '@']) => Some(who.to_string()),
            _ => None,
        };
        Some(Divergence {
            seed,
            line: i + 1,
            client,
            before: a[i.saturating_sub(DIVERGENCE_CONTEXT)..i]
                .iter()
                .map(|l| shorten(l))
                .collect(),
            first: a.get(i).map(|l| shorten(l)),
            second: b.get(i).map(|l| shorten(l)),
        })
    }

    /// The seed whose runs differ.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The line of the recorded run (with detail) where they first differ, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The client (connection) that line is about, when it names one.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "two runs of seed {} differ at line {} of the recorded run",
            self.seed, self.line
        )?;
        if let Some(client) = &self.client {
            write!(f, " (client {client})")?;
        }
        f.write_str(":")?;
        for line in &self.before {
            write!(f, "\n      {line}")?;
        }
        let end = "(the run ended)".to_string();
        write!(
            f,
            "\n    first:  {}\n    second: {}",
            self.first.as_ref().unwrap_or(&end),
            self.second.as_ref().unwrap_or(&end)
        )
    }
}

/// The fault lines of `t` that never fired in `run` (a run of `t`'s scenario, recorded):
/// a regression fixture whose fault no longer fires passes vacuously.
pub fn unfired(t: &Transcript, run: &Run) -> Vec<(usize, FaultLine)> {
    let fired = run.trace.iter().filter_map(|e| match &e.kind {
        TraceKind::Fault { client, spec, at } => Some((
            client.map(|c| run.clients[c.index()].name.clone()),
            *spec,
            *at,
        )),
        _ => None,
    });
    unfired_of(t, fired)
}

/// The fault lines of `t` that no fault of `fired` (client name, fault, operation) matches,
/// by line number, whichever backend fired them.
pub(crate) fn unfired_of(
    t: &Transcript,
    fired: impl IntoIterator<Item = (Option<String>, crate::fault::FaultSpec, u64)>,
) -> Vec<(usize, FaultLine)> {
    let mut fired: Vec<_> = fired.into_iter().collect();
    let mut left = Vec::new();
    for (i, line) in t.lines.iter().enumerate() {
        let Item::Fault(fault) = &line.item else {
            continue;
        };
        let found = fired.iter().position(|(client, spec, at)| {
            *client == fault.client && *spec == fault.spec && fault.at.is_none_or(|n| n == *at)
        });
        match found {
            Some(i) => {
                fired.remove(i);
            }
            None => left.push((i + 1, fault.clone())),
        }
    }
    left
}

/// A transcript replayed in the simulator.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Replay {
    /// The scenario the transcript describes.
    pub(crate) scenario: Scenario,
    /// The run.
    pub(crate) run: Run,
    /// Its verdict, the oracle included when `oracle on`.
    pub(crate) verdict: Verdict,
    /// Whether that is what the transcript expects.
    pub(crate) outcome: Outcome,
}

impl Replay {
    /// The scenario the transcript describes.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The run.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// Its verdict, the oracle included when `oracle on`.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Whether that is what the transcript expects.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

impl Replay {
    /// Whether the run ended as the transcript expects.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.outcome, &self.verdict) {
            (Outcome::AsExpected, Verdict::Pass) => write!(f, "pass"),
            (Outcome::AsExpected, Verdict::Fail(failure)) => {
                write!(f, "pass ({})", fails_as_expected(failure))
            }
            (outcome @ Outcome::UnexpectedPass { .. }, _) => write!(f, "FAIL: {outcome}"),
            (Outcome::Failed, verdict) => write!(f, "{verdict}"),
        }
    }
}

/// Replays `transcript` against `service` in the simulator: the one call a test needs.
pub fn replay(
    transcript: &Transcript,
    service: &ServiceDescriptor,
) -> Result<Replay, ScenarioError> {
    let scenario = Scenario::from_transcript_with(transcript, service)?;
    let run = scenario.run();
    let verdict = scenario.judge(&run);
    let outcome = outcome(&verdict, scenario.expect);
    Ok(Replay {
        scenario,
        run,
        verdict,
        outcome,
    })
}

/// Replays transcript text against `service`: [`replay`] after parsing.
pub fn replay_text(text: &str, service: &ServiceDescriptor) -> Result<Replay, ScenarioError> {
    let transcript = crate::transcript::parse(text)?;
    replay(&transcript, service)
}
