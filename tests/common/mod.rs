//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use muxsim::backend::mio::MioBackend;
use muxsim::core::Service;
use muxsim::driver::{Config, Driver};
use muxsim::scenario::Scenario;
use muxsim::service::{Registry, ServiceDescriptor};
use muxsim::transcript::{self, Transcript};
use muxsim::world::{Run, TraceKind};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every fixture under `fixtures/` (not the peers), sorted.
pub fn fixtures() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures"))
        .expect("fixtures/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txn"))
        .collect();
    found.sort();
    found
}

#[track_caller]
pub fn load(path: &Path) -> Transcript {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    transcript::parse(&text).unwrap_or_else(|e| panic!("{}:{e}", path.display()))
}

/// A built-in service by name.
#[track_caller]
pub fn builtin(name: &str) -> ServiceDescriptor {
    Registry::builtin()
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no built-in service `{name}`"))
}

#[track_caller]
pub fn scenario(text: &str) -> Scenario {
    let t = transcript::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    Scenario::from_transcript(&t, &Registry::builtin()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Runs a transcript in the simulator.
#[track_caller]
pub fn run(text: &str) -> Run {
    scenario(text).run()
}

/// insta settings that keep snapshots in the top-level `snapshots/` folder.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// A child process killed and reaped when dropped, however the test ends.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A test's budget of wall time: past it, the whole test binary stops with a message naming
/// the test, instead of hanging (a driver that loops inside one turn cannot be interrupted
/// any other way). Dropping the guard ends the watch.
pub struct Watchdog(std::sync::Arc<std::sync::atomic::AtomicBool>);

/// Starts a [`Watchdog`] for the test `name`.
pub fn watchdog(name: impl Into<String>, budget: Duration) -> Watchdog {
    let name = name.into();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&done);
    std::thread::spawn(move || {
        let deadline = Instant::now() + budget;
        while Instant::now() < deadline {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("test {name} ran past its budget of {budget:?}: stopping the test binary");
        std::process::exit(101);
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A process killed when dropped.
pub struct Peer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// Starts a Python port of a seed server on a free port.
#[track_caller]
pub fn python_seed(n: u32) -> Peer {
    let script = root().join(format!("fixtures/peers/seed{n}.py"));
    let mut child = Command::new("python3")
        .arg(script)
        .arg("0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the peer prints its port");
    let port: u16 = line.trim().parse().expect("a port number");
    Peer {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// Connects with short timeouts, so no test can hang on a socket.
#[track_caller]
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
}

/// Reads until `want` bytes arrived, EOF, or the deadline.
pub fn read_n(stream: &mut TcpStream, want: usize, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    got
}

/// Reads until EOF or the deadline; true when EOF came.
pub fn read_to_eof(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// Writes, ignoring a peer that went away.
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes);
}

/// Waits until `cond` holds, polling, for at most `within`; returns whether it held.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// A driver in the test's own thread, so a test can look at its state between turns.
pub fn local<S: Service>(service: S, config: Config) -> (Driver<MioBackend, S>, SocketAddr) {
    let backend = MioBackend::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let addr = backend.local_addr();
    (Driver::new(backend, service, config), addr)
}

/// Turns the driver until `done` holds or `within` passes; returns whether it held. A turn
/// that never returns stops the test binary with a message (see [`watchdog`]).
#[track_caller]
pub fn drive<S: Service>(
    driver: &mut Driver<MioBackend, S>,
    within: Duration,
    mut done: impl FnMut(&Driver<MioBackend, S>) -> bool,
) -> bool {
    let _watch = watchdog(
        format!("driven at {}", std::panic::Location::caller()),
        within + Duration::from_secs(30),
    );
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        driver.turn(Some(Duration::from_millis(5))).expect("poll");
        while driver.poll_log().is_some() {}
        if done(driver) {
            return true;
        }
    }
    done(driver)
}

/// A run's trace as lines, for failure messages.
pub fn trace_text(run: &Run) -> String {
    let mut out = String::new();
    for event in run.trace() {
        let line = match &event.kind() {
            TraceKind::Client { client, step } => {
                format!("{} {step}", run.clients()[client.index()].name)
            }
            TraceKind::Fault { client, spec, at } => match client {
                Some(c) => format!("! {} {spec} at {at}", run.clients()[c.index()].name),
                None => format!("! {spec} at {at}"),
            },
            TraceKind::Server(text) | TraceKind::Log(text) => format!("# {text}"),
            _ => continue,
        };
        out.push_str(&format!("[{}] {line}\n", event.at()));
    }
    out
}

/// Fails with the run's verdict and full trace unless it passed.
#[track_caller]
pub fn assert_pass(run: &Run) {
    assert!(
        run.verdict().is_pass(),
        "{}\n{}",
        run.verdict(),
        trace_text(run)
    );
}

/// Waits for a child process to exit, at most `within`.
#[track_caller]
pub fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Property-test settings: `PROPTEST_CASES` scales the run (the default keeps the suite
/// fast), and failing cases are saved in `regressions` (a file under
/// `proptest-regressions/`), where they are committed and replayed first next time.
pub fn proptest_config(
    regressions: &'static str,
    default_cases: u32,
) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_cases),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(regressions),
        )),
        ..proptest::test_runner::Config::default()
    }
}

/// How many seeds (or cases) a test tries: `default`, or the number in the environment
/// variable `var` (`MUXSIM_SEEDS`, `MUXSIM_PEER_SEEDS`, ...) for a longer campaign. A value that
/// is not a number is an error, not a silent default.
pub fn count_from_env(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?}: expected a number of seeds")),
        Err(_) => default,
    }
}

/// A `muxsim serve` process on a free port, stopped with SIGTERM when dropped.
pub struct Serve {
    pub child: std::process::Child,
    pub addr: String,
}

impl Serve {
    pub fn start(service: &str) -> Serve {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("muxsim"))
            .args(["serve", "--service", service, "--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().unwrap();
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Keep reading the log so the server never writes to a closed pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("the address is printed")
            .to_string();
        assert!(line.starts_with("muxsim: serving"), "{line}");
        Serve { child, addr }
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        wait_exit(&mut self.child, Duration::from_secs(5))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service for tests: counts its connections and, on each read, does what `on_read` says
/// with its outbox (panicking, sending, closing...).
pub struct OnRead {
    open: usize,
    out: muxsim::core::Outbox,
    on_read: fn(&mut muxsim::core::Outbox, muxsim::core::ConnId, &[u8]),
}

impl OnRead {
    /// A descriptor named `name` for the service.
    pub fn service(
        name: &str,
        on_read: fn(&mut muxsim::core::Outbox, muxsim::core::ConnId, &[u8]),
    ) -> ServiceDescriptor {
        ServiceDescriptor::new(name, move |_| OnRead {
            open: 0,
            out: muxsim::core::Outbox::default(),
            on_read,
        })
    }
}

impl Service for OnRead {
    fn handle_connected(&mut self, _now: muxsim::time::Instant, _conn: muxsim::core::ConnId) {
        self.open += 1;
    }
    fn handle_received(
        &mut self,
        _now: muxsim::time::Instant,
        conn: muxsim::core::ConnId,
        bytes: &[u8],
    ) {
        (self.on_read)(&mut self.out, conn, bytes);
    }
    fn handle_closed(
        &mut self,
        _now: muxsim::time::Instant,
        _conn: muxsim::core::ConnId,
        _reason: muxsim::core::CloseReason,
    ) {
        self.open -= 1;
    }
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<muxsim::core::Output> {
        self.out.poll(buf)
    }
    fn tracked_connections(&self) -> usize {
        self.open
    }
}

/// The `muxsim` binary as a user runs it from the repository root: no `MUXSIM_*` default
/// and no `NO_COLOR` leaks in from the environment, and no test can hang on it.
pub fn muxsim() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("muxsim").expect("the binary is built");
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("MUXSIM_") {
            cmd.env_remove(&var);
        }
    }
    cmd.env_remove("NO_COLOR");
    cmd.current_dir(root());
    cmd.timeout(Duration::from_secs(240));
    cmd
}

/// Whether `program` is installed; when it is not, false with a message on stderr, unless the
/// environment variable `require` is set (CI sets it where it installed the program): then
/// the test fails instead of passing without having run.
pub fn available(program: &str, require: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    assert!(
        std::env::var_os(require).is_none(),
        "{program} is not installed and {require} is set"
    );
    eprintln!("skipped: {program} is not installed (apt-get install it to run this test)");
    false
}
