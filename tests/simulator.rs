//! The simulator: readiness semantics, every fault, the built-in checks, determinism and
//! exact replay.

mod common;

use common::assert_pass;

use std::time::Duration;

use muxsim::Step;
use muxsim::check::Campaign;
use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::fault::{Family, FaultFamilies, FaultPlan, FaultSpec};
use muxsim::scenario::Scenario;
use muxsim::semantics::Semantics;
use muxsim::service::{Registry, ServiceDescriptor};
use muxsim::time::Instant;
use muxsim::transcript;
use muxsim::world::{Failure, Run, TraceKind, Verdict};

fn faults_fired(run: &Run) -> Vec<FaultSpec> {
    run.trace()
        .iter()
        .filter_map(|e| match &e.kind() {
            TraceKind::Fault { spec, .. } => Some(*spec),
            _ => None,
        })
        .collect()
}

fn detail(run: &Run) -> Vec<String> {
    run.trace()
        .iter()
        .filter_map(|e| match &e.kind() {
            TraceKind::Server(s) | TraceKind::Log(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn with_detail(text: &str) -> Run {
    let mut s = common::scenario(text);
    s.config.sim.detail = true;
    s.run()
}

fn received(run: &Run, client: &str) -> Vec<u8> {
    run.clients()
        .iter()
        .find(|c| c.name == client)
        .map(|c| c.received.clone())
        .unwrap_or_default()
}

/// When client `name` first observed anything.
fn first_got(run: &Run, name: &str) -> Option<Instant> {
    let index = run.clients().iter().position(|c| c.name == name)?;
    run.trace().iter().find_map(|e| match &e.kind() {
        TraceKind::Client {
            client,
            step: Step::Got(_),
        } if client.index() == index => Some(e.at()),
        _ => None,
    })
}

// ----- readiness semantics ------------------------------------------------------------------

fn big_line_scenario(semantics: Semantics) -> Scenario {
    // One 40 KB line: more than one 16 KiB read, all of it waiting before the server reads.
    let line = "x".repeat(40_000);
    let text = format!(
        "service lines\nsemantics {semantics}\nlimit request-timeout-ms 0\n\na connect\na recv \"hello\\n\"\na send \"{line}\\n\"\na recv \"{line}response\\n\"\na close\n"
    );
    common::scenario(&text)
}

#[test]
fn the_driver_drains_large_input_under_every_semantics() {
    // The driver reads until WouldBlock (or, where the backend allows, until a short read):
    // a line larger than one read passes everywhere. (That a non-draining driver stalls under
    // epoll-et is a unit test of the driver, with the defect compiled in.)
    for semantics in Semantics::ALL {
        assert_pass(&big_line_scenario(semantics).run());
    }
}

fn many_clients(semantics: Semantics, clients: usize) -> Run {
    // Every client stays connected, so all of them hold a descriptor at once.
    let mut text = format!("service echo\nsemantics {semantics}\nlimit backlog 2000\n\n");
    for i in 0..clients {
        text.push_str(&format!("c{i} connect\nc{i} recv \"hello\"\n"));
    }
    let mut s = common::scenario(&text);
    s.config.sim.detail = true;
    s.run()
}

#[test]
fn select_refuses_descriptors_past_fd_setsize() {
    let run = many_clients(Semantics::Select, 1100);
    // Descriptors 4..=1023 can be watched (0-2 are stdio, 3 the listener): 1,020 clients.
    // The 1,021st is refused with the limit named, and the run fails at that client.
    assert!(run.driver_stats().register_failures() >= 1);
    assert!(run.driver_stats().accepted() >= 1020);
    assert!(
        detail(&run).iter().any(|l| l
            .contains("select(2) cannot watch descriptor 1024: it is not below FD_SETSIZE (1024)")),
        "the log names the limit"
    );
    match &run.verdict() {
        Verdict::Fail(f) => assert!(["mismatch", "stall"].contains(&f.kind().name()), "{f}"),
        Verdict::Pass => panic!("clients past FD_SETSIZE cannot be served"),
    }
    // poll(2) has no such limit.
    let run = many_clients(Semantics::Poll, 1100);
    assert_pass(&run);
    assert_eq!(run.driver_stats().register_failures(), 0);
}

#[test]
fn level_triggered_polls_scan_every_descriptor_and_epoll_only_the_ready() {
    let scanned = |semantics| many_clients(semantics, 300).net_stats().scanned();
    let poll = scanned(Semantics::Poll);
    let epoll = scanned(Semantics::EpollEt);
    assert!(poll > 3 * epoll, "poll scanned {poll}, epoll {epoll}");
}

fn lines_scenario(seed: u64, semantics: Semantics) -> Scenario {
    let mut s = common::scenario(&format!(
        "service lines\nsemantics {semantics}\nseed {seed}\n\n\
         a connect\nb connect\na recv \"hello\\n\"\nb recv \"hello\\n\"\n\
         a send \"one\\ntwo\"\nb send \"x\\n\"\na send \"\\n\"\n\
         a recv \"oneresponse\\ntworesponse\\n\"\nb recv \"xresponse\\n\"\na close\nb close\n"
    ));
    s.config.max_steps = 100_000;
    s
}

#[test]
fn spurious_events_and_eintr_storms_do_not_change_what_clients_receive() {
    for seed in 0..50 {
        for semantics in Semantics::ALL {
            let calm = lines_scenario(seed, semantics).run();
            assert_pass(&calm);
            let mut storm = lines_scenario(seed, semantics);
            storm.config.plan = Some(FaultPlan::every(
                FaultFamilies::NONE
                    .with(Family::Spurious)
                    .with(Family::Eintr),
                500_000,
            ));
            let stormy = storm.run();
            assert_pass(&stormy);
            assert!(!faults_fired(&stormy).is_empty(), "the storm fired");
            for name in ["a", "b"] {
                assert_eq!(received(&stormy, name), received(&calm, name));
            }
        }
    }
}

// ----- every fault, scripted ------------------------------------------------------------------

#[test]
fn short_read_splits_what_the_service_sees() {
    let text = "service ack\n\na connect\na recv \"hello\"\n! a short-read 1\na send \"abcd\"\na recv \"responseresponse\"\na close\n";
    let run = common::run(text);
    assert_pass(&run);
    assert_eq!(faults_fired(&run), vec![FaultSpec::ShortRead(1)]);
    // Without the fault, one read takes all four bytes: one answer, and the fixture stalls.
    let calm = common::run(&text.replace("! a short-read 1\n", ""));
    assert_eq!(
        calm.verdict().failure().map(|f| f.kind().name()),
        Some("stall")
    );
}

#[test]
fn short_write_keeps_the_rest_for_later() {
    let run = with_detail(
        "service echo\n\na connect\n! a short-write 3\na recv \"hello\"\na send \"x\"\na recv \"xresponse\"\na close\n",
    );
    assert_pass(&run);
    let lines = detail(&run);
    assert!(lines.iter().any(|l| l == "write a: \"hel\""), "{lines:#?}");
    assert!(lines.iter().any(|l| l == "write a: \"lo\""), "{lines:#?}");
}

#[test]
fn write_would_block_waits_for_writable() {
    let run =
        with_detail("service echo\n\na connect\n! a write-block\na recv \"hello\"\na close\n");
    assert_pass(&run);
    let lines = detail(&run);
    let blocked = lines
        .iter()
        .position(|l| l == "write a: write-block")
        .expect("the write blocked");
    assert!(lines[blocked..].iter().any(|l| l == "write a: \"hello\""));
}

#[test]
fn read_reset_closes_and_frees_the_connection() {
    let run = common::run(
        "service echo\n\na connect\na recv \"hello\"\n! a read-reset\na send \"x\"\na recv-reset\nb connect\nb recv \"hello\"\nb close\n",
    );
    assert_pass(&run);
    assert_eq!(run.driver_stats().resets(), 1);
    assert_eq!(run.driver_stats().accepted(), run.driver_stats().closed());
}

#[test]
fn write_reset_is_epipe_closed_and_never_retried() {
    let run = with_detail(
        "service echo\n\na connect\n! a write-reset\na recv-reset\nb connect\nb recv \"hello\"\nb close\n",
    );
    assert_pass(&run);
    let writes_to_a: Vec<String> = detail(&run)
        .into_iter()
        .filter(|l| l.starts_with("write a"))
        .collect();
    assert_eq!(
        writes_to_a,
        vec!["write a: write-reset".to_string()],
        "EPIPE is final: no write after it"
    );
    assert_eq!(run.driver_stats().resets(), 1);
}

#[test]
fn eintr_on_every_call_is_retried() {
    let base = "service echo\n\na connect\n{F}a recv \"hello\"\na send \"x\"\na recv \"xresponse\"\na close\n";
    let calm = common::run(&base.replace("{F}", ""));
    assert_pass(&calm);
    for fault in [
        "! poll-eintr\n",
        "! accept-eintr\n",
        "! a read-eintr\n",
        "! a write-eintr\n",
    ] {
        let run = common::run(&base.replace("{F}", fault));
        assert_pass(&run);
        assert_eq!(faults_fired(&run).len(), 1, "{fault}");
        assert_eq!(run.net_stats().faults(), 1, "{fault}");
        assert_eq!(received(&run, "a"), received(&calm, "a"), "{fault}");
        // Retried at once: no pause in accepting, no later answer.
        assert_eq!(run.driver_stats().accept_backoffs(), 0, "{fault}");
        assert_eq!(first_got(&run, "a"), first_got(&calm, "a"), "{fault}");
    }
    // EINTR takes a call of its own: the fault planned for the second call finds the
    // connection still queued.
    assert_pass(&common::run(
        "service echo\n\n! accept-eintr at 1\n! accept-aborted at 2\na connect\na recv-reset\nb wait 1ms\nb connect\nb recv \"hello\"\nb close\n",
    ));
    // ECONNABORTED: that connection is gone, the next is accepted at once.
    let run = common::run(
        "service echo\n\n! accept-aborted\na connect\na recv-reset\nb wait 1ms\nb connect\nb recv \"hello\"\nb close\n",
    );
    assert_pass(&run);
    assert_eq!(run.driver_stats().accept_backoffs(), 0);
    assert!(
        run.clients()[0].disrupted,
        "the aborted client is owed nothing"
    );
    assert!(!run.clients()[1].disrupted);
}

#[test]
fn a_fault_that_resets_a_connection_marks_its_client_disrupted() {
    let run = with_detail(
        "service echo\n\na connect\na recv \"hello\"\n! a read-reset\na send \"x\"\na recv-reset\nb connect\nb recv \"hello\"\nb close\n",
    );
    assert_pass(&run);
    assert!(run.clients()[0].disrupted);
    assert!(!run.clients()[1].disrupted);
    assert!(
        detail(&run).iter().any(|l| l.ends_with("] a: reset")),
        "{:#?}",
        detail(&run)
    );
}

#[test]
fn a_client_may_send_to_a_closed_connection_and_never_overfills_the_network() {
    // After the server closed, sends "succeed" (the peer answers with a reset): the client
    // must not block on a buffer nobody drains.
    let run = common::run(
        "service lines\nlimit max-line 8\nlimit buffer 16\n\na connect\na recv \"hello\\n\"\na send \"123456789\\n\"\na recv \"error: line too long (limit 8 bytes)\\n\"\na recv-eof\na send \"0123456789012345678901234567890123456789\"\na close\n",
    );
    assert_pass(&run);
    // While the server reads, what it reads at once never exceeds the network's buffer.
    for seed in 0..20 {
        let run = with_detail(&format!(
            "service echo\nlimit buffer 16\nseed {seed}\n\na connect\na recv \"hello\"\na send \"{}\"\na close\n",
            "0123456789".repeat(20)
        ));
        assert_pass(&run);
        let mut total = 0;
        for line in detail(&run) {
            if let Some(bytes) = line.strip_prefix("read a: \"") {
                let n = bytes.trim_end_matches('"').len();
                assert!(
                    n <= 16,
                    "seed {seed}: read {n} bytes at once through a 16-byte buffer"
                );
                total += n;
            }
        }
        assert_eq!(total, 200, "seed {seed}");
    }
}

#[test]
fn accept_emfile_backs_off_and_resumes() {
    let run =
        common::run("service echo\n\n! accept-emfile 3\na connect\na recv \"hello\"\na close\n");
    assert_pass(&run);
    // No spinning: after each EMFILE the driver stops accepting for 50 ms.
    assert_eq!(run.driver_stats().accept_backoffs(), 3);
    let greeted = first_got(&run, "a").expect("greeted");
    assert!(
        greeted.since_start() >= Duration::from_millis(150),
        "{greeted}"
    );
    assert!(
        run.driver_stats().polls() < 20,
        "{} polls",
        run.driver_stats().polls()
    );
}

#[test]
fn accept_aborted_drops_one_connection_and_the_listener_survives() {
    let run = common::run(
        "service echo\n\n! accept-aborted\na connect\na recv-reset\nb wait 1ms\nb connect\nb recv \"hello\"\nb close\n",
    );
    assert_pass(&run);
}

#[test]
fn spurious_readiness_reads_would_block_and_nothing_else() {
    let run = with_detail(
        "service echo\n\na connect\na recv \"hello\"\n! a spurious\na wait 1ms\na send \"x\"\na recv \"xresponse\"\na close\n",
    );
    assert_pass(&run);
    assert!(faults_fired(&run).contains(&FaultSpec::Spurious));
    assert!(
        detail(&run)
            .iter()
            .any(|l| l == "read a: operation would block"),
        "the spurious event led to a read that found nothing"
    );
}

#[test]
fn stale_token_after_slot_reuse_is_ignored() {
    // a closes; b reuses a's slot; then an event for a's old token arrives.
    let run = common::run(
        "service echo\n\na connect\na recv \"hello\"\na close\na wait 5ms\nb connect\nb recv \"hello\"\n! a stale\nb wait 5ms\nb send \"x\"\nb recv \"xresponse\"\nb close\n",
    );
    assert_pass(&run);
    assert!(faults_fired(&run).contains(&FaultSpec::Stale));
    assert_eq!(run.driver_stats().stale_events(), 1);
}

#[test]
fn delay_lets_another_connection_overtake() {
    let run = common::run(
        "service echo\n\na connect\nb connect\na recv \"hello\"\nb recv \"hello\"\n! a delay 20ms\na send \"slow\"\nb send \"fast\"\nb recv \"fastresponse\"\na recv \"slowresponse\"\na close\nb close\n",
    );
    assert_pass(&run);
    let answer_at = |name: &str| {
        let index = run.clients().iter().position(|c| c.name == name).unwrap();
        run.trace()
            .iter()
            .filter_map(|e| match &e.kind() {
                TraceKind::Client {
                    client,
                    step: Step::Got(b),
                } if client.index() == index && b.ends_with(b"response") => Some(e.at()),
                _ => None,
            })
            .next()
            .unwrap()
    };
    assert!(answer_at("a").since_start() >= Duration::from_millis(20));
    assert!(answer_at("b").since_start() < Duration::from_millis(20));
}

#[test]
fn every_fault_family_fires_when_drawn() {
    let campaign = Campaign::builtin("echo").unwrap().clients(4);
    for family in Family::ALL {
        let families = FaultFamilies::NONE.with(family);
        // Storms are drawn when the scenario is generated, the rest while it runs.
        let campaign = campaign.clone().faults(families);
        let mut fired = 0;
        for seed in 0..40 {
            let mut s = campaign.scenario(seed);
            s.config.plan = Some(FaultPlan::every(families, 300_000));
            let (run, verdict) = campaign.check(&s);
            assert!(verdict.is_pass(), "{family:?} seed {seed}: {verdict}");
            fired += if family == Family::Storm {
                storm_clients(&run)
            } else {
                faults_fired(&run)
                    .into_iter()
                    .filter(|spec| family_of(*spec) == Some(family))
                    .count()
            };
        }
        assert!(fired > 0, "family {family:?} never fired");
    }
    // And at a rate of one in a million, the same seeds see (almost) nothing: a draw that
    // fired when it should not would show here.
    let mut fired = Vec::new();
    for seed in 0..40 {
        let mut s = campaign.scenario(seed);
        s.config.plan = Some(FaultPlan::every(FaultFamilies::ALL, 1));
        let (run, verdict) = campaign.check(&s);
        assert!(verdict.is_pass(), "seed {seed}: {verdict}");
        fired.extend(faults_fired(&run));
    }
    assert!(
        fired.len() <= 2,
        "{} faults fired at a rate of one in a million: {fired:?}",
        fired.len()
    );
}

fn storm_clients(run: &Run) -> usize {
    run.clients()
        .iter()
        .filter(|c| c.name.starts_with("storm"))
        .count()
}

/// The family a fault is drawn from.
fn family_of(spec: FaultSpec) -> Option<Family> {
    Some(match spec {
        FaultSpec::ShortRead(_) | FaultSpec::ShortWrite(_) => Family::ShortIo,
        FaultSpec::WriteBlock | FaultSpec::ReadBlock => Family::WouldBlock,
        FaultSpec::ReadReset | FaultSpec::WriteReset | FaultSpec::ClientReset => Family::Reset,
        FaultSpec::ClientClose => Family::Close,
        FaultSpec::ClientShutdown => Family::HalfClose,
        FaultSpec::ReadEintr
        | FaultSpec::WriteEintr
        | FaultSpec::PollEintr
        | FaultSpec::AcceptEintr => Family::Eintr,
        FaultSpec::Spurious | FaultSpec::Stale => Family::Spurious,
        FaultSpec::AcceptEmfile(_) | FaultSpec::AcceptAborted => Family::Accept,
        FaultSpec::Delay(_) => Family::Delay,
        _ => return None,
    })
}

// ----- the built-in checks ------------------------------------------------------------------------

#[test]
fn a_panicking_service_is_a_verdict_not_a_crash() {
    let run = common::run(
        "service seed4-literal\nseed 3\n\na connect\na recv \"hello\"\n! a short-read 1\na send \"xy\"\na close\n",
    );
    let run = if run.verdict().is_pass() {
        None
    } else {
        Some(run)
    };
    // Whatever the interleaving, a crash must come back as a verdict with its message.
    if let Some(run) = run
        && let Verdict::Fail(Failure::Panic { message }) = &run.verdict()
    {
        assert!(message.contains("KeyError"), "{message}");
    }
    let found = (0..200).any(|seed| {
        let run = common::run(&format!(
            "service seed4-literal\nseed {seed}\n\na connect\na recv \"hello\"\na send \"x\"\na close\n"
        ));
        matches!(run.verdict(), Verdict::Fail(Failure::Panic { message }) if message.contains("KeyError"))
    });
    assert!(found, "some interleaving reaches the seed's KeyError");
}

/// A service with one bug chosen by the test.
#[derive(Default)]
struct Buggy {
    bug: &'static str,
    open: Vec<ConnId>,
    closed: Vec<ConnId>,
    due: Option<Instant>,
    out: Outbox,
}

impl Service for Buggy {
    fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.open.push(conn);
        self.out.send(conn, &b"hello"[..]);
        if self.bug == "spin" {
            self.due = Some(now);
        }
    }
    fn handle_received(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        match self.bug {
            // Every connection hears what one says, in one burst of outputs.
            "broadcast" => {
                for &c in &self.open {
                    self.out.send(c, bytes);
                }
            }
            // Too much for `conn`, a word to the others, then more for `conn`, which the
            // hard limit has closed by then.
            "burst" => {
                self.out.send(conn, &[b'z'; 100][..]);
                for &c in self.open.iter().filter(|c| **c != conn) {
                    self.out.send(c, &b"x"[..]);
                }
                self.out.send(conn, &b"more"[..]);
            }
            "close-then-send" => {
                self.out.close(conn);
                self.out.send(conn, &b"late"[..]);
            }
            _ => self.out.send(conn, bytes),
        }
    }
    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        // Told only of connections it was told of first: never of a refused one.
        assert!(self.open.contains(&conn), "EOF of unknown {conn}");
        if self.bug == "bye" {
            self.out.send(conn, &b"bye"[..]);
        }
    }
    fn handle_closed(&mut self, _now: Instant, conn: ConnId, _reason: CloseReason) {
        if self.bug != "leak" {
            self.open.retain(|c| *c != conn);
        }
        self.closed.push(conn);
        if self.bug == "send-after-close" {
            self.out.send(conn, &b"too late"[..]);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        // Re-arms for "now" without doing anything: a spin.
        self.due = Some(now);
    }
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.due
    }
    fn tracked_connections(&self) -> usize {
        self.open.len()
    }
}

/// `text` (a transcript of `service buggy`) against [`Buggy`] with `bug`.
fn buggy_scenario(bug: &'static str, text: &str) -> Scenario {
    let service = ServiceDescriptor::new("buggy", move |_| Buggy {
        bug,
        ..Buggy::default()
    });
    let t = transcript::parse(text).unwrap();
    Scenario::from_transcript_with(&t, &service).unwrap()
}

fn run_buggy(bug: &'static str) -> Run {
    buggy_scenario(
        bug,
        "service buggy\n\na connect\na recv \"hello\"\na send \"x\"\na recv \"x\"\na close\n",
    )
    .run()
}

#[test]
fn state_kept_for_a_closed_connection_is_a_leak() {
    assert!(run_buggy("none").verdict().is_pass());
    assert_eq!(
        run_buggy("leak")
            .verdict()
            .failure()
            .map(|f| f.kind().name()),
        Some("service-leak")
    );
}

#[test]
fn sending_to_a_closed_connection_is_caught() {
    assert_eq!(
        run_buggy("send-after-close")
            .verdict()
            .failure()
            .map(|f| f.kind().name()),
        Some("send-after-close")
    );
}

#[test]
fn a_server_that_spins_without_progress_is_a_busy_loop() {
    assert_eq!(
        run_buggy("spin")
            .verdict()
            .failure()
            .map(|f| f.kind().name()),
        Some("busy-loop")
    );
}

#[test]
fn a_client_waiting_forever_is_reported_as_stalled() {
    let run = common::run("service echo\n\na connect\na recv \"hello\"\na recv \"more\"\n");
    match run.verdict() {
        Verdict::Fail(Failure::Stalled { waiting }) => {
            assert_eq!(
                *waiting,
                vec!["client a waits for \"more\" and has \"\"".to_string()]
            );
        }
        other => panic!("{other}"),
    }
}

// ----- determinism and exact replay -----------------------------------------------------------------

fn seeds(default: u64) -> u64 {
    common::count_from_env("MUXSIM_SEEDS", default)
}

#[test]
fn same_seed_same_trace() {
    let campaign = Campaign::builtin("echo").unwrap().clients(4);
    let mut distinct = std::collections::BTreeSet::new();
    for seed in 0..100 {
        let s = campaign.scenario(seed);
        let (a, _) = campaign.check(&s);
        let (b, _) = campaign.check(&s);
        assert_eq!(a.trace_hash(), b.trace_hash(), "seed {seed}");
        assert_eq!(a.trace(), b.trace(), "seed {seed}");
        distinct.insert(a.trace_hash());
    }
    assert!(distinct.len() > 95, "seeds give different runs");
}

#[test]
fn a_recorded_run_replays_exactly_to_the_same_verdict() {
    let registry = Registry::builtin();
    for service in ["echo", "lines", "seed4-literal", "greet"] {
        let campaign = Campaign::builtin(service).unwrap().clients(4);
        for seed in 0..seeds(300) {
            let s = campaign.scenario(seed);
            let (run, verdict) = campaign.check(&s);
            let recorded = s.recorded(&run, false).to_string();
            let replay =
                Scenario::from_transcript(&transcript::parse(&recorded).unwrap(), &registry)
                    .unwrap();
            let rerun = replay.run();
            let replayed = replay.recorded(&rerun, false).to_string();
            if replayed != recorded {
                let (a, b) = (recorded.lines(), replayed.lines());
                let at = a.zip(b).position(|(x, y)| x != y).unwrap_or(0);
                panic!(
                    "{service} seed {seed}: the replay diverges at line {}:\n  recorded: {}\n  replayed: {}",
                    at + 1,
                    recorded
                        .lines()
                        .nth(at)
                        .unwrap_or("")
                        .chars()
                        .take(120)
                        .collect::<String>(),
                    replayed
                        .lines()
                        .nth(at)
                        .unwrap_or("")
                        .chars()
                        .take(120)
                        .collect::<String>()
                );
            }
            // A printed run replays to the same verdict, the oracle's included.
            assert_eq!(
                replay.judge(&rerun).failure().map(|f| f.kind().name()),
                verdict.failure().map(|f| f.kind().name()),
                "{service} seed {seed}"
            );
        }
    }
}

#[test]
fn a_full_backlog_holds_connects_back_until_the_server_accepts_again() {
    // Three clients, a backlog of one, and accepts failing for a while: the waiting clients
    // must not spin the scheduler; time moves on to the backoff's end and all are served.
    let run = common::run(
        "service echo\nlimit backlog 1\n\n! accept-emfile 2\na connect\na recv \"hello\"\na close\nb connect\nb recv \"hello\"\nb close\nc connect\nc recv \"hello\"\nc close\n",
    );
    assert_pass(&run);
    assert!(
        run.end().since_start() >= Duration::from_millis(100),
        "{}",
        run.end()
    );
}

#[test]
fn a_send_to_a_connection_still_closing_is_caught() {
    // The client does not read, so the big answer cannot drain and the close waits for it:
    // the late send meets a connection that is closing, not one that is gone.
    // Answers big, asks to close, then (wrongly) sends once more.
    let service = common::OnRead::service("late", |out, conn, _| {
        out.send(conn, vec![b'x'; 200_000]);
        out.close(conn);
        out.send(conn, b"late");
    });
    let t = transcript::parse(
        "service late\n\na connect\na pause\na send \"x\"\na wait 10ms\na resume\n\
         a recv-len 200000\na recv-eof\na close\n",
    )
    .unwrap();
    let run = Scenario::from_transcript_with(&t, &service).unwrap().run();
    assert_eq!(
        run.verdict().failure().map(|f| f.kind().name()),
        Some("send-after-close"),
        "{}",
        run.verdict()
    );
    assert_eq!(run.driver_stats().sends_to_closed(), 1);
}

#[test]
fn the_driver_counts_its_writes_and_reads() {
    // A greeting and one answer, written whole: two writes. The reads: the ping, the read
    // that finds nothing more, and the one that finds the end.
    let run = common::run(
        "service echo\n\na connect\na recv \"hello\"\na send \"ping\"\na recv \"pingresponse\"\n\
         a shutdown\na recv-eof\na close\n",
    );
    assert_pass(&run);
    assert_eq!(run.driver_stats().writes(), 2, "{:?}", run.driver_stats());
    assert_eq!(run.driver_stats().bytes_written(), 17);
    assert!(run.driver_stats().reads() >= 2, "{:?}", run.driver_stats());
    assert_eq!(run.driver_stats().bytes_read(), 4);
}

#[test]
fn on_linux_epoll_a_short_write_ends_the_writing_and_elsewhere_the_driver_writes_until_it_would_block()
 {
    // A 65-byte answer through a 16-byte socket buffer the client drains as it comes.
    let writes = |semantics: &str| {
        let text = format!(
            "service lines\nsemantics {semantics}\nlimit buffer 16\n\na connect\na recv \"hello\\n\"\n\
             a send \"{}\\n\"\na recv \"{}response\\n\"\na close\n",
            "z".repeat(56),
            "z".repeat(56)
        );
        let run = common::run(&text);
        assert_pass(&run);
        (
            run.driver_stats().writes(),
            run.driver_stats().bytes_written(),
        )
    };
    let (linux, bytes) = writes("epoll-linux");
    let (portable, same_bytes) = writes("epoll-et");
    assert_eq!(bytes, same_bytes);
    // Linux: the greeting, then the answer in five writes of at most 16 bytes (four short).
    // Portable: each short write is followed by the write that finds no room.
    assert_eq!(
        (linux, portable),
        (6, 10),
        "writes under epoll-linux and epoll-et"
    );
}

/// The clients each `poll:` line of a run's detail reports, as descriptors, in order.
fn polled_fds(run: &Run) -> Vec<Vec<u32>> {
    let lines = detail(run);
    let fd_of: std::collections::HashMap<String, u32> = lines
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("accept: fd ")?;
            let (fd, who) = rest.split_once(" for ")?;
            Some((who.to_string(), fd.parse().ok()?))
        })
        .collect();
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("poll: "))
        .map(|list| {
            list.split(", ")
                .filter_map(|entry| fd_of.get(entry.rsplit_once(' ')?.0).copied())
                .collect()
        })
        .collect()
}

#[test]
fn polls_report_in_descriptor_order_except_epoll_whose_order_the_seed_chooses() {
    let mut text = String::from("service echo\nsemantics SEMANTICS\nseed SEED\n\n");
    for c in ["a", "b", "c", "d"] {
        text.push_str(&format!("{c} connect\n{c} recv \"hello\"\n"));
    }
    text.push_str("a wait 5ms\nb wait 5ms\nc wait 5ms\nd wait 5ms\n");
    for c in ["a", "b", "c", "d"] {
        text.push_str(&format!("{c} send \"x\"\n{c} recv \"x\"\n{c} close\n"));
    }
    let (mut shuffled, mut kept) = (false, false);
    for semantics in [Semantics::Poll, Semantics::Select, Semantics::EpollEt] {
        for seed in 0..20 {
            let run = with_detail(
                &text
                    .replace("SEMANTICS", &semantics.to_string())
                    .replace("SEED", &seed.to_string()),
            );
            assert_pass(&run);
            let lines = detail(&run);
            // Every report names what it reports: the listener, or a client and how.
            let mut reported = 0;
            for line in lines.iter().filter(|l| l.starts_with("poll:")) {
                assert!(line.len() > "poll: ".len(), "an empty report: {line:?}");
                reported += line.split(", ").count() as u64;
            }
            assert_eq!(
                run.net_stats().events(),
                reported,
                "every event delivered is counted"
            );
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("poll: ") && l.contains("listener r")),
                "{lines:#?}"
            );
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("poll: ") && l.contains("a r")),
                "{lines:#?}"
            );
            for fds in polled_fds(&run).into_iter().filter(|f| f.len() > 1) {
                let ascending = fds.windows(2).all(|w| w[0] < w[1]);
                if semantics.is_ordered() {
                    assert!(ascending, "{semantics} seed {seed}: {fds:?}");
                } else {
                    // Any order, the one they came in included.
                    shuffled |= !ascending;
                    kept |= ascending;
                }
            }
        }
    }
    assert!(shuffled, "epoll's ready list never came in another order");
    assert!(kept, "epoll's ready list never came in descriptor order");
}

// ----- each fault does what it says ------------------------------------------------------------

/// One request of 8 bytes and its answer of 16.
const ONE_LINE: &str = "service lines\n\na connect\na recv \"hello\\n\"\na send \"abcdefg\\n\"\na recv \"abcdefgresponse\\n\"\na close\n";

#[test]
fn drawn_faults_stop_once_the_run_heals() {
    let fired_with = |heal_after: u64| {
        (0..20)
            .map(|seed| {
                let mut s =
                    common::scenario(&ONE_LINE.replace("\n\n", &format!("\nseed {seed}\n\n")));
                s.config.plan = Some(FaultPlan::every(FaultFamilies::ALL, 500_000));
                s.config = s.config.clone().with_heal_after(heal_after);
                let run = s.run();
                if heal_after == 0 {
                    assert_pass(&run);
                }
                faults_fired(&run).len()
            })
            .sum::<usize>()
    };
    assert!(
        fired_with(u64::MAX) > 0,
        "faults fire while the run has not healed"
    );
    assert_eq!(
        fired_with(0),
        0,
        "no drawn fault fires once the run has healed"
    );
}

#[test]
fn every_fault_a_plan_can_draw_is_drawn() {
    let campaign = Campaign::builtin("echo").unwrap().clients(4);
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..60 {
        let mut s = campaign.scenario(seed);
        s.config.plan = Some(FaultPlan::every(FaultFamilies::ALL, 200_000));
        let (run, verdict) = campaign.check(&s);
        assert!(verdict.is_pass(), "seed {seed}: {verdict}");
        for spec in faults_fired(&run) {
            let name = format!("{spec:?}");
            kinds.insert(name.split('(').next().unwrap().to_string());
        }
    }
    for kind in [
        "ShortRead",
        "ShortWrite",
        "ReadBlock",
        "WriteBlock",
        "ReadReset",
        "WriteReset",
        "ReadEintr",
        "WriteEintr",
        "PollEintr",
        "AcceptEintr",
        "AcceptEmfile",
        "AcceptAborted",
        "Spurious",
        "Delay",
        "ClientClose",
        "ClientReset",
        "ClientShutdown",
    ] {
        assert!(kinds.contains(kind), "{kind} never drawn; drawn: {kinds:?}");
    }
}

#[test]
fn drawn_short_io_is_short_and_a_read_block_hides_bytes_that_are_there() {
    let (mut short_reads, mut short_writes, mut read_blocks) = (0, 0, 0);
    for seed in 0..200 {
        let mut s = common::scenario(&ONE_LINE.replace("\n\n", &format!("\nseed {seed}\n\n")));
        s.config.plan = Some(FaultPlan::every(
            FaultFamilies::NONE
                .with(Family::ShortIo)
                .with(Family::WouldBlock),
            600_000,
        ));
        s.config.sim.detail = true;
        let run = s.run();
        assert_pass(&run);
        for spec in faults_fired(&run) {
            match spec {
                // The client sends 8 bytes; the greeting is 6, the answer 16.
                FaultSpec::ShortRead(n) => {
                    short_reads += 1;
                    assert!((1..8).contains(&n), "seed {seed}: short read of {n}");
                }
                FaultSpec::ShortWrite(n) => {
                    short_writes += 1;
                    assert!((1..16).contains(&n), "seed {seed}: short write of {n}");
                }
                _ => {}
            }
        }
        let lines = detail(&run);
        // Once the whole request was read there is nothing a read-block could hide.
        let mut got = String::new();
        for line in &lines {
            if let Some(quoted) = line.strip_prefix("read a: \"") {
                got.push_str(quoted.trim_end_matches('"'));
            } else if line == "read a: read-block" {
                assert!(
                    !got.contains("abcdefg\\n"),
                    "seed {seed}: a read-block with nothing to read: {lines:#?}"
                );
            }
        }
        for (i, _) in lines
            .iter()
            .enumerate()
            .filter(|(_, l)| *l == "read a: read-block")
        {
            read_blocks += 1;
            let next = lines[i + 1..]
                .iter()
                .find(|l| l.starts_with("read a: ") && *l != "read a: read-block")
                .expect("read again");
            assert!(
                next.starts_with("read a: \"") && next != "read a: \"\"",
                "seed {seed}: a read-block hid nothing: the next read got {next}"
            );
        }
    }
    assert!(short_reads > 0 && short_writes > 0 && read_blocks > 0);
}

/// Lines of `lines` from the one equal to `from` up to the first after it starting with `to`.
fn between<'a>(lines: &'a [String], from: &str, to: &str) -> &'a [String] {
    let start = lines
        .iter()
        .position(|l| l == from)
        .unwrap_or_else(|| panic!("no {from:?} in {lines:#?}"));
    let len = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with(to))
        .unwrap_or_else(|| panic!("nothing starting {to:?} after {from:?} in {lines:#?}"));
    &lines[start + 1..start + 1 + len]
}

#[test]
fn scripted_faults_have_their_effect() {
    let script = |fault: &str| {
        let text = format!(
            "service echo\n\na connect\na recv \"hello\"\n{fault}a send \"xy\"\na recv \"xyresponse\"\na close\n"
        );
        with_detail(&text)
    };
    let calm = script("");
    assert_pass(&calm);

    // EAGAIN on a read that had bytes: the bytes wait for the next report.
    let run = script("! a read-block\n");
    assert_pass(&run);
    let lines = detail(&run);
    assert!(
        between(&lines, "read a: read-block", "read a: \"xy\"")
            .iter()
            .any(|l| l.starts_with("poll:")),
        "{lines:#?}"
    );
    // EAGAIN on a write with room: the answer waits for writability.
    let run = script("! a write-block\n");
    assert_pass(&run);
    let lines = detail(&run);
    assert!(
        between(&lines, "write a: write-block", "write a: \"xyresponse\"")
            .iter()
            .any(|l| l.starts_with("poll:")),
        "{lines:#?}"
    );
    // EINTR: the call made nothing happen and is made again.
    let run = script("! a read-eintr\n");
    assert_pass(&run);
    assert_eq!(run.driver_stats().reads(), calm.driver_stats().reads() + 1);
    assert_eq!(
        run.driver_stats().bytes_read(),
        calm.driver_stats().bytes_read()
    );
    let run = script("! a write-eintr\n");
    assert_pass(&run);
    assert_eq!(
        run.driver_stats().writes(),
        calm.driver_stats().writes() + 1
    );
    // A spurious report: one more read, which finds nothing.
    let run = script("! a spurious\n");
    assert_pass(&run);
    assert_eq!(run.driver_stats().reads(), calm.driver_stats().reads() + 1);
    assert_eq!(
        run.driver_stats().bytes_read(),
        calm.driver_stats().bytes_read()
    );
    assert_eq!(
        run.driver_stats().bytes_written(),
        calm.driver_stats().bytes_written()
    );
    // The log says how the connection ended.
    assert!(
        detail(&calm)
            .iter()
            .any(|l| l.ends_with("a: closed by peer")),
        "{:#?}",
        detail(&calm)
    );
    // The log names the peer as the backend describes it.
    assert!(
        detail(&calm)
            .iter()
            .any(|l| l.ends_with("a: open from a (fd 4)")),
        "{:#?}",
        detail(&calm)
    );
}

#[test]
fn a_write_after_the_peer_reset_fails_with_epipe() {
    // The client sends 40 bytes and closes without reading: the answer's first bytes reach a
    // closed socket, whose kernel answers with a reset; writing again fails.
    let epipe = (0..20).any(|seed| {
        let run = with_detail(&format!(
            "service echo\nlimit buffer 16\nseed {seed}\n\na connect\na recv \"hello\"\na send \"0123456789012345678901234567890123456789\"\na close\n"
        ));
        assert_pass(&run);
        detail(&run)
            .iter()
            .any(|l| l.starts_with("write a: Broken pipe"))
    });
    assert!(epipe, "no write ever failed after the reset");
}

#[test]
fn an_emfile_run_owes_exactly_its_count_and_nothing_else_fires_meanwhile() {
    let campaign = Campaign::builtin("echo").unwrap().clients(6);
    let mut runs = 0;
    for seed in 0..60 {
        let mut s = campaign.scenario(seed);
        s.config.plan = Some(FaultPlan::every(
            FaultFamilies::NONE.with(Family::Accept).with(Family::Eintr),
            500_000,
        ));
        s.config.sim.detail = true;
        let (run, verdict) = campaign.check(&s);
        assert!(verdict.is_pass(), "seed {seed}: {verdict}");
        let mut owed = 0u32;
        for event in run.trace() {
            match &event.kind() {
                TraceKind::Fault { spec, .. } => {
                    let accept = matches!(
                        spec,
                        FaultSpec::AcceptEintr
                            | FaultSpec::AcceptAborted
                            | FaultSpec::AcceptEmfile(_)
                    );
                    assert!(
                        !(accept && owed > 0),
                        "seed {seed}: {spec:?} drawn while {owed} EMFILE are owed"
                    );
                    if let FaultSpec::AcceptEmfile(k) = spec {
                        owed = *k;
                        runs += 1;
                    }
                }
                TraceKind::Server(line) if line == "accept: EMFILE" => {
                    assert!(owed > 0, "seed {seed}: an EMFILE nobody owed");
                    owed -= 1;
                }
                TraceKind::Server(line) if line.starts_with("accept: fd ") => {
                    assert_eq!(owed, 0, "seed {seed}: accepted while EMFILE is owed");
                }
                _ => {}
            }
        }
    }
    assert!(runs > 0, "no EMFILE was drawn");
}

#[test]
fn each_idle_connection_is_closed_at_its_own_deadline() {
    // Three clients active at different times, then idle: each is closed a timeout after its
    // own last byte, whatever the others do (the idle list keeps them in order).
    let mut text = String::from("service lines\nlimit idle-timeout-ms 100\nseed SEED\n\n");
    text.push_str("a connect\na recv \"hello\\n\"\n");
    text.push_str("b wait 20ms\nb connect\nb recv \"hello\\n\"\n");
    text.push_str("c wait 40ms\nc connect\nc recv \"hello\\n\"\nc send \"ping\\n\"\nc recv \"pingresponse\\n\"\n");
    text.push_str("a wait 60ms\na send \"ping\\n\"\na recv \"pingresponse\\n\"\n");
    text.push_str("b wait 70ms\nb send \"ping\\n\"\nb recv \"pingresponse\\n\"\nb send \"ping\\n\"\nb recv \"pingresponse\\n\"\n");
    for c in ["a", "b", "c"] {
        text.push_str(&format!("{c} recv-eof\n{c} close\n"));
    }
    for seed in 0..20 {
        let run = common::run(&text.replace("SEED", &seed.to_string()));
        assert_pass(&run);
        for client in run.clients() {
            let last_send = client
                .timeline
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind(),
                        muxsim::world::EventKind::Sent(_) | muxsim::world::EventKind::Connected
                    )
                })
                .map(|e| e.at())
                .max()
                .unwrap();
            let eof = client
                .timeline
                .iter()
                .find(|e| *e.kind() == muxsim::world::EventKind::Eof)
                .map(|e| e.at())
                .expect("closed for idling");
            let idle = eof.saturating_since(last_send);
            assert!(
                idle >= Duration::from_millis(100) && idle < Duration::from_millis(150),
                "seed {seed}: client {} closed {idle:?} after its last byte",
                client.name
            );
        }
    }
}

#[test]
fn the_service_hears_of_a_half_close_and_never_of_a_refused_connection() {
    let text = "service buggy\nlimit max-conns 1\n\na connect\na recv \"hello\"\na send \"x\"\na recv \"x\"\nb wait 1ms\nb connect\nb shutdown\nb wait 5ms\nb close\na wait 10ms\na shutdown\na recv \"bye\"\na recv-eof\na close\n";
    for seed in 0..10 {
        let mut s = buggy_scenario("bye", text);
        s.config.seed = seed;
        // b's refusal and close are not its script's business.
        s.config.strict = false;
        let run = s.run();
        assert_pass(&run);
        assert_eq!(run.driver_stats().refused(), 1);
    }
}

#[test]
fn every_refused_client_is_counted_polite_or_not() {
    // One client served, 199 turned away; past 64 refusals in progress the rest are closed
    // at once without the polite message.
    let mut text = String::from("service lines\nlimit max-conns 1\nlimit backlog 1000\n\n");
    for i in 0..200 {
        text.push_str(&format!("c{i} connect\nc{i} wait 50ms\nc{i} close\n"));
    }
    let mut s = common::scenario(&text);
    s.config.strict = false;
    let run = s.run();
    assert_pass(&run);
    assert_eq!(run.driver_stats().refused(), 199);
    let told = run
        .clients()
        .iter()
        .filter(|c| String::from_utf8_lossy(&c.received).contains("max number of clients"))
        .count();
    assert!(told > 0, "some were told why");
    assert!(
        told < 199,
        "past the cap the rest were closed without a word"
    );
}

#[test]
fn a_connection_left_in_the_backlog_is_held_unless_its_client_reset_it() {
    // The listener never accepts again (EMFILE for good): a client that closes leaves its
    // connection queued, which the server still holds; one that resets takes it away.
    let left = "service echo\n\n! accept-emfile 1000000\na connect\na wait 10ms\na END\n";
    let run = common::run(&left.replace("END", "close"));
    match &run.verdict() {
        Verdict::Fail(Failure::Leak { client }) => assert_eq!(client, "a"),
        other => panic!("expected a leak, got {other:?}"),
    }
    assert_pass(&common::run(&left.replace("END", "reset")));
}

#[test]
fn a_level_triggered_poll_scans_only_what_is_registered() {
    // Twenty clients one after the other: never more than one registered beside the listener.
    let mut text = String::from("service echo\nsemantics poll\n\n");
    for i in 0..20 {
        text.push_str(&format!(
            "c{i} wait {}ms\nc{i} connect\nc{i} recv \"hello\"\nc{i} close\n",
            i * 10
        ));
    }
    let run = common::run(&text);
    assert_pass(&run);
    let (scanned, polls) = (run.net_stats().scanned(), run.net_stats().polls());
    assert!(
        scanned <= 2 * polls,
        "{scanned} descriptors scanned in {polls} polls"
    );
}

#[test]
fn the_listener_is_reported_only_with_a_connection_to_accept() {
    for semantics in [Semantics::Poll, Semantics::EpollEt] {
        let mut text = format!("service echo\nsemantics {semantics}\n\n");
        for c in ["a", "b", "c"] {
            text.push_str(&format!("{c} connect\n{c} recv \"hello\"\n{c} send \"x\"\n{c} recv \"xresponse\"\n{c} close\n"));
        }
        for seed in 0..10 {
            let run = with_detail(&text.replace("\n\n", &format!("\nseed {seed}\n\n")));
            assert_pass(&run);
            let lines = detail(&run);
            for (i, line) in lines.iter().enumerate() {
                if line.starts_with("poll: ") && line.contains("listener r") {
                    let next = lines[i + 1..]
                        .iter()
                        .find(|l| l.starts_with("poll:") || l.starts_with("accept: fd "));
                    assert!(
                        next.is_some_and(|l| l.starts_with("accept: fd ")),
                        "{semantics} seed {seed}: the listener reported with nothing to accept"
                    );
                }
            }
        }
    }
}

#[test]
fn closing_with_answers_unread_resets_and_closing_after_reading_them_does_not() {
    let unread =
        common::run("service echo\n\na connect\na pause\na send \"x\"\na wait 5ms\na close\n");
    assert_pass(&unread);
    assert_eq!(
        unread.driver_stats().resets(),
        1,
        "unread answers: the close is a reset"
    );
    let read = common::run(
        "service echo\n\na connect\na recv \"hello\"\na send \"x\"\na recv \"xresponse\"\na close\n",
    );
    assert_pass(&read);
    assert_eq!(read.driver_stats().resets(), 0);
}

#[test]
fn answers_for_several_connections_in_one_burst_each_reach_their_own() {
    let text = "service buggy\n\na connect\na recv \"hello\"\nb connect\nb recv \"hello\"\nc connect\nc recv \"hello\"\nc wait 5ms\nc send \"x\"\na recv \"x\"\nb recv \"x\"\nc recv \"x\"\nb wait 5ms\nb send \"y\"\na recv \"y\"\nb recv \"y\"\nc recv \"y\"\na wait 20ms\nb wait 20ms\nc wait 20ms\na close\nb close\nc close\n";
    for seed in 0..10 {
        let mut s = buggy_scenario("broadcast", text);
        s.config.seed = seed;
        assert_pass(&s.run());
    }
}

#[test]
fn a_send_after_the_service_s_own_close_is_a_failure_with_its_size_logged() {
    let text = "service buggy\n\na connect\na recv \"hello\"\na send \"x\"\na recv-eof\na close\n";
    let mut s = buggy_scenario("close-then-send", text);
    s.config.sim.detail = true;
    let run = s.run();
    match &run.verdict() {
        Verdict::Fail(Failure::SendAfterClose { count }) => assert_eq!(*count, 1),
        other => panic!("expected a send after close, got {other:?}"),
    }
    assert!(
        detail(&run)
            .iter()
            .any(|l| l.ends_with("service sent 4 bytes after close; dropped")),
        "{:#?}",
        detail(&run)
    );
}

#[test]
fn on_linux_epoll_a_short_read_ends_the_drain() {
    // The same conversation: under the portable edge-triggered contract every drain ends in
    // a read that finds nothing; under Linux epoll a short read proves the socket empty.
    let text = "service echo\nsemantics SEM\n\na connect\na recv \"hello\"\na send \"x\"\na recv \"xresponse\"\na wait 1ms\na send \"y\"\na recv \"yresponse\"\na close\n";
    let reads = |semantics: Semantics| {
        let run = common::run(&text.replace("SEM", &semantics.to_string()));
        assert_pass(&run);
        run.driver_stats().reads()
    };
    let (portable, linux) = (reads(Semantics::EpollEt), reads(Semantics::EpollLinux));
    assert!(
        linux < portable,
        "reads: {linux} under epoll-linux, {portable} under epoll-et"
    );
}

/// A client that does not read sends `k` bytes to `echo` over a 64-byte network: the greeting
/// (5) and 59 bytes of the answer (`k` + 8) fit, the rest stays pending in the server.
fn backlogged(limits: &str, k: usize) -> Run {
    let mut s = common::scenario(&format!(
        "service echo\nlimit buffer 64\n{limits}\n\na connect\na pause\na send \"{}\"\na wait 5ms\na close\n",
        "x".repeat(k)
    ));
    s.config.sim.detail = true;
    s.config.strict = false;
    s.run()
}

#[test]
fn reading_pauses_just_above_the_high_water_mark_not_at_it() {
    let pauses = |k| -> Vec<String> {
        detail(&backlogged("limit high-water 10", k))
            .into_iter()
            .filter(|l| l.ends_with("pausing reads"))
            .collect()
    };
    assert_eq!(
        pauses(61),
        Vec::<String>::new(),
        "10 bytes pending is at the mark, not over it"
    );
    let over = pauses(62);
    assert_eq!(over.len(), 1, "11 bytes pending is over the mark");
    assert!(
        over[0].ends_with(": 11 bytes pending, over 10: pausing reads"),
        "{over:?}"
    );
}

#[test]
fn output_is_cut_just_above_the_hard_limit_not_at_it() {
    let run = backlogged("limit high-water 1000\nlimit hard-limit 70", 62);
    assert_eq!(run.driver_stats().limited(), 0, "70 bytes is at the limit");
    let run = backlogged("limit high-water 1000\nlimit hard-limit 70", 63);
    assert_eq!(run.driver_stats().limited(), 1, "71 bytes is over it");
    assert!(
        detail(&run)
            .iter()
            .any(|l| l.ends_with("output limit: 71 bytes pending, limit 70; closing")),
        "{:#?}",
        detail(&run)
    );
}

#[test]
fn reading_resumes_once_output_drains_to_half_the_high_water_mark() {
    // Answers pile up while the client does not read; once it reads again, the server resumes
    // reading as soon as half the mark is left, before it has written everything.
    let mut s = common::scenario(&format!(
        "service echo\nlimit buffer 64\nlimit high-water 100\n\na connect\na pause\na send \"{}\"\na wait 5ms\na resume\na wait 5ms\na close\n",
        "x".repeat(200)
    ));
    s.config.sim.detail = true;
    s.config.strict = false;
    let run = s.run();
    let lines = detail(&run);
    assert!(
        lines.iter().any(|l| l.contains("pausing reads")),
        "{lines:#?}"
    );
    let resumed: Vec<usize> = lines
        .iter()
        .filter_map(|l| {
            let (head, _) = l.split_once(" bytes pending, at most half of 100: resuming reads")?;
            head.rsplit(' ').next()?.parse().ok()
        })
        .collect();
    assert!(!resumed.is_empty(), "{lines:#?}");
    assert!(
        resumed.iter().all(|&n| n <= 50) && resumed.iter().any(|&n| n > 0),
        "resumed with {resumed:?} bytes pending"
    );
}

#[test]
fn refusals_one_after_another_are_all_polite() {
    // Each refused connection is closed before the next arrives: the count of refusals in
    // progress goes back down, so the flood cap never applies.
    let mut text =
        String::from("service lines\nlimit max-conns 1\n\na connect\na recv \"hello\\n\"\n");
    for i in 0..100 {
        text.push_str(&format!(
            "c{i} wait {}ms\nc{i} connect\nc{i} recv \"error: max number of clients reached\\n\"\nc{i} recv-eof\nc{i} close\n",
            2 * i + 1
        ));
    }
    text.push_str("a wait 300ms\na close\n");
    let run = common::run(&text);
    assert_pass(&run);
    assert_eq!(run.driver_stats().refused(), 100);
}

#[test]
fn a_lingering_close_ends_at_its_deadline_not_before_and_not_never() {
    // A line too long: the server answers, shuts down its side and lingers 50 ms reading what
    // still comes, then closes, while the client keeps its end open for 200 ms.
    let run = with_detail(
        "service lines\nlimit max-line 8\nlimit linger-ms 50\n\na connect\na recv \"hello\\n\"\na send \"123456789\\n\"\na recv \"error: line too long (limit 8 bytes)\\n\"\na recv-eof\na wait 200ms\na close\n",
    );
    assert_pass(&run);
    let closed: Vec<f64> = detail(&run)
        .iter()
        .filter(|l| l.ends_with("] a: closed"))
        .filter_map(|l| l.strip_prefix('[')?.split_once("s]")?.0.parse().ok())
        .collect();
    assert_eq!(closed.len(), 1, "{:#?}", detail(&run));
    assert!(
        (0.050..0.100).contains(&closed[0]),
        "closed at {}s: the linger is 50 ms and the client holds on for 200 ms",
        closed[0]
    );
}

#[test]
fn closing_while_the_client_s_bytes_are_in_flight_is_a_reset() {
    // The idle deadline closes the connection while a delayed send is still on its way: the
    // server's kernel answers the arriving bytes with a reset. With nothing in flight, an EOF.
    let run = common::run(
        "service lines\nlimit idle-timeout-ms 50\n\na connect\na recv \"hello\\n\"\na wait 45ms\n! a delay 20ms\na send \"x\"\na recv-reset\na close\n",
    );
    assert_pass(&run);
    let run = common::run(
        "service lines\nlimit idle-timeout-ms 50\n\na connect\na recv \"hello\\n\"\na recv-eof\na close\n",
    );
    assert_pass(&run);
}

#[test]
fn an_answer_to_a_connection_the_driver_closed_is_too_late_not_a_bug() {
    let text = "service buggy\nlimit hard-limit 50\n\nb connect\nb recv \"hello\"\na wait 1ms\na connect\na recv \"hello\"\na send \"go\"\nb recv \"x\"\nb close\na wait 5ms\na close\n";
    let mut s = buggy_scenario("burst", text);
    s.config.strict = false;
    let run = s.run();
    assert_pass(&run);
    assert_eq!(
        run.driver_stats().limited(),
        1,
        "a was cut by the hard limit"
    );
    assert_eq!(run.driver_stats().sends_to_closed(), 0);
}

#[test]
fn a_report_says_whether_it_is_for_reading_writing_or_both() {
    // The first answer's write would block; input arrives while the driver waits to write.
    let run = with_detail(
        "service echo\nsemantics poll\n\na connect\na recv \"hello\"\n! a write-block\na send \"x\"\na send \"y\"\na recv-len 18\na close\n",
    );
    assert_pass(&run);
    let polls: Vec<String> = detail(&run)
        .into_iter()
        .filter(|l| l.starts_with("poll: "))
        .collect();
    assert!(polls.iter().any(|l| l == "poll: a rw"), "{polls:#?}");
    assert!(polls.iter().any(|l| l == "poll: a r"), "{polls:#?}");
}

#[test]
fn a_reset_with_nothing_to_read_still_wakes_the_server() {
    let run = common::run("service echo\n\na connect\na recv \"hello\"\na wait 1ms\na reset\n");
    assert_pass(&run);
    assert_eq!(run.driver_stats().resets(), 1);
    assert_eq!(run.driver_stats().closed(), 1);
}

#[test]
fn connects_beyond_the_listen_backlog_wait() {
    // Nothing is ever accepted; a backlog of 2 holds two connections and the others wait.
    let mut text = String::from("service echo\nlimit backlog 2\n\n! accept-emfile 1000000\n");
    for c in ["a", "b", "c", "d"] {
        text.push_str(&format!("{c} connect\n{c} wait 10ms\n{c} reset\n"));
    }
    let mut s = common::scenario(&text);
    s.config.strict = false;
    let run = s.run();
    let connected = run
        .clients()
        .iter()
        .filter(|c| {
            c.timeline
                .iter()
                .any(|e| *e.kind() == muxsim::world::EventKind::Connected)
        })
        .count();
    assert_eq!(connected, 2, "{}", run.verdict());
}
