//! The server under test: a process started with the interposition library, the page that
//! tells the library the seed and the fault rates, the channel the library reports on, and
//! what `/proc` says about the process (CPU time, sockets, memory).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fault::{FaultKind, FaultSpec};

use super::wire::{
    EVENT_ABORT, EVENT_ACCEPT, EVENT_FAULT, EVENT_HELLO, EVENT_LISTEN, EVENT_MARK, EVENT_SPIN,
    MAGIC, PAGE, SLOT_ENABLED, SLOT_EPOCH, SLOT_MAGIC, SLOT_RATES, SLOT_SCOPE, SLOT_SEED,
};
pub(super) use super::wire::{OUTGOING_BASE, SCOPE_ACCEPTED, SCOPE_OUTGOING};

/// The page muxsim writes and the library reads: the seed, the fault rates, on or off.
pub(super) struct Control {
    base: *mut AtomicU64,
    path: PathBuf,
    _file: File,
}

// SAFETY: the mapping is shared memory used only through atomics.
unsafe impl Send for Control {}

impl Control {
    pub(super) fn create(path: PathBuf) -> std::io::Result<Control> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        file.set_len(PAGE as u64)?;
        // SAFETY: a fresh file of PAGE bytes, mapped shared for reading and writing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let control = Control {
            base: p.cast(),
            path,
            _file: file,
        };
        control.slot(SLOT_MAGIC).store(MAGIC, Ordering::Release);
        Ok(control)
    }

    fn slot(&self, i: usize) -> &AtomicU64 {
        // SAFETY: the page holds PAGE / 8 slots, mapped as long as `self` lives.
        unsafe { &*self.base.add(i) }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Starts seed `seed` (epoch `epoch`) with these rates (parts per million, in the wire's
    /// [`RATES`](super::wire::RATES) order).
    pub(super) fn begin(&self, epoch: u64, seed: u64, rates: [u64; 6], scope: u64) {
        self.slot(SLOT_ENABLED).store(0, Ordering::Release);
        self.slot(SLOT_SCOPE).store(scope, Ordering::Release);
        self.slot(SLOT_SEED).store(seed, Ordering::Release);
        for (i, rate) in rates.into_iter().enumerate() {
            self.slot(SLOT_RATES + i).store(rate, Ordering::Release);
        }
        self.slot(SLOT_EPOCH).store(epoch, Ordering::Release);
        self.slot(SLOT_ENABLED).store(1, Ordering::Release);
    }

    /// Switches faults off: every call goes straight through.
    pub(super) fn end(&self) {
        self.slot(SLOT_ENABLED).store(0, Ordering::Release);
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        // SAFETY: unmapping what `create` mapped.
        unsafe { libc::munmap(self.base.cast(), PAGE) };
    }
}

/// What the library reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// A process loaded the library.
    Hello,
    /// A process listens on this address.
    Listen { pid: i32, addr: SocketAddr },
    /// The server accepted connection `idx` (accept order in the epoch) from `port`.
    Accept {
        epoch: u64,
        idx: u64,
        port: Option<u16>,
    },
    /// The connection from `port` was aborted before accept.
    Abort { epoch: u64, port: Option<u16> },
    /// A fault on connection `who` (or the whole server), on call `call` of its kind.
    Fault {
        epoch: u64,
        who: Option<u64>,
        call: u64,
        spec: FaultSpec,
    },
    /// The process made `calls` calls on its sockets and waits in a row, within `nanos`, that
    /// moved no byte and accepted or closed nothing: `kinds` counts the waits, failed
    /// accepts, empty reads and empty writes among them. No more faults go into it this
    /// epoch.
    Spin {
        epoch: u64,
        calls: u64,
        nanos: u64,
        kinds: [u64; 4],
    },
    /// A fault on a connection the server made: its name, and whether it lost the
    /// connection (refused or reset).
    Outgoing {
        epoch: u64,
        name: String,
        lossy: bool,
    },
    /// muxsim's own mark `n`, sent after the run: every report the library made before it
    /// comes before it.
    Mark(u64),
}

fn parse_spec(words: &[&str]) -> Option<FaultSpec> {
    let kind = FaultKind::from_name(words.first()?)?;
    let count = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0);
    Some(kind.with(count, Duration::ZERO))
}

/// One event line: `listen PID ADDR`, `accept PID EPOCH IDX PORT`, `abort PID EPOCH PORT`,
/// `fault PID EPOCH WHO CALL SPEC...`, `hello PID`.
pub(super) fn parse_event(line: &str) -> Option<Event> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
    let port = |i: usize| words.get(i).and_then(|w| w.parse::<u16>().ok());
    Some(match *words.first()? {
        EVENT_HELLO => Event::Hello,
        EVENT_MARK => Event::Mark(num(1)?),
        EVENT_SPIN => Event::Spin {
            epoch: num(2)?,
            calls: num(3)?,
            nanos: num(4)?,
            kinds: [num(5)?, num(6)?, num(7)?, num(8)?],
        },
        EVENT_LISTEN => Event::Listen {
            pid: words.get(1)?.parse().ok()?,
            addr: words.get(2)?.parse().ok()?,
        },
        EVENT_ACCEPT => Event::Accept {
            epoch: num(2)?,
            idx: num(3)?,
            port: port(4),
        },
        EVENT_ABORT => Event::Abort {
            epoch: num(2)?,
            port: port(3),
        },
        EVENT_FAULT if num(3).is_some_and(|who| who >= OUTGOING_BASE) => {
            let name = words.get(5)?.to_string();
            Event::Outgoing {
                epoch: num(2)?,
                lossy: name.ends_with("-refused") || name.ends_with("-reset"),
                name,
            }
        }
        EVENT_FAULT => Event::Fault {
            epoch: num(2)?,
            who: num(3),
            call: num(4)?,
            spec: parse_spec(&words[5..])?,
        },
        _ => return None,
    })
}

/// A socket pair for the library's reports: the child's end (inherited by the server) and a
/// thread reading ours into a channel.
fn channel_pair() -> std::io::Result<(OwnedFd, Receiver<Event>)> {
    // Room for a burst of reports while the reading thread waits for a core: the library
    // never blocks, so a report that finds the buffer full is lost.
    const ROOM: libc::c_int = 4 << 20;
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into `fds`.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for (fd, option) in [
        (theirs.as_raw_fd(), libc::SO_SNDBUF),
        (ours.as_raw_fd(), libc::SO_RCVBUF),
    ] {
        // SAFETY: setting an integer option on a descriptor we own; a refusal keeps the
        // system's default, which is only smaller.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&ROOM as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("muxsim-run-events".to_string())
        .spawn(move || read_events(ours, tx))?;
    Ok((theirs, rx))
}

fn read_events(fd: OwnedFd, tx: Sender<Event>) {
    let mut buf = [0u8; 512];
    loop {
        // SAFETY: reading one datagram into `buf`.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n == 0 {
            return;
        }
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let text = String::from_utf8_lossy(&buf[..n as usize]);
        if let Some(event) = parse_event(&text)
            && tx.send(event).is_err()
        {
            return;
        }
    }
}

/// Reads reports for at most `within` until one is `wanted` (true) or time is up (false);
/// the others go to `keep`, muxsim's own marks excepted.
fn read_until(
    events: &Receiver<Event>,
    within: Duration,
    keep: &mut Vec<Event>,
    wanted: impl Fn(&Event) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if wanted(&event) => return true,
            Ok(Event::Mark(_)) => {}
            Ok(event) => keep.push(event),
            Err(_) => return false,
        }
    }
}

/// Lines of the server's output, the last ones kept.
type Tail = Arc<Mutex<VecDeque<String>>>;

const TAIL_LINES: usize = 40;

fn keep_tail(stream: impl std::io::Read + Send + 'static, tail: Tail, echo: bool, name: &str) {
    let _ = std::thread::Builder::new()
        .name(format!("muxsim-run-{name}"))
        .spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if echo {
                    eprintln!("server: {text}");
                }
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(text);
                line.clear();
            }
        });
}

/// A started server.
pub(super) struct Server {
    child: Child,
    /// The process that listens (the command itself, or one it started).
    pub(super) pid: i32,
    /// Where clients connect.
    pub(super) addr: SocketAddr,
    events: Receiver<Event>,
    /// Our copy of the library's end of the report channel.
    marker: OwnedFd,
    /// Marks sent so far.
    marks: u64,
    tail: Tail,
    /// Events read while waiting for the listen, kept for the caller.
    early: Vec<Event>,
}

/// A loopback address for a listener bound to "any".
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// How a process ended, for people.
fn describe_exit(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_name(signal)),
        _ => "ended".to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

impl Server {
    /// Starts `command` with the library at `library` preloaded, and waits (at most
    /// `timeout`) until it listens — on the address the library reports, or on `addr`.
    pub(super) fn start(
        command: &[OsString],
        library: &Path,
        control: &Control,
        addr: Option<SocketAddr>,
        timeout: Duration,
        echo: bool,
    ) -> Result<Server, String> {
        let (program, args) = command.split_first().ok_or("no command to run")?;
        let (theirs, events) =
            channel_pair().map_err(|e| format!("cannot make the event channel: {e}"))?;
        // The child keeps its end across exec.
        // SAFETY: F_SETFD on a descriptor we own.
        unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_SETFD, 0) };
        let mut preload = OsString::from(library);
        if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
            preload.push(":");
            preload.push(existing);
        }
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("LD_PRELOAD", preload)
            .env("MUXSIM_PRELOAD_CONTROL", control.path())
            .env("MUXSIM_PRELOAD_EVENTS", theirs.as_raw_fd().to_string())
            // Unbuffered output from Python servers, so a crash's last lines are seen.
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", program.to_string_lossy()))?;
        // Ours, to send a mark down the same queue as the library's reports.
        // SAFETY: duplicating a descriptor we own; the copy is closed on exec.
        let marker = unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        drop(theirs);
        if marker < 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!("cannot make the event channel: {e}"));
        }
        // SAFETY: `marker` was just made and is owned here.
        let marker = unsafe { OwnedFd::from_raw_fd(marker) };
        let tail: Tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(out) = child.stdout.take() {
            keep_tail(out, tail.clone(), echo, "stdout");
        }
        if let Some(err) = child.stderr.take() {
            keep_tail(err, tail.clone(), echo, "stderr");
        }
        let mut server = Server {
            pid: child.id() as i32,
            addr: addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            child,
            events,
            marker,
            marks: 0,
            tail,
            early: Vec::new(),
        };
        let deadline = Instant::now() + timeout;
        let mut hello = false;
        let mut listening = false;
        while Instant::now() < deadline {
            while let Ok(event) = server.events.try_recv() {
                match event {
                    Event::Hello => hello = true,
                    Event::Listen { pid, addr: at } if !listening => {
                        server.pid = pid;
                        if addr.is_none() {
                            server.addr = connectable(at);
                        }
                        listening = addr.is_none() || connectable(at) == server.addr;
                    }
                    other => server.early.push(other),
                }
            }
            if let Some(how) = server.exited() {
                return Err(format!(
                    "the server {how} before it listened{}",
                    server.last_output(" ")
                ));
            }
            if listening || (addr.is_some() && TcpStream::connect(server.addr).is_ok()) {
                if !hello {
                    return Err(
                        "the server listens, but the muxsim library was not loaded into it, so no fault can be injected (a statically linked program, a setuid one, or one that clears LD_PRELOAD?)"
                            .to_string(),
                    );
                }
                // A moment for the server to reach its loop.
                std::thread::sleep(Duration::from_millis(50));
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let why = if hello {
            "it never called listen(2) on a TCP socket (name the address with --addr if it listens on one it inherited)"
        } else {
            "the muxsim library was never loaded into it (a statically linked program, or one that clears LD_PRELOAD?)"
        };
        Err(format!(
            "the server did not listen within {}: {why}{}",
            crate::text::human_duration(timeout),
            server.last_output(" ")
        ))
    }

    /// Events reported since the last call.
    pub(super) fn events(&mut self) -> Vec<Event> {
        let mut out = std::mem::take(&mut self.early);
        while let Ok(event) = self.events.try_recv() {
            if !matches!(event, Event::Mark(_)) {
                out.push(event);
            }
        }
        out
    }

    /// Whether the server accepts the connection from `port` within `within` (other events
    /// read meanwhile are kept for [`Server::events`]).
    pub(super) fn accepts(&mut self, port: u16, within: Duration) -> bool {
        let accepted = |e: &Event| matches!(e, Event::Accept { port: Some(p), .. } if *p == port);
        self.early.iter().any(accepted)
            || read_until(&self.events, within, &mut self.early, accepted)
    }

    /// The events so far, every report the library made before this call among them: a
    /// mark sent down the same queue comes back after them (waiting at most `within`, as a
    /// process that stopped reading its reports is no reason to hang).
    pub(super) fn events_settled(&mut self, within: Duration) -> Vec<Event> {
        self.marks += 1;
        let mark = self.marks;
        let line = format!("{EVENT_MARK} {mark}");
        // SAFETY: sending one message from a buffer we own; never blocks.
        let sent = unsafe {
            libc::send(
                self.marker.as_raw_fd(),
                line.as_ptr().cast(),
                line.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        let mut out = std::mem::take(&mut self.early);
        if sent > 0 && read_until(&self.events, within, &mut out, |e| *e == Event::Mark(mark)) {
            return out;
        }
        out.extend(self.events());
        out
    }

    /// How the server ended, if it did (the command, or the process that listens).
    pub(super) fn exited(&mut self) -> Option<String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(describe_exit(status));
        }
        if self.pid != self.child.id() as i32 && !alive(self.pid) {
            return Some(format!("(process {}) ended", self.pid));
        }
        None
    }

    /// How the server ended, waiting up to `within` for it to end.
    pub(super) fn exited_within(&mut self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let how = self.exited();
            if how.is_some() || Instant::now() >= deadline {
                return how;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The last lines the server printed, as ` Last output: ...` (with `lead` before).
    pub(super) fn last_output(&self, lead: &str) -> String {
        let lines = self.output_tail(6);
        if lines.is_empty() {
            String::new()
        } else {
            format!("{lead}(its last output: {})", lines.join(" / "))
        }
    }

    /// The last `n` lines of the server's output.
    pub(super) fn output_tail(&self, n: usize) -> Vec<String> {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter()
            .skip(tail.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// The listening process's CPU time (user and system, all threads).
    pub(super) fn cpu(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // Fields after the command name (which may hold spaces) start at its closing paren.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
    }

    /// The listening process's open sockets, as `/proc` names them (`socket:[1234]`).
    pub(super) fn sockets(&self) -> Option<Vec<String>> {
        let dir = std::fs::read_dir(format!("/proc/{}/fd", self.pid)).ok()?;
        let mut found = Vec::new();
        for entry in dir.flatten() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let target = target.to_string_lossy().to_string();
                if target.starts_with("socket:") {
                    found.push(format!(
                        "fd {} {target}",
                        entry.file_name().to_string_lossy()
                    ));
                }
            }
        }
        found.sort();
        Some(found)
    }

    /// The system call the listening process sleeps in, if it is blocked in one, with the
    /// descriptor it names: `("recvfrom", Some(7))`.
    pub(super) fn blocked_in(&self) -> Option<(&'static str, Option<i32>)> {
        let text = std::fs::read_to_string(format!("/proc/{}/syscall", self.pid)).ok()?;
        let mut words = text.split_whitespace();
        let nr: i64 = words.next()?.parse().ok()?;
        let fd = words
            .next()
            .and_then(|w| i64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
            .and_then(|v| i32::try_from(v).ok());
        let name = syscall_name(nr)?;
        let takes_fd = !matches!(
            name,
            "poll" | "ppoll" | "select" | "pselect6" | "futex" | "nanosleep" | "clock_nanosleep"
        );
        Some((name, fd.filter(|_| takes_fd)))
    }

    /// What descriptor `fd` of the listening process is (`socket:[123]`).
    pub(super) fn fd_target(&self, fd: i32) -> Option<String> {
        std::fs::read_link(format!("/proc/{}/fd/{fd}", self.pid))
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }

    /// The listening process's resident memory, in bytes.
    pub(super) fn rss(&self) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.pid)).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
        Some(pages * page)
    }

    /// Stops the server's process group: SIGTERM, then SIGKILL after a grace period.
    pub(super) fn stop(&mut self) {
        let group = self.child.id() as i32;
        // SAFETY: signalling the process group we created.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: as above; whatever is left of the group goes.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        } else {
            // SAFETY: anything the server left in its group goes with it.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        }
    }
}

/// The names of the system calls a server blocks in, by number, for this architecture.
fn syscall_name(nr: i64) -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    let table: &[(i64, &str)] = &[
        (0, "read"),
        (1, "write"),
        (7, "poll"),
        (19, "readv"),
        (20, "writev"),
        (23, "select"),
        (35, "nanosleep"),
        (43, "accept"),
        (44, "sendto"),
        (45, "recvfrom"),
        (46, "sendmsg"),
        (47, "recvmsg"),
        (202, "futex"),
        (230, "clock_nanosleep"),
        (232, "epoll_wait"),
        (270, "pselect6"),
        (271, "ppoll"),
        (281, "epoll_pwait"),
        (288, "accept4"),
        (441, "epoll_pwait2"),
    ];
    #[cfg(target_arch = "aarch64")]
    let table: &[(i64, &str)] = &[
        (22, "epoll_pwait"),
        (63, "read"),
        (64, "write"),
        (65, "readv"),
        (66, "writev"),
        (72, "pselect6"),
        (73, "ppoll"),
        (98, "futex"),
        (101, "nanosleep"),
        (115, "clock_nanosleep"),
        (202, "accept"),
        (206, "sendto"),
        (207, "recvfrom"),
        (211, "sendmsg"),
        (212, "recvmsg"),
        (242, "accept4"),
        (441, "epoll_pwait2"),
    ];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let table: &[(i64, &str)] = &[];
    table.iter().find(|(n, _)| *n == nr).map(|(_, name)| *name)
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_as_the_library_writes_them() {
        assert_eq!(parse_event("hello 12"), Some(Event::Hello));
        assert_eq!(parse_event("mark 4"), Some(Event::Mark(4)));
        assert_eq!(
            parse_event("fault 12 3 1099511627776 1 connect-refused"),
            Some(Event::Outgoing {
                epoch: 3,
                name: "connect-refused".into(),
                lossy: true
            })
        );
        assert_eq!(
            parse_event("fault 12 3 1099511627777 4 short-write 3"),
            Some(Event::Outgoing {
                epoch: 3,
                name: "short-write".into(),
                lossy: false
            })
        );
        assert_eq!(
            parse_event("spin 12 3 20000 41000000 10000 10000 0 0"),
            Some(Event::Spin {
                epoch: 3,
                calls: 20000,
                nanos: 41_000_000,
                kinds: [10000, 10000, 0, 0]
            })
        );
        assert_eq!(
            parse_event("listen 12 127.0.0.1:8080"),
            Some(Event::Listen {
                pid: 12,
                addr: "127.0.0.1:8080".parse().unwrap()
            })
        );
        assert_eq!(
            parse_event("accept 12 3 0 45974"),
            Some(Event::Accept {
                epoch: 3,
                idx: 0,
                port: Some(45974)
            })
        );
        assert_eq!(
            parse_event("fault 12 3 1 7 short-read 5"),
            Some(Event::Fault {
                epoch: 3,
                who: Some(1),
                call: 7,
                spec: FaultSpec::ShortRead(5)
            })
        );
        assert_eq!(
            parse_event("fault 12 3 - 2 accept-emfile 2"),
            Some(Event::Fault {
                epoch: 3,
                who: None,
                call: 2,
                spec: FaultSpec::AcceptEmfile(2)
            })
        );
        assert_eq!(parse_event("fault 12 3 - 2 no-such-fault"), None);
        assert_eq!(parse_event(""), None);
    }
}
