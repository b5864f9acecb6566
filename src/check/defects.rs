//! The driver's deliberate defects against the simulator's semantics: each test proves that a
//! check fails when the thing it checks breaks. The defects exist only in the crate's own test
//! build (`driver::Defect`), never in a server.

use crate::check::Campaign;
use crate::driver::Defect;
use crate::scenario::Scenario;
use crate::semantics::Semantics;
use crate::service::Registry;
use crate::transcript::parse;
use crate::world::{Failure, FailureKind};

fn big_line(semantics: Semantics, defect: Option<Defect>) -> Scenario {
    // One 40 KB line: more than one 16 KiB read, all of it waiting before the server reads.
    let line = "x".repeat(40_000);
    let text = format!(
        "service lines\nsemantics {semantics}\nlimit request-timeout-ms 0\n\na connect\na recv \"hello\\n\"\na send \"{line}\\n\"\na recv \"{line}response\\n\"\na close\n"
    );
    let mut s = Scenario::from_transcript(&parse(&text).unwrap(), &Registry::builtin()).unwrap();
    s.config.driver.defect = defect;
    s
}

#[test]
fn a_driver_that_reads_once_per_event_stalls_only_under_edge_triggering() {
    for semantics in [Semantics::Select, Semantics::Poll, Semantics::EpollLt] {
        let run = big_line(semantics, Some(Defect::ReadOncePerEvent)).run();
        assert!(run.verdict.is_pass(), "{semantics}: {}", run.verdict);
    }
    for semantics in [Semantics::EpollEt, Semantics::EpollLinux] {
        let run = big_line(semantics, Some(Defect::ReadOncePerEvent)).run();
        assert_eq!(
            run.verdict.failure().map(Failure::kind),
            Some(FailureKind::Stall),
            "{semantics}: the non-draining driver must stall"
        );
    }
    for semantics in Semantics::ALL {
        assert!(
            big_line(semantics, None).run().verdict.is_pass(),
            "{semantics}"
        );
    }
}

/// A campaign of `lines` under one semantics, with the driver's defect.
fn campaign(semantics: Semantics, defect: Option<Defect>) -> Campaign {
    let mut base = crate::world::WorldConfig::default();
    base.driver.defect = defect;
    Campaign::builtin("lines")
        .unwrap()
        .semantics(vec![semantics])
        .world(base)
        .seeds(0, 300)
        .shrink(false)
}

#[test]
fn the_short_read_shortcut_holds_on_linux_and_is_caught_where_it_may_not_be_taken() {
    // The driver takes the shortcut only where the backend says a short read proves the
    // socket drained: under Linux's epoll model campaigns pass...
    let linux = campaign(Semantics::EpollLinux, None).run();
    assert!(linux.is_clean(), "{linux}");
    // ...and a driver that takes it under the portable contract leaves input unread.
    let forced = campaign(Semantics::EpollEt, Some(Defect::StopAtShortIo)).run();
    assert!(
        !forced.is_clean(),
        "the strict epoll-et catches the shortcut"
    );
    assert!(
        forced
            .buckets
            .iter()
            .any(|b| ["stall", "leak", "oracle"].contains(&b.example.failure.kind().name())),
        "{forced}"
    );
}

#[test]
fn the_linux_model_catches_a_shortcut_that_ignores_the_hang_up() {
    // Data and FIN in one edge: the EOF after the data is announced by nothing else. A driver
    // that stops at the short read anyway never closes the half-closed connection.
    let trap = campaign(Semantics::EpollLinux, Some(Defect::IgnoreHangUp)).run();
    assert!(
        !trap.is_clean(),
        "the Linux model delivers data and FIN in one edge"
    );
    assert!(
        trap.buckets
            .iter()
            .any(|b| b.example.failure.kind() == "leak"),
        "{trap}"
    );
    assert!(campaign(Semantics::EpollLinux, None).run().is_clean());
}

#[test]
fn a_driver_looping_inside_one_turn_fails_loudly_instead_of_hanging() {
    // The run is its own bound; should that bound ever be lost, the test still ends, in a
    // wall-clock budget far beyond the second the run takes.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let run = big_line(Semantics::EpollEt, Some(Defect::RetryWouldBlock)).run();
        let _ = tx.send(run.verdict.failure().cloned());
    });
    let failure = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the simulator never stopped a driver looping inside one turn");
    match &failure {
        Some(Failure::Runaway { calls }) => assert!(*calls > 1_000_000),
        other => panic!("expected a runaway driver, got {other:?}"),
    }
}

#[test]
fn a_read_or_write_with_an_empty_buffer_is_a_failure_of_its_own() {
    for defect in [Defect::EmptyRead, Defect::EmptyWrite] {
        let run = big_line(Semantics::EpollEt, Some(defect)).run();
        assert_eq!(
            run.verdict.failure(),
            Some(&Failure::EmptyBuffer),
            "{defect:?}"
        );
    }
    assert!(big_line(Semantics::EpollEt, None).run().verdict.is_pass());
}
