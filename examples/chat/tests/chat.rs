//! chat's campaign: the correct service passes under every semantics and fault family, and
//! every single-bug variant (each a bug between connections, which no check of one connection
//! finds) is found by the default campaign, shrunk to a short repro that fails again through
//! this crate's own command. Its fixtures replay clean under many seeds, thanks to their
//! `after` lines.
//!
//! `MUXSIM_SEEDS` sets the seeds of the correct service's campaign (default 2,000; the
//! round's long campaign runs 20,000).

mod common;

use chat::{Bug, descriptor};
use muxsim::Campaign;
use muxsim::transcript::Item;

#[global_allocator]
static ALLOC: muxsim::CountingAllocator = muxsim::CountingAllocator;

fn seeds() -> u64 {
    std::env::var("MUXSIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000)
}

#[test]
fn chat_passes_its_campaign() {
    let seeds = seeds();
    let report = Campaign::new(descriptor(None))
        .seeds(0, seeds)
        .jobs(2)
        .run();
    assert!(report.is_clean(), "{report}");
    // The sessions were played: names first, then messages, rooms and goodbyes.
    let kinds = &report.reach().kinds();
    for kind in ["NICK", "MSG", "JOIN", "QUIT"] {
        assert!(kinds.get(kind).is_some_and(|&n| n > 0), "{kinds:?}");
    }
    // And messages went between clients: the path a per-connection check never sees.
    let reach = &report.reach();
    assert!(reach.cross_client() > 100, "{reach}");
    assert!(
        reach.cross_client_arrived() > reach.cross_client() / 4,
        "{reach}"
    );
    assert!(
        reach.to_string().contains("messages between clients:"),
        "{reach}"
    );
}

#[test]
fn every_bug_between_connections_is_found_shrunk_and_replayed() {
    let chatsim = env!("CARGO_BIN_EXE_chatsim");
    let out = tempfile::tempdir().unwrap();
    for bug in Bug::ALL {
        // A few failing seeds: the smallest of them is the one shrunk.
        let report = Campaign::new(descriptor(Some(bug)))
            .seeds(0, 10_000)
            .max_failures(Some(8))
            .jobs(2)
            .run();
        let found = report
            .failures()
            .next()
            .unwrap_or_else(|| panic!("{}: not found in {report}", bug.service_name()));
        let minimal = found.minimal().expect("shrunk");
        let steps = minimal
            .lines
            .iter()
            .filter(|l| matches!(l.item(), Item::Step { .. } | Item::Fault(_)))
            .count();
        assert!(
            steps <= 15,
            "{}: {steps} steps:\n{minimal}",
            bug.service_name()
        );
        // The repro fails again through the crate's own command, the same way.
        let path = out.path().join(format!("{}.txn", bug.service_name()));
        std::fs::write(&path, minimal.to_string()).unwrap();
        let replay = assert_cmd::Command::new(chatsim)
            .arg("replay")
            .arg(&path)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&replay.stdout);
        assert_eq!(replay.status.code(), Some(1), "{text}\n{minimal}");
        // The repro's first line says how it fails; the replay says the same.
        let Some(Item::Comment(how)) = minimal.lines.first().map(|l| l.item()) else {
            panic!("no comment heads the repro:\n{minimal}");
        };
        assert!(
            text.contains(how.trim()),
            "{}: {text}\nwanted: {how}",
            bug.service_name()
        );
    }
}

#[test]
fn fixtures_replay_clean_under_every_seed_and_semantics() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")).unwrap() {
        let path = entry.unwrap().path();
        common::replays_clean(&std::fs::read_to_string(&path).unwrap(), 500);
    }
}

#[test]
fn without_after_lines_a_broadcast_fixture_stalls_under_some_seeds() {
    // The order between clients is what `after` keeps: without it, b's message can reach the
    // server before a is there to receive it, and a waits for ever.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/broadcast.txn"
    ))
    .unwrap();
    let stalls = common::failing_without_after(&text, 200);
    assert!(stalls > 0, "no seed stalled without `after`");
}
