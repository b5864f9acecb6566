//! A proptest `Strategy` of one's own, plugged into muxsim: the generator shaped by the
//! protocol description finds most bugs, but a bug that needs a *sentence* of the protocol
//! (`SET a …`, then `DEL a`, then `GET a`) is found sooner by a strategy that speaks it.
//! `Campaign::check_play` runs any `Play` under a seed's semantics and faults, judges it
//! with the service's oracle and shrinks a failure.

use kvstore::{Bug, descriptor};
use muxsim::Campaign;
use muxsim::script::{Script, Step};
use muxsim::world::Play;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// One command line, with either ending.
fn command() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec!["a", "b"]);
    let line = prop_oneof![
        key.clone().prop_map(|k| format!("GET {k}")),
        (key.clone(), "[xyz]{0,3}").prop_map(|(k, v)| format!("SET {k} {v}")),
        key.prop_map(|k| format!("DEL {k}")),
        Just("PING".to_string()),
    ];
    (line, prop::bool::ANY).prop_map(|(line, crlf)| {
        let mut bytes = line.into_bytes();
        bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        bytes
    })
}

/// One or two clients, each sending a few sends of one to three commands, then shutting
/// down its side.
fn play() -> impl Strategy<Value = Play> {
    let client = prop::collection::vec(prop::collection::vec(command(), 1..4), 1..6);
    prop::collection::vec(client, 1..3).prop_map(|clients| Play {
        clients: clients
            .into_iter()
            .enumerate()
            .map(|(i, sends)| {
                let mut script = Script::new(muxsim::script::client_name(i)).then(Step::Connect);
                for send in sends {
                    script = script.then(Step::Send(send.concat()));
                }
                script.then(Step::Shutdown)
            })
            .collect(),
        faults: Vec::new(),
    })
}

/// Runs the strategy against `campaign`'s service: `Err` with the first failure found.
fn check(campaign: &Campaign, cases: u32) -> Result<(), String> {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    runner
        .run(&(play(), 0u64..10_000), |(play, seed)| {
            match campaign.check_play(seed, play) {
                Some(found) => Err(TestCaseError::fail(found.to_string())),
                None => Ok(()),
            }
        })
        .map_err(|e| e.to_string())
}

#[test]
fn kvstore_answers_every_command_sequence() {
    check(&Campaign::new(descriptor(None)), 500).unwrap();
}

#[test]
fn the_strategy_finds_a_del_that_keeps_its_key() {
    let error = check(&Campaign::new(descriptor(Some(Bug::DelKeeps))), 500)
        .expect_err("the strategy should find the bug");
    assert!(error.contains("DELETED"), "{error}");
}
