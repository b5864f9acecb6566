//! Property tests and campaigns: every service on every semantics under every fault family,
//! and the seed server's bugs found, shrunk to small fixtures, and reproduced.
//!
//! `PROPTEST_CASES` scales the property tests; `MUXSIM_SEEDS` the seed sweeps (for example
//! `MUXSIM_SEEDS=10000 cargo test --release --test fuzz`).

mod common;

use std::time::Duration;

use muxsim::check::{Campaign, Found};
use muxsim::fault::{Family, FaultFamilies};
use muxsim::scenario::Scenario;
use muxsim::script::{Entry, Script, Step};
use muxsim::semantics::Semantics;
use muxsim::service::Registry;
use muxsim::text::quote_short;
use muxsim::transcript::{self, Item};
use muxsim::world::{Failure, Play};
use proptest::prelude::*;

fn seeds(default: u64) -> u64 {
    common::count_from_env("MUXSIM_SEEDS", default)
}

// ----- proptest scenarios ---------------------------------------------------------------------

/// What a generated client does between `connect` and its ending.
#[derive(Clone, Debug)]
enum Action {
    Send(Vec<u8>),
    Wait(u64),
    /// Stop reading for a while, then catch up (nothing is sent meanwhile).
    SlowRead(u64),
}

fn payload(lines: bool) -> BoxedStrategy<Vec<u8>> {
    if lines {
        prop::collection::vec(prop::sample::select(b"abc xyz\n".to_vec()), 1..30)
            .prop_map(|mut v| {
                v.push(b'\n');
                v
            })
            .boxed()
    } else {
        // No `r`, so the echo model can find the "response" markers.
        prop::collection::vec(
            prop::sample::select(b"abcdefghij0123\x00\xff".to_vec()),
            1..40,
        )
        .boxed()
    }
}

fn action(lines: bool) -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => payload(lines).prop_map(Action::Send),
        2 => (1u64..30).prop_map(Action::Wait),
        1 => (1u64..60).prop_map(Action::SlowRead),
    ]
}

fn ending() -> impl Strategy<Value = Option<Step>> {
    prop_oneof![
        3 => Just(None),
        2 => Just(Some(Step::Shutdown)),
        1 => Just(Some(Step::Close)),
        1 => Just(Some(Step::Reset)),
    ]
}

fn script(name: String, lines: bool) -> impl Strategy<Value = Script> {
    (prop::collection::vec(action(lines), 0..6), ending()).prop_map(move |(actions, end)| {
        let mut s = Script::new(name.clone()).then(Step::Connect);
        for a in actions {
            s = match a {
                Action::Send(b) => s.then(Step::Send(b)),
                Action::Wait(ms) => s.then(Step::Wait(Duration::from_millis(ms))),
                Action::SlowRead(ms) => s
                    .then(Step::Pause)
                    .then(Step::Wait(Duration::from_millis(ms)))
                    .then(Step::Resume),
            };
        }
        match end {
            Some(step) => s.then(step),
            None => s,
        }
    })
}

fn families() -> impl Strategy<Value = FaultFamilies> {
    prop::collection::vec(
        prop::sample::select(Family::ALL.to_vec()),
        0..=Family::ALL.len(),
    )
    .prop_map(|list| list.into_iter().fold(FaultFamilies::NONE, |s, f| s.with(f)))
}

fn scenario(service: &'static str) -> impl Strategy<Value = Scenario> {
    let lines = service == "lines";
    (
        prop::collection::vec(any::<()>(), 1..5).prop_flat_map(move |n| {
            (0..n.len())
                .map(|i| script(((b'a' + i as u8) as char).to_string(), lines))
                .collect::<Vec<_>>()
        }),
        prop::sample::select(Semantics::ALL.to_vec()),
        families(),
        any::<u64>(),
        prop::sample::select(vec![16usize, 256, 64 * 1024]),
    )
        .prop_map(move |(clients, semantics, faults, seed, buffer)| {
            let descriptor = common::builtin(service);
            let mut s = Scenario::new(
                &descriptor,
                Play {
                    clients,
                    faults: Vec::new(),
                },
            );
            s.config.seed = seed;
            s.config.faults = faults;
            s.config.strict = false;
            s.config.sim.semantics = semantics;
            s.config.sim.buffer = buffer;
            s.oracle = true;
            s
        })
}

fn check(s: &Scenario) -> Result<(), TestCaseError> {
    let run = s.run();
    let verdict = s.judge(&run);
    if let Some(failure) = verdict.failure() {
        let t = s.recorded(&run, false);
        return Err(TestCaseError::fail(format!("{failure}\n{t}")));
    }
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config("proptest-regressions/fuzz.txt", 64))]

    #[test]
    fn greet_holds_its_model(s in scenario("greet")) { check(&s)?; }

    #[test]
    fn sink_holds_its_model(s in scenario("sink")) { check(&s)?; }

    #[test]
    fn ack_holds_its_model(s in scenario("ack")) { check(&s)?; }

    #[test]
    fn echo_holds_its_model(s in scenario("echo")) { check(&s)?; }

    #[test]
    fn lines_holds_its_model(s in scenario("lines")) { check(&s)?; }
}

// ----- seed sweeps ----------------------------------------------------------------------------------

#[test]
fn fixed_services_pass_every_semantics_with_every_fault_family() {
    for service in ["greet", "sink", "ack", "echo", "lines"] {
        let report = Campaign::builtin(service)
            .unwrap()
            .seeds(10_000, seeds(400))
            .faults(FaultFamilies::ALL)
            .clients(4)
            .jobs(2)
            .run();
        assert!(report.is_clean(), "{service}: {report}");
    }
}

#[test]
fn shards_cover_exactly_the_seeds_of_the_whole() {
    let whole = Campaign::builtin("echo").unwrap().seeds(5, 37);
    let mut covered: Vec<u64> = (1..=3)
        .flat_map(|i| whole.clone().shard(i, 3).shard_seeds())
        .collect();
    covered.sort_unstable();
    assert_eq!(covered, (5..42).collect::<Vec<_>>());
    let first = whole.clone().shard(1, 3).shard_seeds();
    let second = whole.clone().shard(2, 3).shard_seeds();
    assert!(
        first.iter().all(|s| !second.contains(s)),
        "shards are disjoint"
    );
}

// ----- finding the seed server's bugs ---------------------------------------------------------------

/// Lines of a transcript that say something: no header, comment or blank line.
fn body_lines(t: &transcript::Transcript) -> usize {
    t.lines
        .iter()
        .filter(|l| matches!(l.item(), Item::Step { .. } | Item::Fault(_)))
        .count()
}

/// Runs seeds until `found` accepts a failure; returns it.
#[track_caller]
fn find(campaign: Campaign, limit: u64, found: impl Fn(&Found) -> bool) -> Found {
    for seed in 0..limit {
        if let Some(f) = campaign.run_seed(seed)
            && found(&f)
        {
            return f;
        }
    }
    panic!("not found within {limit} seeds");
}

/// The minimal transcript reproduces the failure when replayed.
#[track_caller]
fn assert_reproduces(found: &Found, kind: &str) {
    let t = found.minimal().expect("shrunk");
    let text = t.to_string();
    let parsed = transcript::parse(&text).unwrap();
    let scenario = Scenario::from_transcript(&parsed, &Registry::builtin()).unwrap();
    let run = scenario.run();
    let verdict = scenario.judge(&run);
    assert_eq!(
        verdict.failure().map(|f| f.kind().name()),
        Some(kind),
        "replaying the minimal transcript:\n{text}"
    );
    assert!(
        body_lines(t) <= 12,
        "shrunk to {} lines:\n{text}",
        body_lines(t)
    );
}

fn seed4() -> Campaign {
    Campaign::builtin("seed4-literal").unwrap().clients(3)
}

#[test]
fn fuzz_finds_seed4_answering_newest_first() {
    let campaign = seed4().faults(FaultFamilies::NONE.with(Family::ShortIo));
    let found = find(
        campaign,
        300,
        |f| matches!(f.failure(), Failure::Oracle { detail, .. } if detail.contains("out of order")),
    );
    assert_reproduces(&found, "oracle");
}

#[test]
fn fuzz_finds_seed4_crashing_when_a_client_closes_with_an_answer_pending() {
    let campaign = seed4().faults(FaultFamilies::NONE.with(Family::Close));
    let found = find(campaign, 300, |f| {
        matches!(f.failure(), Failure::Panic { .. })
    });
    assert_reproduces(&found, "panic");
    let t = found.minimal().unwrap();
    assert!(
        t.lines.iter().any(|l| matches!(
            &l.item(),
            Item::Step {
                step: Step::Close | Step::Shutdown,
                ..
            }
        )),
        "the crash comes from a client leaving:\n{t}"
    );
}

#[test]
fn fuzz_finds_one_clients_reset_taking_seed4_down() {
    let campaign = seed4().faults(FaultFamilies::NONE.with(Family::Reset));
    let found = find(campaign, 300, |f| {
        let Some(t) = &f.minimal() else { return false };
        matches!(f.failure(), Failure::Panic { .. }) && t.to_string().contains("reset")
    });
    assert_reproduces(&found, "panic");
}

#[test]
fn fuzz_finds_seed4_treating_each_chunk_as_a_message() {
    // A message-framed oracle: each send is one message and must come back as one answer,
    // message + "response", in order. The seed answers each recv() instead.
    let campaign = seed4()
        .faults(FaultFamilies::NONE.with(Family::ShortIo))
        .oracle(|client: &muxsim::ClientReport| {
            let mut owed = b"hello".to_vec();
            for message in client.messages() {
                owed.extend_from_slice(message);
                owed.extend_from_slice(b"response");
            }
            if !owed.starts_with(&client.received) || (client.is_owed() && owed != client.received)
            {
                return Err(format!(
                    "{} messages sent, answers framed differently: {}",
                    client.messages().count(),
                    quote_short(&client.received)
                ));
            }
            Ok(())
        });
    let found = find(
        campaign,
        300,
        |f| matches!(f.failure(), Failure::Oracle { detail, .. } if detail.contains("framed differently")),
    );
    // The shrunk case: a message split into several answers (by a short read, or by the
    // seed's recv(1024)).
    let t = found.minimal().expect("shrunk");
    assert!(body_lines(t) <= 12, "{t}");
    assert!(t.to_string().contains("framed differently"), "{t}");
}

#[test]
fn the_fixed_echo_survives_what_breaks_seed4() {
    // The same campaigns that break seed4-literal pass on echo.
    for family in [Family::ShortIo, Family::Close, Family::Reset] {
        let report = Campaign::builtin("echo")
            .unwrap()
            .clients(3)
            .faults(FaultFamilies::NONE.with(family))
            .seeds(0, 300)
            .run();
        assert!(report.is_clean(), "{family:?}: {report}");
    }
}

#[test]
fn a_regression_transcript_replays_from_the_command_line_format() {
    let campaign = seed4().faults(FaultFamilies::NONE.with(Family::Close));
    let found = find(campaign, 300, |f| {
        matches!(f.failure(), Failure::Panic { .. })
    });
    let text = found.minimal().unwrap().to_string();
    assert!(text.contains("service seed4-literal\n"));
    assert!(text.contains("oracle on\n"));
    // Any client step in it is one a person can read and run again.
    let t = transcript::parse(&text).unwrap();
    let scenario = Scenario::from_transcript(&t, &Registry::builtin()).unwrap();
    assert!(scenario.play.clients.iter().all(|s| matches!(
        s.entries.first(),
        Some(Entry::Step(Step::Connect | Step::Wait(_)))
    )));
}
