//! Shrinking and the checks around it say what is true: a shrunk repro fails the way the
//! original did, a client paused at its end is owed nothing, payloads shrink from both ends,
//! and a send after the service's own close is caught even when the close completes at once.

mod common;

use muxsim::Campaign;
use muxsim::scenario::replay_text;
use muxsim::script::{Script, Step};
use muxsim::world::{Failure, Play, Verdict};

#[test]
fn a_client_paused_at_its_end_is_owed_nothing() {
    // A shrinker that drops the `resume` leaves this; the oracle must not call it a failure
    // of the (correct) echo service.
    let replay = replay_text(
        "service echo\noracle on\n\na connect\na send \"ping\"\na pause\n",
        &common::builtin("echo"),
    )
    .unwrap();
    assert!(replay.is_ok(), "{replay}");
    assert!(replay.run().clients()[0].paused_at_end());
}

#[test]
fn every_shrunk_repro_fails_with_its_bucket_s_signature() {
    let report = Campaign::new(common::builtin("seed4-literal"))
        .seeds(0, 300)
        .jobs(2)
        .run();
    assert!(report.buckets().len() >= 2, "{report}");
    for bucket in report.buckets() {
        let minimal = bucket.example().minimal().expect("shrunk");
        let replay = muxsim::replay(minimal, &common::builtin("seed4-literal")).unwrap();
        let Verdict::Fail(failure) = &replay.verdict() else {
            panic!("the repro passes:\n{minimal}");
        };
        assert_eq!(
            muxsim::check::bucket::signature(failure),
            bucket.signature(),
            "\n{minimal}"
        );
    }
}

#[test]
fn payloads_shrink_from_both_ends() {
    // Panics when it reads a `Z`.
    let service = common::OnRead::service("panics-on-z", |_, _, bytes| {
        assert!(!bytes.contains(&b'Z'), "read a Z");
    });
    let mut payload = vec![b'a'; 1_500];
    payload[1_200] = b'Z';
    let play = Play {
        clients: vec![
            Script::new("a")
                .then(Step::Connect)
                .then(Step::Send(payload))
                .then(Step::Close),
        ],
        faults: Vec::new(),
    };
    let found = Campaign::new(service)
        .faults(muxsim::FaultFamilies::NONE)
        .check_play(0, play)
        .expect("the panic is found");
    let minimal = found.minimal().expect("shrunk");
    let sent: usize = minimal
        .lines
        .iter()
        .filter_map(|l| match &l.item() {
            muxsim::transcript::Item::Step {
                step: Step::Send(bytes),
                ..
            } => Some(bytes.len()),
            _ => None,
        })
        .sum();
    assert_eq!(sent, 1, "the Z alone is left:\n{minimal}");
}

#[test]
fn a_send_after_the_service_s_own_close_is_caught_when_the_close_completes_at_once() {
    // Nothing is queued when the service asks to close, so the close completes at once and
    // the send that follows finds no connection: it is counted, not silently dropped.
    // Closes each connection on its first bytes, then (wrongly) sends to it.
    let service = common::OnRead::service("sends-after-close", |out, conn, _| {
        out.close(conn);
        out.send(conn, b"late");
    });
    let replay = replay_text(
        "service sends-after-close\n\na connect\na send \"x\"\na recv-eof\na close\n",
        &service,
    )
    .unwrap();
    assert!(
        matches!(
            replay.verdict(),
            Verdict::Fail(Failure::SendAfterClose { count: 1 })
        ),
        "{replay}"
    );
}
