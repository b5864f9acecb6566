//! Snapshots of kvstore runs, pinned with insta: the whole recorded transcript (every client
//! event and every fault, with virtual times) and the verdict. A change in what the service
//! sends, or when, shows as a diff in review (`cargo insta review`).

use kvstore::descriptor;
use muxsim::assert_run_snapshot;
use muxsim::scenario::Scenario;
use muxsim::transcript::parse;

fn scenario(text: &str) -> Scenario {
    let transcript = parse(text).unwrap();
    Scenario::from_transcript_with(&transcript, &descriptor(None)).unwrap()
}

#[test]
fn a_pipelined_session() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pipelined.txn");
    assert_run_snapshot!(
        "pipelined",
        scenario(&std::fs::read_to_string(path).unwrap())
    );
}

#[test]
fn two_clients_under_every_fault_family() {
    // The oracle judges (no expectations), and seed 3 switches fault families on: short
    // reads and writes, EINTR, spurious wake-ups and more, each fault that fires recorded.
    assert_run_snapshot!(
        "faults",
        scenario(
            "service kvstore\nseed 3\nfaults all\noracle on\nlimit idle-ms 200\n\n\
             a connect\nb connect\n\
             a send \"SET k v\\r\\nGET k\\r\\n\"\n\
             b send \"PING\\r\\nGE\"\nb wait 50ms\nb send \"T k\\r\\n\"\n\
             a wait 300ms\nb shutdown\n"
        )
    );
}
