//! Every fixture: passes on every readiness semantics, gives every client the same bytes in
//! the simulator and over real TCP, and has its full simulated transcript pinned as a
//! snapshot in `snapshots/`.

mod common;

use std::time::Duration;

use muxsim::scenario::{Outcome, Scenario};
use muxsim::script::Step;
use muxsim::semantics::Semantics;
use muxsim::service::Registry;
use muxsim::tcp::{RealBackend, ServerHandle, TcpReplayOptions, replay_tcp};
use muxsim::transcript::{Expect, Item, Transcript};

fn scenarios() -> Vec<(String, Transcript, Scenario)> {
    let registry = Registry::builtin();
    common::fixtures()
        .into_iter()
        .map(|path| {
            let t = common::load(&path);
            let s = Scenario::from_transcript(&t, &registry)
                .unwrap_or_else(|e| panic!("{}:{e}", path.display()));
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, t, s)
        })
        .collect()
}

#[test]
fn every_fixture_passes_on_every_semantics_and_many_seeds() {
    for (name, t, scenario) in scenarios() {
        // A fixture that names its semantics is about that semantics.
        let all = match t.semantics() {
            Some(one) => vec![one],
            None => Semantics::ALL.to_vec(),
        };
        for semantics in all {
            for seed in 0..25 {
                let mut s = scenario.clone();
                s.config.sim.semantics = semantics;
                s.config.seed = seed;
                let run = s.run();
                assert_eq!(
                    s.outcome(&run),
                    Outcome::AsExpected,
                    "{name} on {semantics} seed {seed}: {}",
                    run.verdict()
                );
            }
        }
    }
}

#[test]
fn snapshots_pin_every_fixtures_simulated_transcript() {
    let settings = common::snapshot_settings();
    settings.bind(|| {
        for (name, _, scenario) in scenarios() {
            let text = muxsim::testing::snapshot_text(&scenario);
            insta::assert_snapshot!(name, text);
        }
    });
}

#[test]
fn every_fixture_has_a_snapshot_and_every_snapshot_a_fixture() {
    let mut fixtures: Vec<String> = scenarios().into_iter().map(|(n, _, _)| n).collect();
    let mut snaps: Vec<String> = std::fs::read_dir(common::root().join("snapshots"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".snap").map(String::from)
        })
        .collect();
    fixtures.sort();
    snaps.sort();
    assert_eq!(snaps, fixtures);
}

/// The real backends beside the simulator semantics that model them.
const PAIRS: [(RealBackend, Semantics); 3] = [
    (RealBackend::Mio, Semantics::EpollEt),
    (RealBackend::Poll, Semantics::Poll),
    (RealBackend::Select, Semantics::Select),
];

#[test]
fn the_simulator_and_real_sockets_give_every_client_the_same_bytes() {
    let options = TcpReplayOptions {
        timeout: Duration::from_secs(5),
        ..TcpReplayOptions::default()
    };
    for (kind, semantics) in PAIRS {
        differential(kind, semantics, &options);
    }
}

/// How many bytes a transcript's expectations have client `name` receive, in all: the
/// length of the stream both sides must agree on.
fn expected_len(t: &Transcript, name: &str) -> usize {
    t.lines
        .iter()
        .filter_map(|l| match &l.item() {
            Item::Step { client, step } if client == name => match step {
                Step::Recv(bytes) => Some(bytes.len()),
                Step::RecvLen(n) => Some(*n as usize),
                _ => None,
            },
            _ => None,
        })
        .sum()
}

fn differential(kind: RealBackend, semantics: Semantics, options: &TcpReplayOptions) {
    for (name, t, scenario) in scenarios() {
        if scenario.expect != Expect::Pass {
            continue;
        }
        let mut modelled = scenario.clone();
        modelled.config.sim.semantics = semantics;
        let sim = modelled.run();
        assert!(
            sim.verdict().is_pass(),
            "{name} on {semantics}: {}",
            sim.verdict()
        );
        let mut config = scenario.config.driver.clone();
        config.linger = Duration::from_millis(500);
        let service = scenario.service.build(&scenario.options);
        let server = ServerHandle::start_on(kind, service, config).unwrap();
        let real = replay_tcp(&t, server.addr(), options);
        server.stop().unwrap();
        assert!(
            real.failure().is_none(),
            "{name} on {kind:?}: {:?}",
            real.failure()
        );
        assert_eq!(
            real.clients().len(),
            sim.clients().len(),
            "{name}: the same clients on both sides"
        );
        for client in real.clients() {
            let simulated = &sim.client(&client.name).unwrap().received;
            // The whole stream the script expects, the same on both sides: a client that got
            // nothing on one side must not pass for having a common (empty) prefix.
            let len = expected_len(&t, &client.name);
            let what = |side: &str, got: &[u8]| {
                format!(
                    "{name} on {kind:?} and {semantics}: client {} received {} bytes on the {side}, the script expects {len}",
                    client.name,
                    got.len()
                )
            };
            assert!(simulated.len() >= len, "{}", what("simulator", simulated));
            assert!(
                client.received.len() >= len,
                "{}",
                what("real sockets", &client.received)
            );
            assert!(
                simulated[..len] == client.received[..len],
                "{name} on {kind:?} and {semantics}: client {} received different bytes",
                client.name
            );
        }
    }
}
