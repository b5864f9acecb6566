//! The faults a readiness server meets every day, each with its correct behaviour proven on
//! real sockets (R), in the simulator (S), or both. Test names follow the fault.

mod common;

use common::assert_pass;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{connect, drive, local, read_n, read_to_eof, send};
use muxsim::backend::{ACCEPT_RETRY_ERRNOS, is_accept_exhausted, is_accept_retry};
use muxsim::check::Campaign;
use muxsim::core::Service;
use muxsim::core::echo::Echo;
use muxsim::core::lines::Lines;
use muxsim::driver::Config;
use muxsim::fault::{Family, FaultFamilies, FaultPlan};
use muxsim::tcp::ServerHandle;

const WAIT: Duration = Duration::from_secs(5);

#[track_caller]
fn campaign_passes(service: &str, families: FaultFamilies, seeds: u64) {
    let report = Campaign::builtin(service)
        .unwrap()
        .faults(families)
        .clients(4)
        .seeds(0, seeds)
        .run();
    assert!(report.is_clean(), "{service} {families}: {report}");
}

// 1 -------------------------------------------------------------------------------------------

#[test]
fn peer_reset_while_reading_frees_state_and_slot() {
    // R: SO_LINGER 0 mid-request; the connection count returns to where it was.
    let (mut driver, addr) = local(Lines::default(), Config::default());
    let mut c = connect(addr);
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 1));
    assert_eq!(read_n(&mut c, 6, WAIT), b"hello\n");
    send(&mut c, b"half a line, never finished");
    assert!(drive(&mut driver, WAIT, |d| d.stats().bytes_read() > 0));
    assert_eq!(driver.service().tracked_connections(), 1);
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 0));
    assert_eq!(
        driver.service().tracked_connections(),
        0,
        "its state is freed"
    );
    assert_eq!(driver.stats().resets(), 1);
    // S: ECONNRESET at random points never leaks a connection or its state.
    campaign_passes("lines", FaultFamilies::NONE.with(Family::Reset), 300);
}

// 2 -------------------------------------------------------------------------------------------

#[test]
fn closing_with_unread_input_lingers_so_the_error_is_read() {
    let server = ServerHandle::start(Lines::with_max_line(16), Config::default()).unwrap();
    let mut c = connect(server.addr());
    assert_eq!(read_n(&mut c, 6, WAIT), b"hello\n");
    // A protocol error, then a megabyte the server will never read.
    send(&mut c, &[b'x'; 40]);
    let junk = vec![b'j'; 1 << 20];
    let writer = {
        let mut c = c.try_clone().unwrap();
        std::thread::spawn(move || {
            c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = c.write_all(&junk);
        })
    };
    let (got, eof) = read_to_eof(&mut c, WAIT);
    writer.join().unwrap();
    assert_eq!(got, b"error: line too long (limit 16 bytes)\n");
    assert!(eof);
}

// 3 -------------------------------------------------------------------------------------------

#[test]
fn epipe_on_write_closes_and_is_never_retried() {
    // R: a large reply pending; the client reads a little, then resets.
    let (mut driver, addr) = local(Echo::default(), Config::default());
    let mut c = connect(addr);
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 1));
    let big = vec![b'x'; 200 * 1024];
    let writer = {
        let mut c = c.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = c.write_all(&big);
        })
    };
    assert!(drive(&mut driver, WAIT, |d| d.pending_output() > 0
        || d.stats().bytes_read() >= 200 * 1024));
    let _ = read_n(&mut c, 1000, Duration::from_millis(200));
    writer.join().unwrap();
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 0));
    assert_eq!(driver.stats().resets(), 1, "closed once, as a reset");
    assert_eq!(driver.pending_output(), 0, "nothing kept for the dead peer");
    // S: EPIPE on random writes.
    let s = common::scenario(
        "service echo\n\na connect\n! a write-reset at 2\na recv \"hello\"\na send \"x\"\na recv-reset\nb wait 1ms\nb connect\nb recv \"hello\"\nb close\n",
    );
    assert_pass(&s.run());
}

// 4 -------------------------------------------------------------------------------------------

#[test]
fn half_close_flushes_every_answer_then_closes() {
    let server = ServerHandle::start(Lines::default(), Config::default()).unwrap();
    let mut c = connect(server.addr());
    assert_eq!(read_n(&mut c, 6, WAIT), b"hello\n");
    send(&mut c, b"PING\nPONG\n");
    c.shutdown(Shutdown::Write).unwrap();
    let (got, eof) = read_to_eof(&mut c, WAIT);
    assert_eq!(got, b"PINGresponse\nPONGresponse\n");
    assert!(eof);
    // S: every seed, every semantics, clients that half-close at random.
    campaign_passes("lines", FaultFamilies::NONE.with(Family::HalfClose), 300);
}

// 5 -------------------------------------------------------------------------------------------

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; after the ")" they are at 11 and 12. A probe that
    // read nothing would let a spinning server pass.
    let field = |i: usize| -> u64 {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("/proc/{pid}/stat has no field {}: {stat}", i + 3))
    };
    field(11) + field(12)
}

#[test]
fn accept_emfile_backs_off_without_spinning_and_resumes() {
    // R: a server allowed 16 descriptors, and 30 clients.
    let bin = assert_cmd::cargo::cargo_bin("muxsim");
    // Killed and reaped however the test ends, a failed assertion included.
    let mut child = common::Reaped(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n 16 && exec '{}' serve --service echo --addr 127.0.0.1:0",
                bin.display()
            ))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.0.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr: std::net::SocketAddr = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    let clients: Vec<TcpStream> = (0..30).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_ticks(child.0.id());
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(child.0.id()) - before;
    // A spinning accept loop burns the whole second (100 ticks); backing off costs ~nothing.
    assert!(
        spent < 30,
        "server used {spent} ticks of CPU in one second while saturated"
    );
    drop(clients);
    // Accepts resume once descriptors free up.
    let mut fresh = None;
    let deadline = Instant::now() + WAIT;
    while fresh.is_none() && Instant::now() < deadline {
        let mut c = connect(addr);
        if read_n(&mut c, 5, Duration::from_millis(500)) == b"hello" {
            fresh = Some(c);
        }
    }
    assert!(fresh.is_some(), "accepting resumed");
}

// 6 -------------------------------------------------------------------------------------------

#[test]
fn accept_errors_econnaborted_and_friends_keep_the_listener() {
    for &errno in ACCEPT_RETRY_ERRNOS {
        let e = std::io::Error::from_raw_os_error(errno);
        assert!(is_accept_retry(&e), "{e}");
        assert!(!is_accept_exhausted(&e));
    }
    for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
        assert!(is_accept_exhausted(&std::io::Error::from_raw_os_error(
            errno
        )));
    }
    campaign_passes("echo", FaultFamilies::NONE.with(Family::Accept), 300);
}

// 7 -------------------------------------------------------------------------------------------

#[test]
fn eintr_on_every_call_changes_nothing() {
    campaign_passes("lines", FaultFamilies::NONE.with(Family::Eintr), 300);
}

// 8 -------------------------------------------------------------------------------------------

#[test]
fn spurious_wakeups_change_nothing_and_do_not_spin() {
    let campaign = Campaign::builtin("lines").unwrap().clients(3);
    for seed in 0..100 {
        let mut s = campaign.scenario(seed);
        s.config.plan = Some(FaultPlan::every(
            FaultFamilies::NONE.with(Family::Spurious),
            500_000,
        ));
        let (run, verdict) = campaign.check(&s);
        assert!(verdict.is_pass(), "seed {seed}: {verdict}");
        // Bounded work per byte: a handful of polls per read, never a spin.
        let bytes = run.driver_stats().bytes_read() + run.driver_stats().bytes_written() + 1;
        assert!(
            run.driver_stats().polls() <= 50 + bytes,
            "seed {seed}: {} polls",
            run.driver_stats().polls()
        );
    }
}

// 9 -------------------------------------------------------------------------------------------

/// Both clients' requests wait in their buffers when the server first reads them (a short
/// accept backoff lets them pile up); how much of `a`'s megabyte is read before `b`'s ping
/// is answered?
fn bytes_read_from_a_before_b_is_answered(read_budget: usize, seed: u64) -> usize {
    let a_line = "a".repeat(1 << 20);
    let text = format!(
        "service lines\nsemantics epoll-et\nseed {seed}\nlimit buffer 2000000\nlimit read-budget {read_budget}\nlimit max-line 2000000\n\n\
         ! accept-emfile 1\na connect\na send \"{a_line}\\n\"\nb wait 1ms\nb connect\nb send \"ping\\n\"\n\
         b recv \"hello\\npingresponse\\n\"\nb close\na recv \"hello\\n\"\na close\n"
    );
    let mut s = common::scenario(&text);
    s.config.sim.detail = true;
    let run = s.run();
    let mut from_a = 0;
    for e in run.trace() {
        if let muxsim::world::TraceKind::Server(line) = &e.kind() {
            if line.starts_with("write b: \"pingresponse") {
                return from_a;
            }
            if let Some(rest) = line.strip_prefix("read a: \"") {
                from_a += rest.len() - 1;
            }
        }
    }
    panic!("b was never answered: {}", run.verdict())
}

#[test]
fn edge_triggered_starvation_is_bounded_by_the_read_budget() {
    // S: find an interleaving where a's event comes first. Without a budget, all of a's
    // megabyte is read before b gets a word; with the default 64 KiB budget, one budget.
    let seed = (0..32)
        .find(|&seed| bytes_read_from_a_before_b_is_answered(usize::MAX / 2, seed) >= 1 << 20)
        .expect("some seed orders a's event first");
    let budgeted = bytes_read_from_a_before_b_is_answered(64 * 1024, seed);
    assert!(budgeted <= 64 * 1024, "{budgeted} bytes of a before b");
}

// 10 ------------------------------------------------------------------------------------------

#[test]
fn short_reads_and_writes_at_every_split_point() {
    let message = "one\ntwo\nthree\n";
    for split in 1..message.len() {
        for fault in ["short-read", "short-write"] {
            let s = common::scenario(&format!(
                "service lines\n\na connect\na recv \"hello\\n\"\n! a {fault} {split}\na send \"{}\"\na recv \"oneresponse\\ntworesponse\\nthreeresponse\\n\"\na close\n",
                message.replace('\n', "\\n")
            ));
            let run = s.run();
            assert_pass(&run);
        }
    }
    campaign_passes("lines", FaultFamilies::NONE.with(Family::ShortIo), 300);
}

// 11 ------------------------------------------------------------------------------------------

#[test]
fn slow_reader_pauses_then_hard_limit_cuts_with_a_log_line() {
    // R: above the high-water mark the server stops reading; the memory it holds is bounded.
    let config = Config::default();
    let high_water = config.out_high_water;
    let (mut driver, addr) = local(Echo::default(), config);
    let writer = std::thread::spawn(move || {
        let mut c = connect(addr);
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        let deadline = Instant::now() + Duration::from_secs(10);
        c.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        while sent < 32 << 20 && Instant::now() < deadline {
            match c.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        (c, sent)
    });
    let mut most = 0;
    let mut at_pause = None;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        driver.turn(Some(Duration::from_millis(5))).unwrap();
        while let Some(line) = driver.poll_log() {
            if line.text().contains("pausing reads") {
                at_pause.get_or_insert(driver.pending_output());
            }
        }
        most = most.max(driver.pending_output());
    }
    let (_client, sent) = writer.join().unwrap();
    let at_pause = at_pause.expect("the server stopped reading the slow client");
    // The client never reads, so what was queued when reading paused is still queued.
    assert!(
        at_pause > high_water / 2,
        "reads paused with {at_pause} bytes pending, high water {high_water}"
    );
    let bound = high_water + driver.config().read_chunk + 64;
    assert!(
        most <= bound,
        "pending output peaked at {most}, bound {bound}"
    );
    assert!(
        sent < 32 << 20,
        "the client was held back ({sent} bytes sent)"
    );

    // R: past the hard limit the connection is cut, with a log line.
    let config = Config {
        out_high_water: 8 << 20,
        out_hard_limit: 256 * 1024,
        ..Config::default()
    };
    let (mut driver, addr) = local(Echo::default(), config);
    assert_eq!(
        driver.config().out_hard_limit,
        256 * 1024,
        "the limits given"
    );
    let writer = std::thread::spawn(move || {
        let mut c = connect(addr);
        c.set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let chunk = vec![b'y'; 64 * 1024];
        // Enough to fill every kernel buffer on the way; stops once the server cuts us.
        let deadline = Instant::now() + Duration::from_secs(10);
        for _ in 0..1024 {
            if Instant::now() > deadline || c.write_all(&chunk).is_err() {
                break;
            }
        }
        c
    });
    let mut cut = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cut && Instant::now() < deadline {
        driver.turn(Some(Duration::from_millis(5))).unwrap();
        while let Some(line) = driver.poll_log() {
            cut |= line.text().starts_with("output limit");
        }
    }
    drop(writer.join().unwrap());
    assert!(cut, "the hard limit closed the connection with a log line");
    assert_eq!(driver.stats().limited(), 1);

    // S: the same in the simulator.
    let s = common::scenario(
        "service echo\nlimit buffer 16\nlimit high-water 100000\nlimit hard-limit 64\n\n\
         a connect\na pause\na send \"0123456789012345678901234567890123456789\"\na wait 1ms\n\
         a send \"0123456789012345678901234567890123456789\"\na wait 1ms\na resume\na recv \"hello\"\na close\n",
    );
    let run = s.run();
    assert_eq!(run.driver_stats().limited(), 1, "{}", run.verdict());
}

// 12 ------------------------------------------------------------------------------------------

#[test]
fn oversized_input_gets_an_error_and_a_close() {
    // R: just below and just above the limit.
    let server = ServerHandle::start(Lines::with_max_line(8), Config::default()).unwrap();
    let mut c = connect(server.addr());
    assert_eq!(read_n(&mut c, 6, WAIT), b"hello\n");
    send(&mut c, b"12345678\n");
    assert_eq!(read_n(&mut c, 17, WAIT), b"12345678response\n");
    send(&mut c, b"123456789\n");
    let (got, eof) = read_to_eof(&mut c, WAIT);
    assert_eq!(got, b"error: line too long (limit 8 bytes)\n");
    assert!(eof);
    // S: the fixture does the same under every semantics (tests/fixtures.rs).
    let t = common::load(&common::root().join("fixtures/lines-too-long.txn"));
    assert_pass(
        &muxsim::scenario::Scenario::from_transcript(&t, &muxsim::Registry::builtin())
            .unwrap()
            .run(),
    );
}

// 13 ------------------------------------------------------------------------------------------

#[test]
fn slowloris_and_idle_clients_are_closed_at_their_deadlines() {
    // S, virtual time: 1,000 clients each trickle one byte every 9 s; the 10 s request
    // deadline closes every one of them, and a fresh client is still served.
    let mut text = String::from("service lines\nlimit backlog 2000\nlimit steps 5000000\n\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "c{i} connect\nc{i} recv \"hello\\n\"\nc{i} send \"x\"\nc{i} wait 9s\nc{i} send \"x\"\nc{i} recv \"error: request timed out\\n\"\nc{i} recv-eof\nc{i} close\n"
        ));
    }
    text.push_str("fresh wait 11s\nfresh connect\nfresh recv \"hello\\n\"\nfresh send \"hi\\n\"\nfresh recv \"hiresponse\\n\"\nfresh close\n");
    let run = common::run(&text);
    assert_pass(&run);
    assert!(run.end().since_start() >= Duration::from_secs(10));

    // S: an idle client is closed at the idle timeout.
    let run = common::run(
        "service echo\nlimit idle-timeout-ms 300000\n\na connect\na recv \"hello\"\na recv-eof\na close\n",
    );
    assert_pass(&run);
    assert_eq!(run.driver_stats().limited(), 1);
    assert_eq!(run.end().since_start(), Duration::from_secs(300));

    // R: with short timeouts configured.
    let config = Config {
        idle_timeout: Some(Duration::from_millis(300)),
        ..Config::default()
    };
    let service = Lines::with_limits(1024, Some(Duration::from_millis(200)));
    let server = ServerHandle::start(service, config).unwrap();
    let mut drip = connect(server.addr());
    assert_eq!(read_n(&mut drip, 6, WAIT), b"hello\n");
    send(&mut drip, b"x");
    let (got, eof) = read_to_eof(&mut drip, WAIT);
    assert_eq!(got, b"error: request timed out\n");
    assert!(eof);
    let mut idle = connect(server.addr());
    let (got, eof) = read_to_eof(&mut idle, WAIT);
    assert_eq!(got, b"hello\n");
    assert!(eof, "the idle client is closed");
}

// 14 ------------------------------------------------------------------------------------------

#[test]
fn past_max_conns_new_clients_are_refused_clearly() {
    let config = Config {
        max_conns: 10,
        ..Config::default()
    };
    let server = ServerHandle::start(Echo::default(), config).unwrap();
    let mut clients: Vec<TcpStream> = (0..50).map(|_| connect(server.addr())).collect();
    let (mut served, mut refused) = (0, 0);
    for c in &mut clients {
        let first = read_n(c, 5, WAIT);
        if first == b"hello" {
            served += 1;
        } else {
            let (rest, eof) = read_to_eof(c, WAIT);
            let mut all = first;
            all.extend(rest);
            assert_eq!(all, b"error: max number of clients reached\n");
            assert!(eof);
            refused += 1;
        }
    }
    assert_eq!((served, refused), (10, 40));
    for c in &mut clients {
        send(c, b"x");
    }
    let answered = clients
        .iter_mut()
        .map(|c| read_n(c, 9, Duration::from_millis(500)))
        .filter(|got| got == b"xresponse")
        .count();
    assert_eq!(answered, 10, "the admitted clients are still served");
    // S: the limit, just below and just above.
    let script = |limit: u32, b_sees: &str| {
        format!(
            "service echo\nlimit max-conns {limit}\n\na connect\na recv \"hello\"\na wait 10ms\na close\nb wait 1ms\nb connect\n{b_sees}b close\n"
        )
    };
    assert_pass(&common::run(&script(2, "b recv \"hello\"\n")));
    assert_pass(&common::run(&script(
        1,
        "b recv \"error: max number of clients reached\\n\"\nb recv-eof\n",
    )));
}

// 15: connect/close churn is tests/churn.rs, alone in its process to count descriptors.

// 16 ------------------------------------------------------------------------------------------

/// `muxsim chaos` against `target` for two seconds, as JSON.
fn chaos(target: std::net::SocketAddr, clients: u32) -> (Option<i32>, serde_json::Value) {
    let out = common::muxsim()
        .args([
            "chaos",
            "--target",
            &target.to_string(),
            "--service",
            "echo",
        ])
        .args([
            "--clients",
            &clients.to_string(),
            "--duration",
            "2s",
            "--seed",
            "1",
        ])
        .args(["--format", "json"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

#[test]
fn chaos_against_muxsim_serve_loses_nothing() {
    let server = ServerHandle::start(Echo::default(), Config::default()).unwrap();
    let (code, report) = chaos(server.addr(), 8);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["clean"], true, "{report}");
    assert!(report["owed"].as_u64().unwrap() > 50, "{report}");
    assert!(
        report["sessions"].as_object().unwrap().len() >= 6,
        "every kind of client ran: {report}"
    );
}

#[test]
fn chaos_shows_the_python_seed_server_4_crashing() {
    let peer = common::python_seed(4);
    let (code, report) = chaos(peer.addr, 4);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["survived"], false, "{report}");
    assert!(
        report["died_after_s"].as_f64().is_some_and(|t| t < 2.0),
        "the report says when the server died: {report}"
    );
}

// Work no readiness event announces ---------------------------------------------------------

#[test]
fn the_driver_reports_work_that_no_readiness_event_will_announce() {
    // A connection left over its read budget: its input waits in the kernel, and an
    // edge-triggered backend will not report it again.
    let config = Config {
        read_budget: 64,
        read_chunk: 64,
        idle_timeout: None,
        ..Config::default()
    };
    let (mut driver, addr) = local(Echo::default(), config);
    let mut c = connect(addr);
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 1
        && !d.has_work()));
    send(&mut c, &[b'x'; 4096]);
    assert!(drive(&mut driver, WAIT, |d| d.stats().bytes_read() > 0));
    let read = driver.stats().bytes_read();
    assert!(
        read < 4096,
        "a budget per read, {read} bytes read in a turn"
    );
    assert!(driver.has_work(), "the rest of the input is owed a read");
    assert!(drive(&mut driver, WAIT, |d| d.stats().bytes_read() == 4096
        && !d.has_work()));

    // Connections left in the accept queue past the per-turn count.
    let config = Config {
        accept_per_turn: 1,
        idle_timeout: None,
        ..Config::default()
    };
    let (mut driver, addr) = local(Echo::default(), config);
    // Each connect returns once the kernel has queued the connection.
    let _clients: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() > 0));
    assert_eq!(driver.live_connections(), 1, "one accept per turn");
    assert!(driver.has_work(), "two connections wait to be accepted");
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 3
        && !d.has_work()));

    // A deadline that has passed.
    let config = Config {
        idle_timeout: Some(Duration::from_millis(50)),
        ..Config::default()
    };
    let (mut driver, addr) = local(Echo::default(), config);
    let _c = connect(addr);
    // A connection just accepted is read once unasked (its input may predate the
    // registration); after that the idle deadline is all that is left.
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 1
        && !d.has_work()));
    std::thread::sleep(Duration::from_millis(80));
    assert!(driver.has_work(), "the idle deadline has passed");
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 0));
}

// Poll errors --------------------------------------------------------------------------------

/// The real backend, with the next poll's result chosen by the test.
struct PollFails {
    inner: muxsim::backend::mio::MioBackend,
    next: Option<i32>,
}

impl muxsim::backend::Backend for PollFails {
    type Stream = <muxsim::backend::mio::MioBackend as muxsim::backend::Backend>::Stream;

    fn now(&self) -> muxsim::time::Instant {
        self.inner.now()
    }
    fn poll(
        &mut self,
        events: &mut Vec<muxsim::backend::Event>,
        timeout: Option<Duration>,
    ) -> std::io::Result<()> {
        match self.next.take() {
            Some(errno) => Err(std::io::Error::from_raw_os_error(errno)),
            None => self.inner.poll(events, timeout),
        }
    }
    fn accept(&mut self) -> std::io::Result<Self::Stream> {
        self.inner.accept()
    }
    fn set_accepting(&mut self, on: bool) -> std::io::Result<()> {
        self.inner.set_accepting(on)
    }
    fn register(
        &mut self,
        stream: &mut Self::Stream,
        token: muxsim::backend::Token,
        interest: muxsim::backend::Interest,
    ) -> std::io::Result<()> {
        self.inner.register(stream, token, interest)
    }
    fn reregister(
        &mut self,
        stream: &mut Self::Stream,
        token: muxsim::backend::Token,
        interest: muxsim::backend::Interest,
    ) -> std::io::Result<()> {
        self.inner.reregister(stream, token, interest)
    }
    fn read(&mut self, stream: &mut Self::Stream, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(stream, buf)
    }
    fn write(&mut self, stream: &mut Self::Stream, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(stream, buf)
    }
    fn shutdown_write(&mut self, stream: &mut Self::Stream) -> std::io::Result<()> {
        self.inner.shutdown_write(stream)
    }
    fn close(&mut self, stream: Self::Stream) {
        self.inner.close(stream)
    }
    fn describe(&self, stream: &Self::Stream) -> String {
        self.inner.describe(stream)
    }
}

#[test]
fn eintr_from_poll_is_an_empty_wake_up_and_any_other_poll_error_is_returned() {
    let inner =
        muxsim::backend::mio::MioBackend::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .unwrap();
    let backend = PollFails { inner, next: None };
    let mut driver = muxsim::driver::Driver::new(backend, Echo::default(), Config::default());
    let zero = Some(Duration::ZERO);
    driver.turn(zero).unwrap();
    driver.turn(zero).unwrap();
    assert_eq!(driver.stats().polls(), 2, "one poll per turn");

    driver.backend_mut().next = Some(libc::EINTR);
    driver.turn(zero).expect("EINTR is an empty wake-up");
    assert_eq!(driver.stats().polls(), 3);

    driver.backend_mut().next = Some(libc::EBADF);
    let err = driver
        .turn(zero)
        .expect_err("EBADF from poll is the caller's to see");
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    // The driver is still whole: the next turn polls again.
    driver.turn(zero).unwrap();
    assert_eq!(driver.stats().polls(), 5);
}
