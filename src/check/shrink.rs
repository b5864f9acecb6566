//! Shrinking a failing scenario to a minimal one that fails the same way: with the same
//! signature (the check that fired and its normalized message), not merely the same kind.
//!
//! First the run is turned into its replay form: each client's script is what it actually
//! did (drawn client faults become plain `close`/`reset`/`shutdown` steps) and every fault
//! that fired is anchored to its operation, with drawn faults off. By the world's replay
//! guarantee this form fails exactly like the run. Then, greedily and until nothing more can
//! go, it drops whole clients, single faults, single steps (a `pause` with its `resume`, so no
//! client is left paused by the shrinker alone), and trims payloads from either end, keeping
//! each change only if the signature stays.

use std::collections::BTreeMap;

use super::bucket::signature;
use crate::fault::{FaultFamilies, FaultPlan};
use crate::scenario::Scenario;
use crate::script::{ClientId, Entry, Script, Step};
use crate::transcript::{FaultLine, Header, Item, Transcript};
use crate::world::{Failure, Run, ScriptedFault, TraceKind, Verdict};

/// Most candidate runs one shrink may try. Each is one simulation of a small scenario; a
/// thousand keep shrinking under a second or two for typical failures.
const SHRINK_BUDGET: usize = 1_000;

/// The replay form of a run: actions as they happened, faults anchored where they fired.
fn replay_form(scenario: &Scenario, run: &Run, ordered: bool) -> Scenario {
    let mut clients: Vec<Script> = scenario
        .play
        .clients
        .iter()
        .map(|s| Script::new(s.name.clone()))
        .collect();
    let mut faults = Vec::new();
    // The order between clients' actions, kept by `after` steps: client X's action that
    // follows client Y's waits for Y's actions so far. The shrinker then drops every `after`
    // the failure does not need; those it keeps make the repro fail whoever else is gone.
    let mut last: Option<usize> = None;
    for event in &run.trace {
        match &event.kind {
            // The run's own `after` lines counted steps this form leaves out: the chain below
            // keeps the order they made.
            TraceKind::Client {
                step: Step::After { .. },
                ..
            } => {}
            TraceKind::Client { client, step } if !step.is_expectation() => {
                let c = client.index();
                if let Some(other) = last.filter(|&o| ordered && o != c) {
                    let steps = clients[other].steps().count() as u64;
                    let name = clients[other].name.clone();
                    clients[c].entries.push(Entry::Step(Step::After {
                        client: name,
                        steps: Some(steps),
                    }));
                }
                last = Some(c);
                clients[c].entries.push(Entry::Step(step.clone()));
            }
            TraceKind::Fault { client, spec, at } => faults.push(ScriptedFault {
                client: *client,
                spec: *spec,
                at: Some(*at),
            }),
            _ => {}
        }
    }
    // Steps the run never reached (it stopped at the failure) still shape the schedule.
    for (c, left) in run.unreached.iter().enumerate() {
        clients[c].entries.extend(left.iter().cloned());
    }
    // Faults armed from the start keep their place.
    faults.extend(
        scenario
            .play
            .faults
            .iter()
            .filter(|f| f.at.is_none())
            .copied(),
    );
    let mut shrunk = scenario.clone();
    shrunk.config.plan = Some(FaultPlan::calm());
    shrunk.config.faults = FaultFamilies::NONE;
    shrunk.config.record = true;
    shrunk.play.clients = clients;
    shrunk.play.faults = faults;
    shrunk
}

/// Shrinks `scenario` (whose recorded run failed with `failure`) using `check` to run
/// candidates. Returns the smallest scenario found whose failure has the same signature.
pub(super) fn minimize(
    scenario: &Scenario,
    run: &Run,
    failure: &Failure,
    check: impl Fn(&Scenario) -> (Run, Verdict),
) -> Scenario {
    let wanted = signature(failure);
    let budget = std::cell::Cell::new(SHRINK_BUDGET);
    let fails = |candidate: &Scenario| -> bool {
        if budget.get() == 0 || candidate.play.validate().is_err() {
            return false;
        }
        budget.set(budget.get() - 1);
        let (_, verdict) = check(candidate);
        verdict.failure().is_some_and(|f| signature(f) == wanted)
    };
    // With the order between clients kept by `after` steps when that still fails the same
    // way (the waits change which client the scheduler may pick, so it may not), else as
    // it ran.
    let ordered = replay_form(scenario, run, true);
    let best = if fails(&ordered) {
        ordered
    } else {
        let replay = replay_form(scenario, run, false);
        if fails(&replay) {
            replay
        } else {
            scenario.clone()
        }
    };
    greedy(best, &fails, &|| budget.get() == 0)
}

/// Shrinks `best` greedily until nothing more can go: whole clients, single faults, single
/// steps (never the connect; a pause with its resume), then shorter and plainer payloads,
/// keeping each change for which `fails` holds. Stops early once `spent` says the budget is.
/// Every target's failures shrink through here.
pub(super) fn greedy(
    mut best: Scenario,
    fails: &dyn Fn(&Scenario) -> bool,
    spent: &dyn Fn() -> bool,
) -> Scenario {
    loop {
        let mut changed = false;
        // Whole clients, last first so indices of the others stay put.
        for c in (0..best.play.clients.len()).rev() {
            if best.play.clients.len() == 1 {
                break;
            }
            let candidate = without_client(&best, c);
            if fails(&candidate) {
                best = candidate;
                changed = true;
            }
        }
        // Single faults.
        let mut i = best.play.faults.len();
        while i > 0 {
            i -= 1;
            let mut candidate = best.clone();
            candidate.play.faults.remove(i);
            if fails(&candidate) {
                best = candidate;
                changed = true;
            }
        }
        // Single entries (never the connect), a pause together with its resume.
        for c in 0..best.play.clients.len() {
            let mut e = best.play.clients[c].entries.len();
            while e > 1 {
                e -= 1;
                if e >= best.play.clients[c].entries.len() {
                    continue;
                }
                let mut candidate = best.clone();
                if remove_entry_kept(&mut candidate, c, e) && fails(&candidate) {
                    best = candidate;
                    changed = true;
                }
            }
        }
        // Shorter payloads: from the end, then from the front; then plainer ones.
        for c in 0..best.play.clients.len() {
            for e in 0..best.play.clients[c].entries.len() {
                changed |= trim_payload(&mut best, c, e, fails);
            }
        }
        if !changed || spent() {
            return best;
        }
    }
}

/// Removes entry `e` of client `c` ([`remove_entry`]), and keeps every `after` that waits
/// for `c` pointing at the same steps: a step gone from `c` is one fewer to wait for.
fn remove_entry_kept(scenario: &mut Scenario, c: usize, e: usize) -> bool {
    let script = &scenario.play.clients[c];
    // The index, among the client's steps, of the first step that may go.
    let first_gone = script.entries[..e.min(script.entries.len())]
        .iter()
        .filter(|x| matches!(x, Entry::Step(_)))
        .count() as u64;
    let steps_before = script.steps().count();
    if !remove_entry(&mut scenario.play.clients[c], e) {
        return false;
    }
    let removed_steps = steps_before - scenario.play.clients[c].steps().count();
    if removed_steps == 0 {
        return true;
    }
    let name = scenario.play.clients[c].name.clone();
    for (i, script) in scenario.play.clients.iter_mut().enumerate() {
        if i == c {
            continue;
        }
        for entry in &mut script.entries {
            if let Entry::Step(Step::After {
                client,
                steps: Some(n),
            }) = entry
                && *client == name
                && *n > first_gone
            {
                *n = n.saturating_sub(removed_steps as u64).max(first_gone);
            }
        }
    }
    true
}

/// Removes entry `e` of `script`; a `pause` takes its next `resume` along and a `resume` its
/// previous `pause`. False when there is nothing to remove (the connect stays).
fn remove_entry(script: &mut Script, e: usize) -> bool {
    let Some(entry) = script.entries.get(e) else {
        return false;
    };
    match entry {
        Entry::Step(Step::Connect) => false,
        Entry::Step(Step::Pause) => {
            let resume = script.entries[e + 1..]
                .iter()
                .position(|x| *x == Entry::Step(Step::Resume))
                .map(|p| e + 1 + p);
            if let Some(r) = resume {
                script.entries.remove(r);
            }
            script.entries.remove(e);
            true
        }
        Entry::Step(Step::Resume) => {
            let pause = script.entries[..e]
                .iter()
                .rposition(|x| *x == Entry::Step(Step::Pause));
            script.entries.remove(e);
            if let Some(p) = pause {
                script.entries.remove(p);
            }
            true
        }
        _ => {
            script.entries.remove(e);
            true
        }
    }
}

/// Tries shorter and plainer versions of the payload at `(c, e)`; true when one was kept.
fn trim_payload(
    best: &mut Scenario,
    c: usize,
    e: usize,
    fails: &dyn Fn(&Scenario) -> bool,
) -> bool {
    let mut changed = false;
    let with = |best: &Scenario, bytes: Vec<u8>| {
        let mut candidate = best.clone();
        candidate.play.clients[c].entries[e] = Entry::Step(Step::Send(bytes));
        candidate
    };
    // Keep a half, three quarters, all but one byte: first the front, then the back.
    for from_front in [false, true] {
        for keep in [1, 2, 3] {
            loop {
                let Entry::Step(Step::Send(bytes)) = &best.play.clients[c].entries[e] else {
                    return changed;
                };
                let len = bytes.len();
                let target = match keep {
                    1 => len / 2,
                    2 => len * 3 / 4,
                    _ => len.saturating_sub(1),
                };
                if target == 0 || target >= len {
                    break;
                }
                let trimmed = if from_front {
                    bytes[len - target..].to_vec()
                } else {
                    bytes[..target].to_vec()
                };
                let candidate = with(best, trimmed);
                if fails(&candidate) {
                    *best = candidate;
                    changed = true;
                } else {
                    break;
                }
            }
        }
    }
    if let Entry::Step(Step::Send(bytes)) = &best.play.clients[c].entries[e] {
        let plain = plain_bytes(bytes);
        if *bytes != plain {
            let candidate = with(best, plain);
            if fails(&candidate) {
                *best = candidate;
                changed = true;
            }
        }
    }
    changed
}

/// Readable bytes of the same length: `0123456789` repeated (no `r`, so echo markers stay
/// unambiguous), keeping line and message structure (`\r`, `\n`) where it was.
fn plain_bytes(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| match b {
            b'\n' | b'\r' => *b,
            _ => b"0123456789"[i % 10],
        })
        .collect()
}

fn without_client(scenario: &Scenario, c: usize) -> Scenario {
    let mut candidate = scenario.clone();
    let gone = candidate.play.clients.remove(c);
    // Nobody waits for a client that is not there.
    for script in &mut candidate.play.clients {
        script.entries.retain(
            |e| !matches!(e, Entry::Step(Step::After { client, .. }) if *client == gone.name),
        );
    }
    candidate.play.faults = scenario
        .play
        .faults
        .iter()
        .filter(|f| f.client != Some(ClientId::from_index(c)))
        .map(|f| ScriptedFault {
            client: f.client.map(|i| {
                if i.index() > c {
                    ClientId::from_index(i.index() - 1)
                } else {
                    i
                }
            }),
            ..*f
        })
        .collect();
    candidate
}

/// Writes a scenario as a transcript: the failure as a comment, its header, then every
/// client's steps in the order its run executed them (steps it never reached after), with
/// each fault on the line where it fired.
pub(crate) fn to_transcript(
    scenario: &Scenario,
    run: &Run,
    failure: Option<&Failure>,
) -> Transcript {
    let mut t = Transcript::default();
    if let Some(failure) = failure {
        t.push(Item::Comment(format!(" {failure}")));
    }
    let drawn = scenario.config.plan.is_none() && !scenario.config.faults.is_empty();
    let mut headers = scenario.headers();
    if drawn {
        let after_seed = headers
            .iter()
            .position(|h| matches!(h, Header::Seed(_)))
            .map_or(headers.len(), |i| i + 1);
        headers.insert(after_seed, Header::Faults(scenario.config.faults));
    }
    for header in headers {
        t.push(Item::Header(header));
    }
    t.push(Item::Blank);
    let names: Vec<String> = scenario
        .play
        .clients
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let mut cursor: Vec<usize> = vec![0; names.len()];
    let mut faults_left: BTreeMap<usize, bool> =
        (0..scenario.play.faults.len()).map(|i| (i, true)).collect();
    let fault_line = |i: usize| {
        let f = scenario.play.faults[i];
        Item::Fault(FaultLine {
            client: f.client.map(|c| names[c.index()].clone()),
            spec: f.spec,
            at: f.at,
        })
    };
    for event in &run.trace {
        match &event.kind {
            TraceKind::Client { client, step } if !step.is_expectation() => {
                let c = client.index();
                let script = &scenario.play.clients[c];
                // Emit script entries up to and including this action.
                while let Some(entry) = script.entries.get(cursor[c]) {
                    cursor[c] += 1;
                    t.push(crate::scenario::entry_item(&names[c], entry));
                    if matches!(entry, Entry::Step(_)) {
                        break;
                    }
                }
            }
            TraceKind::Fault { client, spec, at } if !drawn => {
                let found = scenario.play.faults.iter().enumerate().find(|(i, f)| {
                    faults_left.get(i) == Some(&true)
                        && f.client == *client
                        && f.spec == *spec
                        && f.at == Some(*at)
                });
                if let Some((i, _)) = found {
                    faults_left.insert(i, false);
                    t.push(fault_line(i));
                }
            }
            _ => {}
        }
    }
    for (c, script) in scenario.play.clients.iter().enumerate() {
        for entry in &script.entries[cursor[c].min(script.entries.len())..] {
            t.push(crate::scenario::entry_item(&names[c], entry));
        }
    }
    for (i, left) in faults_left {
        if left {
            t.push(fault_line(i));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_and_its_resume_go_together() {
        let mut s = Script::new("a")
            .then(Step::Connect)
            .then(Step::Pause)
            .then(Step::Send(b"x".to_vec()))
            .then(Step::Resume)
            .then(Step::Close);
        assert!(remove_entry(&mut s, 3));
        assert_eq!(
            s.entries,
            vec![
                Entry::Step(Step::Connect),
                Entry::Step(Step::Send(b"x".to_vec())),
                Entry::Step(Step::Close)
            ]
        );
        assert!(!remove_entry(&mut s, 0), "the connect stays");
    }

    #[test]
    fn plain_bytes_keep_line_structure() {
        assert_eq!(plain_bytes(b"ab\r\ncd\n"), b"01\r\n45\n");
    }
}
