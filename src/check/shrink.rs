//! Shrinking a failing scenario to a minimal one that fails the same way.
//!
//! First the run is turned into its replay form: each client's script is what it actually
//! did (drawn client faults become plain `close`/`reset`/`shutdown` steps) and every fault
//! that fired is anchored to its operation, with drawn faults off. By the world's replay
//! guarantee this form fails exactly like the run. Then, greedily and until nothing more can
//! go, it drops whole clients, single faults, single steps, and halves payloads, keeping each
//! change only if the failure keeps its kind.

use std::collections::BTreeMap;

use crate::backend::sim::TraceKind;
use crate::fault::{FaultFamilies, FaultPlan};
use crate::scenario::Scenario;
use crate::transcript::{FaultLine, Header, Item, Step, Transcript};
use crate::world::{Entry, Failure, Run, Script, Verdict};

/// Most candidate runs one shrink may try. Each is one simulation of a small scenario; a
/// thousand keep shrinking under a second or two for typical failures.
const SHRINK_BUDGET: usize = 1_000;

/// The replay form of a run: actions as they happened, faults anchored where they fired.
fn replay_form(scenario: &Scenario, run: &Run) -> Scenario {
    let mut scripts: Vec<Script> = scenario
        .scripts
        .iter()
        .map(|s| Script::new(s.name.clone()))
        .collect();
    let mut anchored = Vec::new();
    for event in &run.trace {
        match &event.kind {
            TraceKind::Client { client, step } if !step.is_expectation() => {
                scripts[*client].entries.push(Entry::Step(step.clone()));
            }
            TraceKind::Fault { client, spec, at } => anchored.push((*client, *spec, *at)),
            _ => {}
        }
    }
    // Steps the run never reached (it stopped at the failure) still shape the schedule.
    for (c, left) in run.unreached.iter().enumerate() {
        scripts[c].entries.extend(left.iter().cloned());
    }
    let mut config = scenario.config.clone();
    config.plan = Some(FaultPlan::calm());
    config.faults = FaultFamilies::NONE;
    Scenario {
        scripts,
        anchored,
        global: scenario.global.clone(),
        config,
        ..scenario.clone()
    }
}

/// Shrinks `scenario` (whose run failed with a failure of `kind`) using `check` to run
/// candidates. Returns the smallest scenario found that still fails the same way.
pub fn minimize(
    scenario: &Scenario,
    run: &Run,
    kind: &str,
    check: impl Fn(&Scenario) -> (Run, Verdict),
) -> Scenario {
    let budget = std::cell::Cell::new(SHRINK_BUDGET);
    let fails = |candidate: &Scenario| -> bool {
        if budget.get() == 0 {
            return false;
        }
        budget.set(budget.get() - 1);
        let (_, verdict) = check(candidate);
        verdict.failure().is_some_and(|f| f.kind() == kind)
    };
    let replay = replay_form(scenario, run);
    let mut best = if fails(&replay) {
        replay
    } else {
        scenario.clone()
    };
    loop {
        let mut changed = false;
        // Whole clients, last first so indices of the others stay put.
        for c in (0..best.scripts.len()).rev() {
            if best.scripts.len() == 1 {
                break;
            }
            let candidate = without_client(&best, c);
            if fails(&candidate) {
                best = candidate;
                changed = true;
            }
        }
        // Single faults.
        let mut i = best.anchored.len();
        while i > 0 {
            i -= 1;
            let mut candidate = best.clone();
            candidate.anchored.remove(i);
            if fails(&candidate) {
                best = candidate;
                changed = true;
            }
        }
        // Single steps (never the connect).
        for c in 0..best.scripts.len() {
            let mut e = best.scripts[c].entries.len();
            while e > 1 {
                e -= 1;
                let mut candidate = best.clone();
                candidate.scripts[c].entries.remove(e);
                if fails(&candidate) {
                    best = candidate;
                    changed = true;
                }
            }
        }
        // Shorter payloads, then plainer ones.
        for c in 0..best.scripts.len() {
            for e in 0..best.scripts[c].entries.len() {
                for keep in [1, 2, 3] {
                    while let Entry::Step(Step::Send(bytes)) = &best.scripts[c].entries[e] {
                        // Keep a half, then three quarters, then all but a byte.
                        let len = bytes.len();
                        let target = match keep {
                            1 => len / 2,
                            2 => len * 3 / 4,
                            _ => len.saturating_sub(1),
                        };
                        if target == 0 || target >= len {
                            break;
                        }
                        let mut candidate = best.clone();
                        candidate.scripts[c].entries[e] =
                            Entry::Step(Step::Send(bytes[..target].to_vec()));
                        if fails(&candidate) {
                            best = candidate;
                            changed = true;
                        } else {
                            break;
                        }
                    }
                }
                if let Entry::Step(Step::Send(bytes)) = &best.scripts[c].entries[e] {
                    let plain = plain_bytes(bytes.len());
                    if *bytes != plain {
                        let mut candidate = best.clone();
                        candidate.scripts[c].entries[e] = Entry::Step(Step::Send(plain));
                        if fails(&candidate) {
                            best = candidate;
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed || budget.get() == 0 {
            return best;
        }
    }
}

/// Readable bytes of a given length: `0123456789` repeated (no `r`, see the oracle).
fn plain_bytes(len: usize) -> Vec<u8> {
    b"0123456789".iter().copied().cycle().take(len).collect()
}

fn without_client(scenario: &Scenario, c: usize) -> Scenario {
    let mut candidate = scenario.clone();
    candidate.scripts.remove(c);
    candidate.anchored = scenario
        .anchored
        .iter()
        .filter(|(client, _, _)| *client != Some(c))
        .map(|(client, spec, at)| (client.map(|i| if i > c { i - 1 } else { i }), *spec, *at))
        .collect();
    candidate
}

/// Writes a scenario as a transcript: its header, the failure as a comment, then every
/// client's steps in the order its run executed them (steps it never reached after), with
/// each fault on the line where it fired.
pub fn to_transcript(scenario: &Scenario, run: &Run, failure: Option<&Failure>) -> Transcript {
    let mut t = Transcript::default();
    if let Some(failure) = failure {
        t.push(Item::Comment(format!(" {failure}")));
    }
    t.push(Item::Header(Header::Service(scenario.service.clone())));
    t.push(Item::Header(Header::Semantics(
        scenario.config.sim.semantics,
    )));
    t.push(Item::Header(Header::Seed(scenario.config.seed)));
    let drawn = scenario.config.plan.is_none() && !scenario.config.faults.is_empty();
    if drawn {
        t.push(Item::Header(Header::Faults(scenario.config.faults)));
    }
    if scenario.scripts.len() > 1 {
        let names = scenario.scripts.iter().map(|s| s.name.clone()).collect();
        t.push(Item::Header(Header::Clients(names)));
    }
    for header in crate::scenario::limit_headers(&scenario.config) {
        t.push(Item::Header(header));
    }
    if scenario.oracle {
        t.push(Item::Header(Header::Oracle(true)));
    }
    t.push(Item::Blank);
    let names: Vec<String> = scenario.scripts.iter().map(|s| s.name.clone()).collect();
    let mut cursor: Vec<usize> = vec![0; scenario.scripts.len()];
    let mut faults_left: BTreeMap<usize, bool> =
        (0..scenario.anchored.len()).map(|i| (i, true)).collect();
    let fault_line = |i: usize| {
        let (client, spec, at) = scenario.anchored[i];
        Item::Fault(FaultLine {
            client: client.map(|c| names[c].clone()),
            spec,
            at: Some(at),
        })
    };
    for event in &run.trace {
        match &event.kind {
            TraceKind::Client { client, step } if !step.is_expectation() => {
                let script = &scenario.scripts[*client];
                // Emit script entries up to and including this action.
                while let Some(entry) = script.entries.get(cursor[*client]) {
                    cursor[*client] += 1;
                    match entry {
                        Entry::Step(s) => {
                            t.push(Item::Step {
                                client: names[*client].clone(),
                                step: s.clone(),
                            });
                            break;
                        }
                        Entry::Fault(spec) => t.push(Item::Fault(FaultLine {
                            client: Some(names[*client].clone()),
                            spec: *spec,
                            at: None,
                        })),
                    }
                }
            }
            TraceKind::Fault { client, spec, at } if !drawn => {
                let found = scenario.anchored.iter().enumerate().find(|(i, a)| {
                    faults_left.get(i) == Some(&true) && **a == (*client, *spec, *at)
                });
                if let Some((i, _)) = found {
                    faults_left.insert(i, false);
                    t.push(fault_line(i));
                }
            }
            _ => {}
        }
    }
    for (c, script) in scenario.scripts.iter().enumerate() {
        for entry in &script.entries[cursor[c].min(script.entries.len())..] {
            t.push(match entry {
                Entry::Step(s) => Item::Step {
                    client: names[c].clone(),
                    step: s.clone(),
                },
                Entry::Fault(spec) => Item::Fault(FaultLine {
                    client: Some(names[c].clone()),
                    spec: *spec,
                    at: None,
                }),
            });
        }
    }
    for (i, left) in faults_left {
        if left {
            t.push(fault_line(i));
        }
    }
    t
}
