//! Targets: where a scenario is played. The simulator, a server over real sockets and a
//! server process with faults injected inside it each take a [`Scenario`] under its seed and
//! give back what happened as a [`Played`]: a [`Verdict`] in the one vocabulary of failures,
//! the clients' timelines, the faults that fired and the target's notes. The campaign's
//! shrinker ([`shrink_on`]) and its bucketing ([`Played::signature`]) see only this, so one
//! of each serves every target.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Duration;

use super::bucket::signature;
use super::shrink::greedy;
use crate::live::{self, LiveOptions};
use crate::scenario::Scenario;
use crate::scenario::entry_item;
use crate::timeline::{ClientReport, owed};
use crate::transcript::{Expect, FaultLine, Header, Item, Transcript};
use crate::world::{Failure, TraceKind, Verdict};

/// Somewhere a scenario can be played and judged.
pub trait Target {
    /// Plays `scenario` under its seed (`scenario.config.seed`) and judges the run. `Err`
    /// when the target cannot play at all (its server will not start): that is no verdict on
    /// the server under test.
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String>;
}

/// What a target saw of one play.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Played {
    verdict: Verdict,
    clients: Vec<ClientReport>,
    faults: Vec<FaultLine>,
    notes: Vec<String>,
}

impl Played {
    /// A play that ended in `verdict`, with nothing else to tell.
    pub fn new(verdict: Verdict) -> Self {
        Played {
            verdict,
            clients: Vec::new(),
            faults: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// With the clients' timelines.
    pub fn with_clients(mut self, clients: Vec<ClientReport>) -> Self {
        self.clients = clients;
        self
    }

    /// With the faults that fired, as transcript lines.
    pub fn with_faults(mut self, faults: Vec<FaultLine>) -> Self {
        self.faults = faults;
        self
    }

    /// With the target's notes (what it did otherwise than written, what the server printed).
    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes = notes;
        self
    }

    /// How the play ended.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Its failure, if it failed.
    pub fn failure(&self) -> Option<&Failure> {
        self.verdict.failure()
    }

    /// The bucket its failure belongs in, if it failed: the same signature whichever target
    /// saw it.
    pub fn signature(&self) -> Option<String> {
        self.failure().map(signature)
    }

    /// What each client did and saw.
    pub fn clients(&self) -> &[ClientReport] {
        &self.clients
    }

    /// The faults that fired.
    pub fn faults(&self) -> &[FaultLine] {
        &self.faults
    }

    /// The target's notes.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

/// The simulator: the scenario's world, run and judged by the service's checks and oracle.
#[derive(Clone, Copy, Debug, Default)]
pub struct Simulator;

impl Target for Simulator {
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
        let run = scenario.run();
        let verdict = scenario.judge(&run);
        let names: Vec<&str> = scenario
            .play
            .clients
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let faults = run
            .trace()
            .iter()
            .filter_map(|event| match &event.kind {
                TraceKind::Fault { client, spec, at } => Some(FaultLine::new(
                    client
                        .and_then(|c| names.get(c.index()))
                        .map(|n| n.to_string()),
                    *spec,
                    Some(*at),
                )),
                _ => None,
            })
            .collect();
        Ok(Played::new(verdict)
            .with_clients(run.clients().to_vec())
            .with_faults(faults))
    }
}

/// A server listening at an address, reached over real sockets: the scenario's clients play
/// their scripts concurrently (one poll loop, `after` steps keeping the order between them),
/// then wait for what the oracle says they are owed. A client that fails its script fails
/// the play in the words of [`FailureKind`](crate::FailureKind) (`mismatch`, `timeout`,
/// `connect`, `unexpected-reset`); with `oracle on`, the service's oracle judges what every
/// client received. Server-side fault lines are the server's business and are passed over.
#[derive(Clone, Debug)]
pub struct Sockets {
    addr: SocketAddr,
    options: LiveOptions,
}

impl Sockets {
    /// The server at `addr`, with a wait of 2 s for each expected reply.
    pub fn new(addr: SocketAddr) -> Self {
        Sockets {
            addr,
            options: LiveOptions::default(),
        }
    }

    /// How long an expectation waits for its bytes (and the clients wait, at the end, for
    /// what they are owed); also the longest a `wait` step really waits.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self.options.max_wait = timeout;
        self.options.connect_timeout = timeout;
        self
    }
}

impl Target for Sockets {
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
        let (service, options, oracle) = (&scenario.service, &scenario.options, scenario.oracle);
        let run = live::run_play_then(
            &scenario.play,
            self.addr,
            &self.options,
            &mut |clients| !oracle || service.judge_all(options, &owed(clients)).is_ok(),
            &mut || {},
        );
        let failure = match &run.failure {
            Some(f) => Some(Failure::observed(
                f.kind,
                Some(&f.client),
                format!("client {}: {}", f.client, f.message),
            )),
            None if oracle => service
                .judge_all(options, &owed(&run.clients))
                .err()
                .map(|(client, detail)| Failure::Oracle { client, detail }),
            None => None,
        };
        let verdict = failure.map_or(Verdict::Pass, Verdict::Fail);
        Ok(Played::new(verdict)
            .with_clients(run.clients)
            .with_notes(run.notes))
    }
}

/// Shrinks a failing `scenario` on `target`: fewer clients, faults, steps and shorter
/// payloads (the campaign's one shrinker), keeping each change only while the play still
/// fails with signature `wanted`, within `budget` plays. Returns the smallest scenario and
/// its play (`None` when no smaller one failed the same way). `Err` when the target could
/// no longer play.
pub fn shrink_on(
    target: &mut dyn Target,
    scenario: Scenario,
    wanted: &str,
    budget: usize,
) -> Result<(Scenario, Option<Played>), String> {
    let target = RefCell::new(target);
    let left = Cell::new(budget);
    let error: RefCell<Option<String>> = RefCell::new(None);
    let last: RefCell<Option<Played>> = RefCell::new(None);
    let fails = |candidate: &Scenario| -> bool {
        if left.get() == 0 || error.borrow().is_some() || candidate.play.validate().is_err() {
            return false;
        }
        left.set(left.get() - 1);
        let played = target.borrow_mut().play(candidate);
        match played {
            Ok(p) if p.signature().as_deref() == Some(wanted) => {
                // The greedy shrinker keeps every candidate that fails: the last is the best.
                *last.borrow_mut() = Some(p);
                true
            }
            Ok(_) => false,
            Err(e) => {
                *error.borrow_mut() = Some(e);
                false
            }
        }
    };
    let small = greedy(scenario, &fails, &|| {
        left.get() == 0 || error.borrow().is_some()
    });
    if let Some(e) = error.into_inner() {
        return Err(e);
    }
    Ok((small, last.into_inner()))
}

/// The transcript of a failing play on a real target: the failure as a comment, the
/// scenario's header (no semantics: a real server has its own), the faults that fired, the
/// clients' scripts.
pub(crate) fn played_transcript(
    scenario: &Scenario,
    seed: u64,
    message: &str,
    faults: &[FaultLine],
) -> Transcript {
    let mut t = Transcript::default();
    for line in message.lines().take(3) {
        t.push(Item::Comment(format!(" {line}")));
    }
    for header in scenario.headers() {
        match header {
            Header::Semantics(_) => {}
            Header::Seed(_) => t.push(Item::Header(Header::Seed(seed))),
            other => t.push(Item::Header(other)),
        }
    }
    if scenario.expect != Expect::Pass {
        t.push(Item::Header(Header::Expect(scenario.expect)));
    }
    t.push(Item::Blank);
    for fault in faults {
        t.push(Item::Fault(fault.clone()));
    }
    if !faults.is_empty() {
        t.push(Item::Blank);
    }
    for script in &scenario.play.clients {
        for entry in &script.entries {
            t.push(entry_item(&script.name, entry));
        }
    }
    t
}
