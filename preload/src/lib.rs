//! muxsim's interposition library: seeded readiness faults inside an unmodified server.
//!
//! `muxsim run -- CMD` starts CMD with this library in `LD_PRELOAD` (Linux, glibc). It wraps
//! the server's socket calls — `accept`/`accept4`, the reads (`read`, `recv`, `recvfrom`,
//! `recvmsg`, `readv`), the writes (`write`, `send`, `sendto`, `sendmsg`, `writev`), `close`,
//! `listen`, `connect`, and the waits (`select`, `pselect`, `poll`, `ppoll`, `epoll_ctl`,
//! `epoll_wait`, `epoll_pwait`, `epoll_pwait2`) — and, while muxsim has faults switched on, makes some of
//! them do what a kernel may really do:
//!
//! - a short read or write: the real call with a smaller length; the rest stays queued;
//! - `EINTR`, without the call, on calls that can sleep (a blocking socket, a wait with a
//!   timeout): a non-blocking call cannot be interrupted, so it never gets one;
//! - `EAGAIN` on a non-blocking socket although bytes or room are there, without the call;
//! - a spurious readiness report from a wait, for a connection that is not ready, also
//!   waking a wait that would have slept (the library looks without sleeping first);
//! - `ECONNABORTED` from `accept` (the connection at the head of the queue really is reset),
//!   and `EMFILE` with the connection left queued: the process is then at its descriptor
//!   limit, and every accept fails so until it closes a descriptor (drawn only while it
//!   holds a connection it could close, as a process reaches its limit);
//! - `ECONNRESET` / `EPIPE`, made real: the connection is reset (`connect(AF_UNSPEC)`), so
//!   the client sees it too, and a write raises `SIGPIPE` as the kernel would.
//!
//! Connections the server makes (`connect`, TCP over IPv4 or IPv6) take faults too when
//! muxsim asks: refused, `EINPROGRESS` for a non-blocking connect that completed at once, then
//! the faults of any connection; their faults are reported under connection numbers from
//! `OUTGOING_BASE` on.
//!
//! The readiness contract is kept: an edge-triggered epoll reports a socket again only when
//! something changes, so after an injected short read or write, or an injected `EAGAIN`, the
//! library owes that socket an event and delivers it in a later `epoll_wait` (it learns each
//! socket's event data from `epoll_ctl`). Level-triggered waits report it again anyway.
//!
//! Which calls fail is decided by the seed and per-connection call counters — a fault is a
//! function of (seed, connection index in accept order, operation, call number) — so one
//! seed injects the same faults into the same sequence of calls. muxsim sets the seed and the
//! fault rates in a shared page (`MUXSIM_PRELOAD_CONTROL`, a file mapped by both), and every
//! fault injected, every connection accepted and the listening address reach muxsim as
//! datagrams on a private socket (`MUXSIM_PRELOAD_EVENTS`, an inherited descriptor), never
//! on the server's own output. With faults off, every call goes straight through.
//!
//! No dependencies: muxsim's build script compiles this file with `rustc` alone.

#![allow(non_camel_case_types, clippy::missing_safety_doc)]

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_ulong, c_void};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

type size_t = usize;
type ssize_t = isize;
type socklen_t = u32;
type nfds_t = c_ulong;

// ----- Linux constants (x86_64 and aarch64 agree on all of these) ----------------------------

const EINTR: c_int = 4;
const EAGAIN: c_int = 11;
const EMFILE: c_int = 24;
const EPIPE: c_int = 32;
const ENOSYS: c_int = 38;
const ECONNABORTED: c_int = 103;
const ECONNRESET: c_int = 104;

const F_GETFL: c_int = 3;
const O_NONBLOCK: c_int = 0o4000;
const FIONREAD: c_ulong = 0x541B;

const MSG_PEEK: c_int = 0x02;
const MSG_DONTWAIT: c_int = 0x40;
const MSG_NOSIGNAL: c_int = 0x4000;

const SOL_SOCKET: c_int = 1;
const SO_TYPE: c_int = 3;
const EINPROGRESS: c_int = 115;
const ECONNREFUSED: c_int = 111;
const SO_LINGER: c_int = 13;
const SOCK_STREAM: c_int = 1;
const SOCK_CLOEXEC: c_int = 0o2000000;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

const EPOLLIN: u32 = 0x001;
const EPOLLOUT: u32 = 0x004;
const EPOLLONESHOT: u32 = 1 << 30;
const EPOLLET: u32 = 1 << 31;
const EPOLL_CTL_ADD: c_int = 1;
const EPOLL_CTL_DEL: c_int = 2;
const EPOLL_CTL_MOD: c_int = 3;

const POLLIN: i16 = 0x001;

const SIGPIPE: c_int = 13;

const PROT_READ: c_int = 1;
const MAP_SHARED: c_int = 1;
const O_RDONLY: c_int = 0;

const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;

// ----- C types -------------------------------------------------------------------------------

#[repr(C)]
pub struct iovec {
    base: *mut c_void,
    len: size_t,
}

#[repr(C)]
pub struct msghdr {
    name: *mut c_void,
    namelen: socklen_t,
    iov: *mut iovec,
    iovlen: size_t,
    control: *mut c_void,
    controllen: size_t,
    flags: c_int,
}

#[repr(C)]
pub struct pollfd {
    fd: c_int,
    events: i16,
    revents: i16,
}

#[cfg_attr(target_arch = "x86_64", repr(C, packed))]
#[cfg_attr(not(target_arch = "x86_64"), repr(C))]
#[derive(Clone, Copy)]
pub struct epoll_event {
    events: u32,
    data: u64,
}

/// `fd_set`: 1024 bits.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct fd_set {
    bits: [c_ulong; 1024 / (8 * std::mem::size_of::<c_ulong>())],
}

const FD_SETSIZE: c_int = 1024;

#[repr(C)]
pub struct timeval {
    sec: i64,
    usec: i64,
}

#[repr(C)]
pub struct timespec {
    sec: i64,
    nsec: i64,
}

#[repr(C)]
struct linger {
    onoff: c_int,
    linger: c_int,
}

#[link(name = "dl")]
unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

unsafe extern "C" {
    fn __errno_location() -> *mut c_int;
    fn getpid() -> c_int;
    fn raise(sig: c_int) -> c_int;
    fn mmap(
        addr: *mut c_void,
        len: size_t,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: i64,
    ) -> *mut c_void;
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn getsockname(fd: c_int, addr: *mut c_void, len: *mut socklen_t) -> c_int;
    fn getpeername(fd: c_int, addr: *mut c_void, len: *mut socklen_t) -> c_int;
    fn getsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *mut c_void,
        len: *mut socklen_t,
    ) -> c_int;
    fn setsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t,
    ) -> c_int;
    fn syscall(number: std::ffi::c_long, ...) -> std::ffi::c_long;
    fn clock_gettime(clock: c_int, tp: *mut timespec) -> c_int;
}

#[cfg(target_arch = "x86_64")]
const SYS_KCMP: std::ffi::c_long = 312;
#[cfg(target_arch = "aarch64")]
const SYS_KCMP: std::ffi::c_long = 272;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const SYS_KCMP: std::ffi::c_long = -1;
const KCMP_FILE: c_int = 0;

fn set_errno(e: c_int) {
    // SAFETY: glibc's errno location is valid for the calling thread.
    unsafe { *__errno_location() = e };
}

fn errno() -> c_int {
    // SAFETY: as above.
    unsafe { *__errno_location() }
}

fn fail<T: From<i8>>(e: c_int) -> T {
    set_errno(e);
    T::from(-1)
}

// ----- the real functions ---------------------------------------------------------------------

/// A libc function found with `dlsym(RTLD_NEXT)` on first use.
struct Real {
    ptr: AtomicPtr<c_void>,
    name: &'static [u8],
}

impl Real {
    const fn new(name: &'static [u8]) -> Self {
        Real {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
            name,
        }
    }

    fn get(&self) -> *mut c_void {
        let p = self.ptr.load(Ordering::Relaxed);
        if !p.is_null() {
            return p;
        }
        // SAFETY: `name` is NUL-terminated; RTLD_NEXT finds the next definition after ours.
        let p = unsafe { dlsym(RTLD_NEXT, self.name.as_ptr().cast()) };
        self.ptr.store(p, Ordering::Relaxed);
        p
    }
}

/// Calls the real `$real` as `fn($t...) -> $r`, or fails with `ENOSYS` if libc lacks it.
macro_rules! real {
    ($real:ident: fn($($t:ty),*) -> $r:ty; $($a:expr),*) => {{
        let p = $real.get();
        if p.is_null() {
            fail::<$r>(ENOSYS)
        } else {
            #[allow(unused_unsafe)]
            // SAFETY: `p` is libc's definition of this very function, with this signature.
            {
                let f: unsafe extern "C" fn($($t),*) -> $r = unsafe { std::mem::transmute(p) };
                unsafe { f($($a),*) }
            }
        }
    }};
}

static REAL_READ: Real = Real::new(b"read\0");
static REAL_RECV: Real = Real::new(b"recv\0");
static REAL_RECVFROM: Real = Real::new(b"recvfrom\0");
static REAL_RECVMSG: Real = Real::new(b"recvmsg\0");
static REAL_READV: Real = Real::new(b"readv\0");
static REAL_WRITE: Real = Real::new(b"write\0");
static REAL_SEND: Real = Real::new(b"send\0");
static REAL_SENDTO: Real = Real::new(b"sendto\0");
static REAL_SENDMSG: Real = Real::new(b"sendmsg\0");
static REAL_WRITEV: Real = Real::new(b"writev\0");
static REAL_ACCEPT: Real = Real::new(b"accept\0");
static REAL_ACCEPT4: Real = Real::new(b"accept4\0");
static REAL_LISTEN: Real = Real::new(b"listen\0");
static REAL_CLOSE: Real = Real::new(b"close\0");
static REAL_CONNECT: Real = Real::new(b"connect\0");
static REAL_SELECT: Real = Real::new(b"select\0");
static REAL_PSELECT: Real = Real::new(b"pselect\0");
static REAL_POLL: Real = Real::new(b"poll\0");
static REAL_PPOLL: Real = Real::new(b"ppoll\0");
static REAL_EPOLL_CTL: Real = Real::new(b"epoll_ctl\0");
static REAL_EPOLL_WAIT: Real = Real::new(b"epoll_wait\0");
static REAL_EPOLL_PWAIT: Real = Real::new(b"epoll_pwait\0");
static REAL_EPOLL_PWAIT2: Real = Real::new(b"epoll_pwait2\0");

// ----- what muxsim tells us, and what we tell muxsim ----------------------------------------

// The shared page's layout and the event words: one file, compiled into muxsim too (the
// page's size and muxsim's mark are muxsim's half).
#[allow(dead_code)]
mod wire;
use wire::{
    EVENT_ABORT, EVENT_ACCEPT, EVENT_CONNECT, EVENT_FAULT, EVENT_HELLO, EVENT_LISTEN, EVENT_SPIN,
    MAGIC, OUTGOING_BASE, RATES, SCOPE_ACCEPTED, SCOPE_OUTGOING, SLOT_ENABLED, SLOT_EPOCH,
    SLOT_MAGIC, SLOT_RATES, SLOT_SCOPE, SLOT_SEED,
};

static CONTROL: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
static EVENTS_FD: AtomicI32 = AtomicI32::new(-1);

fn control(slot: usize) -> u64 {
    let base = CONTROL.load(Ordering::Acquire);
    if base.is_null() {
        return 0;
    }
    // SAFETY: the page holds 512 slots, mapped for the life of the process.
    unsafe { (*base.add(slot)).load(Ordering::Acquire) }
}

fn enabled() -> bool {
    control(SLOT_ENABLED) != 0 && SPUN_EPOCH.load(Ordering::Relaxed) != control(SLOT_EPOCH)
}

// ----- busy loops -------------------------------------------------------------------------------
//
// A process that makes call after call on its sockets and waits without moving a byte,
// accepting or closing anything is spinning, however much CPU the machine lets it have.
// The library counts such calls in a row; `SPIN_CALLS` of them within `SPIN_WINDOW_NS` is a
// busy loop, reported once per seed (`spin PID EPOCH CALLS NANOS WAITS ACCEPTS READS WRITES`)
// after which no more faults are injected into it for that seed.

const SPIN_CALLS: u64 = 20_000;
const SPIN_WINDOW_NS: u64 = 2_000_000_000;
const CLOCK_MONOTONIC: c_int = 1;

/// Calls in a row that moved nothing, and when the run began.
static STREAK: AtomicU64 = AtomicU64::new(0);
static STREAK_START: AtomicU64 = AtomicU64::new(0);
/// Of the streak: waits, failed accepts, empty reads, empty writes.
static STREAK_KINDS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// The epoch in which the process was reported spinning (0: none).
static SPUN_EPOCH: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy)]
enum Call {
    Wait = 0,
    Accept = 1,
    Read = 2,
    Write = 3,
}

fn now_ns() -> u64 {
    let mut t = timespec { sec: 0, nsec: 0 };
    // SAFETY: writing into a timespec we own.
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut t) };
    (t.sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.nsec as u64)
}

/// A call that moved bytes, accepted or closed a connection.
fn progress() {
    if STREAK.load(Ordering::Relaxed) != 0 {
        STREAK.store(0, Ordering::Relaxed);
    }
}

/// A call that moved nothing.
fn idle(call: Call) {
    let n = STREAK.fetch_add(1, Ordering::Relaxed) + 1;
    if n == 1 {
        STREAK_START.store(now_ns(), Ordering::Relaxed);
        for kind in &STREAK_KINDS {
            kind.store(0, Ordering::Relaxed);
        }
    }
    STREAK_KINDS[call as usize].fetch_add(1, Ordering::Relaxed);
    if n < SPIN_CALLS {
        return;
    }
    let nanos = now_ns().saturating_sub(STREAK_START.load(Ordering::Relaxed));
    STREAK.store(0, Ordering::Relaxed);
    let epoch = control(SLOT_EPOCH);
    if nanos < SPIN_WINDOW_NS && epoch != 0 && SPUN_EPOCH.swap(epoch, Ordering::Relaxed) != epoch {
        let kinds: Vec<String> = STREAK_KINDS
            .iter()
            .map(|k| k.load(Ordering::Relaxed).to_string())
            .collect();
        emit(format!(
            "{EVENT_SPIN} {} {epoch} {n} {nanos} {}",
            pid(),
            kinds.join(" ")
        ));
    }
}

/// Books a read or write's result on a connection, keeping `errno`.
fn tally_io(fd: c_int, call: Call, result: ssize_t) -> ssize_t {
    if CONNS.get(fd) {
        if result > 0 {
            progress();
        } else {
            let e = errno();
            idle(call);
            set_errno(e);
        }
    }
    result
}

/// Books a wait, keeping `errno`.
fn tally_wait(result: c_int) -> c_int {
    let e = errno();
    idle(Call::Wait);
    set_errno(e);
    result
}

/// Fault rates per family, parts per million.
#[derive(Clone, Copy)]
struct Rates {
    short_io: u64,
    would_block: u64,
    eintr: u64,
    spurious: u64,
    accept: u64,
    reset: u64,
}

fn rates() -> Rates {
    let rate = |name: &str| {
        RATES
            .iter()
            .position(|r| *r == name)
            .map_or(0, |i| control(SLOT_RATES + i))
    };
    Rates {
        short_io: rate("short-io"),
        would_block: rate("would-block"),
        eintr: rate("eintr"),
        spurious: rate("spurious"),
        accept: rate("accept"),
        reset: rate("reset"),
    }
}

/// Sends one event line to muxsim; never blocks, never raises `SIGPIPE`.
fn emit(line: String) {
    let fd = EVENTS_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    let _ = real!(REAL_SEND: fn(c_int, *const c_void, size_t, c_int) -> ssize_t;
        fd, line.as_ptr().cast(), line.len(), flags);
}

fn pid() -> c_int {
    // SAFETY: getpid cannot fail.
    unsafe { getpid() }
}

extern "C" fn init() {
    if let Some(fd) = std::env::var("MUXSIM_PRELOAD_EVENTS")
        .ok()
        .and_then(|v| v.parse::<c_int>().ok())
    {
        EVENTS_FD.store(fd, Ordering::Relaxed);
    }
    if let Ok(path) = std::env::var("MUXSIM_PRELOAD_CONTROL") {
        let mut c = path.into_bytes();
        c.push(0);
        // SAFETY: a NUL-terminated path; the mapping outlives the descriptor.
        unsafe {
            let fd = open(c.as_ptr().cast(), O_RDONLY);
            if fd >= 0 {
                let p = mmap(std::ptr::null_mut(), 4096, PROT_READ, MAP_SHARED, fd, 0);
                if p as isize != -1
                    && (*(p as *const AtomicU64).add(SLOT_MAGIC)).load(Ordering::Relaxed) == MAGIC
                {
                    CONTROL.store(p.cast(), Ordering::Release);
                }
                let _ = real!(REAL_CLOSE: fn(c_int) -> c_int; fd);
            }
        }
    }
    if EVENTS_FD.load(Ordering::Relaxed) >= 0 {
        emit(format!("{EVENT_HELLO} {}", pid()));
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

// ----- descriptors we watch -----------------------------------------------------------------

/// Descriptors above this pass through untouched.
const MAX_FD: usize = 1 << 16;

struct Bits([AtomicU64; MAX_FD / 64]);

impl Bits {
    const fn new() -> Self {
        Bits([const { AtomicU64::new(0) }; MAX_FD / 64])
    }

    fn get(&self, fd: c_int) -> bool {
        let fd = fd as usize;
        fd < MAX_FD && self.0[fd / 64].load(Ordering::Relaxed) & (1 << (fd % 64)) != 0
    }

    fn set(&self, fd: c_int, on: bool) {
        let fd = fd as usize;
        if fd >= MAX_FD {
            return;
        }
        let bit = 1u64 << (fd % 64);
        if on {
            self.0[fd / 64].fetch_or(bit, Ordering::Relaxed);
        } else {
            self.0[fd / 64].fetch_and(!bit, Ordering::Relaxed);
        }
    }
}

static CONNS: Bits = Bits::new();
static LISTENERS: Bits = Bits::new();
static EPOLLS: Bits = Bits::new();

struct Conn {
    /// Accept order, or `OUTGOING_BASE` + connect order for a connection the server made.
    idx: u64,
    seed: u64,
    epoch: u64,
    reads: u64,
    writes: u64,
}

#[derive(Clone, Copy)]
struct Reg {
    events: u32,
    data: u64,
    /// An `EPOLLONESHOT` registration reported once is disarmed until `EPOLL_CTL_MOD`.
    armed: bool,
}

#[derive(Default)]
struct State {
    epoch: u64,
    seed: u64,
    accepts: u64,
    polls: u64,
    next_conn: u64,
    /// Connections the server made this epoch.
    connects: u64,
    /// The process is at its descriptor limit: every accept fails with `EMFILE` until it
    /// closes a descriptor, as the kernel has it.
    at_limit: bool,
    conns: HashMap<c_int, Conn>,
    /// Per epoll instance, its registrations of watched descriptors.
    regs: HashMap<c_int, HashMap<c_int, Reg>>,
    /// Events owed to edge-triggered registrations: fd -> EPOLLIN / EPOLLOUT.
    owed: HashMap<c_int, u32>,
    /// Whether two epoll descriptors are one epoll instance (a server may register through
    /// a duplicate, as mio's cloned registry does, and wait on the original).
    aliases: HashMap<(c_int, c_int), bool>,
    /// Epoll descriptors waited on.
    waited: std::collections::HashSet<c_int>,
}

impl State {
    /// Starts the counters over when muxsim has begun a new seed.
    fn sync(&mut self) {
        let epoch = control(SLOT_EPOCH);
        if epoch != self.epoch {
            self.epoch = epoch;
            self.seed = control(SLOT_SEED);
            self.accepts = 0;
            self.polls = 0;
            self.next_conn = 0;
            self.connects = 0;
            self.at_limit = false;
        }
    }

    /// Owes `fd` an event, if some epoll instance watches it edge-triggered.
    fn owe(&mut self, fd: c_int, events: u32) {
        let watched = self
            .regs
            .values()
            .any(|regs| regs.get(&fd).is_some_and(|r| r.events & EPOLLET != 0));
        if watched {
            *self.owed.entry(fd).or_insert(0) |= events;
        }
    }

    fn forget(&mut self, fd: c_int) {
        self.conns.remove(&fd);
        self.owed.remove(&fd);
        for regs in self.regs.values_mut() {
            regs.remove(&fd);
        }
        self.regs.remove(&fd);
        self.aliases.retain(|&(a, b), _| a != fd && b != fd);
        self.waited.remove(&fd);
    }

    /// Whether registrations made through `reg` are those an epoll_wait on `wait` reports.
    fn same_epoll(&mut self, wait: c_int, reg: c_int) -> bool {
        if wait == reg {
            return true;
        }
        if let Some(&same) = self.aliases.get(&(wait, reg)) {
            return same;
        }
        // SAFETY: kcmp compares two of our own descriptors.
        let r = unsafe { syscall(SYS_KCMP, pid(), pid(), KCMP_FILE, wait, reg) };
        let same = match r {
            0 => true,
            r if r > 0 => false,
            // No kcmp here: a registration descriptor nobody waits on must be a duplicate.
            _ => !self.waited.contains(&reg),
        };
        self.aliases.insert((wait, reg), same);
        same
    }

    /// The epoll descriptors whose registrations an epoll_wait on `wait` reports.
    fn instances(&mut self, wait: c_int) -> Vec<c_int> {
        self.waited.insert(wait);
        let keys: Vec<c_int> = self.regs.keys().copied().collect();
        keys.into_iter()
            .filter(|&reg| self.same_epoll(wait, reg))
            .collect()
    }
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn state() -> MutexGuard<'static, Option<State>> {
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        *guard = Some(State::default());
    }
    guard
}

// ----- the plan -------------------------------------------------------------------------------

const OP_READ: u64 = 1;
const OP_WRITE: u64 = 2;
const OP_ACCEPT: u64 = 3;
const OP_POLL: u64 = 4;
const OP_CONNECT: u64 = 5;

const SALT_EINTR: u64 = 11;
const SALT_RESET: u64 = 12;
const SALT_SHORT: u64 = 13;
const SALT_SHORT_LEN: u64 = 14;
const SALT_BLOCK: u64 = 15;
const SALT_ACCEPT: u64 = 16;
const SALT_ACCEPT_KIND: u64 = 17;
const SALT_SPURIOUS: u64 = 18;
const SALT_PICK: u64 = 19;
const SALT_REFUSE: u64 = 20;

fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The die for one decision: a function of the seed, the connection, the operation, the call
/// number and what is being decided.
fn roll(seed: u64, conn: u64, op: u64, call: u64, salt: u64) -> u64 {
    mix(seed ^ mix(conn ^ mix(op ^ mix(call ^ mix(salt)))))
}

fn fires(rate: u64, die: u64) -> bool {
    rate > 0 && die % 1_000_000 < rate
}

fn nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { fcntl(fd, F_GETFL) };
    flags >= 0 && flags & O_NONBLOCK != 0
}

fn available(fd: c_int) -> usize {
    let mut n: c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let r = unsafe { ioctl(fd, FIONREAD, &mut n as *mut c_int) };
    if r == 0 && n > 0 { n as usize } else { 0 }
}

/// Resets the connection for real, keeping the descriptor: the client sees the reset.
fn reset_for_real(fd: c_int) {
    let unspec = [0u8; 16];
    // A sockaddr of family AF_UNSPEC dissolves the association (tcp_disconnect).
    real!(REAL_CONNECT: fn(c_int, *const c_void, socklen_t) -> c_int;
        fd, unspec.as_ptr().cast(), unspec.len() as socklen_t);
}

/// What an intercepted read or write does.
enum Io {
    Pass,
    Fail(c_int),
    Limit(usize),
}

/// Side effects decided under the lock, done after it.
struct Decision {
    io: Io,
    reset: bool,
    sigpipe: bool,
}

impl Decision {
    const PASS: Decision = Decision {
        io: Io::Pass,
        reset: false,
        sigpipe: false,
    };

    fn apply(self, fd: c_int) -> Io {
        if self.reset {
            reset_for_real(fd);
        }
        if self.sigpipe {
            // SAFETY: raising a signal in our own process, as the kernel would on EPIPE.
            unsafe { raise(SIGPIPE) };
        }
        self.io
    }
}

/// Reports a fault: `fault PID EPOCH WHO CALL SPEC`, WHO the connection or `-`.
fn fault_event(epoch: u64, who: Option<u64>, call: u64, spec: &str) {
    let who = who.map_or_else(|| "-".to_string(), |i| i.to_string());
    emit(format!(
        "{EVENT_FAULT} {} {epoch} {who} {call} {spec}",
        pid()
    ));
}

fn fault_line(st: &State, who: Option<u64>, call: u64, spec: &str) {
    fault_event(st.epoch, who, call, spec);
}

fn conn_fault_line(conn: &Conn, call: u64, spec: &str) {
    fault_event(conn.epoch, Some(conn.idx), call, spec);
}

/// Which way a data call moves bytes.
#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Read,
    Write,
}

fn decide_read(fd: c_int, len: usize, flags: c_int) -> Decision {
    // A peek consumes nothing, so nothing is injected into it.
    if flags & MSG_PEEK != 0 {
        return Decision::PASS;
    }
    decide_io(fd, len, flags, Dir::Read, false)
}

fn decide_write(fd: c_int, len: usize, flags: c_int, signals: bool) -> Decision {
    decide_io(fd, len, flags, Dir::Write, signals)
}

/// The fault, if any, for one read or write of `len` bytes on `fd`: `EINTR` (blocking calls
/// only), a reset, then a short transfer or `EAGAIN` (non-blocking calls only), each owing
/// the descriptor an edge-triggered event.
fn decide_io(fd: c_int, len: usize, flags: c_int, dir: Dir, signals: bool) -> Decision {
    if !CONNS.get(fd) || len == 0 || !enabled() {
        return Decision::PASS;
    }
    let mut guard = state();
    let Some(st) = guard.as_mut() else {
        return Decision::PASS;
    };
    let Some(conn) = st.conns.get_mut(&fd) else {
        return Decision::PASS;
    };
    if !in_scope(conn.idx) {
        return Decision::PASS;
    }
    let (name, op, interest, calls) = match dir {
        Dir::Read => ("read", OP_READ, EPOLLIN, &mut conn.reads),
        Dir::Write => ("write", OP_WRITE, EPOLLOUT, &mut conn.writes),
    };
    *calls += 1;
    let (seed, idx, n) = (conn.seed, conn.idx, *calls);
    let fault = |spec: String| conn_fault_line(conn, n, &spec);
    let r = rates();
    let die = |salt| roll(seed, idx, op, n, salt);
    let blocking = flags & MSG_DONTWAIT == 0 && !nonblocking(fd);
    if blocking && fires(r.eintr, die(SALT_EINTR)) {
        fault(format!("{name}-eintr"));
        return Decision {
            io: Io::Fail(EINTR),
            ..Decision::PASS
        };
    }
    if fires(r.reset, die(SALT_RESET)) {
        fault(format!("{name}-reset"));
        return match dir {
            Dir::Read => Decision {
                io: Io::Fail(ECONNRESET),
                reset: true,
                sigpipe: false,
            },
            Dir::Write => Decision {
                io: Io::Fail(EPIPE),
                reset: true,
                sigpipe: signals && flags & MSG_NOSIGNAL == 0,
            },
        };
    }
    // A short transfer leaves at least one byte: of what is queued for a read, of the
    // buffer for a write. `EAGAIN` only where the caller asked not to block, and for a read
    // only with bytes there to hide.
    let (most, may_block) = match dir {
        Dir::Read => {
            let avail = available(fd);
            (avail.min(len).saturating_sub(1), !blocking && avail > 0)
        }
        Dir::Write => (len - 1, !blocking),
    };
    let short = || {
        (most > 0 && fires(r.short_io, die(SALT_SHORT)))
            .then(|| Io::Limit(1 + (die(SALT_SHORT_LEN) % most as u64) as usize))
    };
    let block = || (may_block && fires(r.would_block, die(SALT_BLOCK))).then_some(Io::Fail(EAGAIN));
    // A read tries a short transfer first, a write `EAGAIN` first.
    let io = match dir {
        Dir::Read => short().or_else(block),
        Dir::Write => block().or_else(short),
    };
    let Some(io) = io else {
        return Decision::PASS;
    };
    match io {
        Io::Limit(k) => fault(format!("short-{name} {k}")),
        _ => fault(format!("{name}-block")),
    }
    st.owe(fd, interest);
    Decision {
        io,
        ..Decision::PASS
    }
}

// ----- reads ----------------------------------------------------------------------------------

#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    let len = match decide_read(fd, count, 0).apply(fd) {
        Io::Pass => count,
        Io::Limit(k) => k,
        Io::Fail(e) => return fail(e),
    };
    tally_io(
        fd,
        Call::Read,
        real!(REAL_READ: fn(c_int, *mut c_void, size_t) -> ssize_t; fd, buf, len),
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    _buflen: size_t,
) -> ssize_t {
    unsafe { read(fd, buf, count) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    let n = match decide_read(fd, len, flags).apply(fd) {
        Io::Pass => len,
        Io::Limit(k) => k,
        Io::Fail(e) => return fail(e),
    };
    tally_io(
        fd,
        Call::Read,
        real!(REAL_RECV: fn(c_int, *mut c_void, size_t, c_int) -> ssize_t; fd, buf, n, flags),
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    _buflen: size_t,
    flags: c_int,
) -> ssize_t {
    unsafe { recv(fd, buf, len, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut c_void,
    addrlen: *mut socklen_t,
) -> ssize_t {
    let n = match decide_read(fd, len, flags).apply(fd) {
        Io::Pass => len,
        Io::Limit(k) => k,
        Io::Fail(e) => return fail(e),
    };
    tally_io(
        fd,
        Call::Read,
        real!(REAL_RECVFROM: fn(c_int, *mut c_void, size_t, c_int, *mut c_void, *mut socklen_t) -> ssize_t;
        fd, buf, n, flags, addr, addrlen),
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    _buflen: size_t,
    flags: c_int,
    addr: *mut c_void,
    addrlen: *mut socklen_t,
) -> ssize_t {
    unsafe { recvfrom(fd, buf, len, flags, addr, addrlen) }
}

/// The total length of an iovec array.
unsafe fn iov_len(iov: *const iovec, count: usize) -> usize {
    unsafe {
        if iov.is_null() {
            return 0;
        }
        (0..count).map(|i| (*iov.add(i)).len).sum()
    }
}

/// A copy of an iovec array cut to `limit` bytes in all.
unsafe fn iov_cut(iov: *const iovec, count: usize, limit: usize) -> Vec<iovec> {
    unsafe {
        let mut out = Vec::with_capacity(count);
        let mut left = limit;
        for i in 0..count {
            if left == 0 {
                break;
            }
            let v = &*iov.add(i);
            let take = v.len.min(left);
            out.push(iovec {
                base: v.base,
                len: take,
            });
            left -= take;
        }
        out
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    unsafe {
        let count = iovcnt.max(0) as usize;
        match decide_read(fd, iov_len(iov, count), 0).apply(fd) {
            Io::Pass => tally_io(
                fd,
                Call::Read,
                real!(REAL_READV: fn(c_int, *const iovec, c_int) -> ssize_t; fd, iov, iovcnt),
            ),
            Io::Limit(k) => {
                let cut = iov_cut(iov, count, k);
                tally_io(
                    fd,
                    Call::Read,
                    real!(REAL_READV: fn(c_int, *const iovec, c_int) -> ssize_t;
                fd, cut.as_ptr(), cut.len() as c_int),
                )
            }
            Io::Fail(e) => fail(e),
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    unsafe {
        if msg.is_null() {
            return tally_io(
                fd,
                Call::Read,
                real!(REAL_RECVMSG: fn(c_int, *mut msghdr, c_int) -> ssize_t; fd, msg, flags),
            );
        }
        let (iov, iovlen) = ((*msg).iov, (*msg).iovlen);
        match decide_read(fd, iov_len(iov, iovlen), flags).apply(fd) {
            Io::Pass => tally_io(
                fd,
                Call::Read,
                real!(REAL_RECVMSG: fn(c_int, *mut msghdr, c_int) -> ssize_t; fd, msg, flags),
            ),
            Io::Limit(k) => {
                let mut cut = iov_cut(iov, iovlen, k);
                (*msg).iov = cut.as_mut_ptr();
                (*msg).iovlen = cut.len();
                let r = tally_io(
                    fd,
                    Call::Read,
                    real!(REAL_RECVMSG: fn(c_int, *mut msghdr, c_int) -> ssize_t; fd, msg, flags),
                );
                let e = errno();
                (*msg).iov = iov;
                (*msg).iovlen = iovlen;
                set_errno(e);
                r
            }
            Io::Fail(e) => fail(e),
        }
    }
}

// ----- writes ---------------------------------------------------------------------------------

#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    let len = match decide_write(fd, count, 0, true).apply(fd) {
        Io::Pass => count,
        Io::Limit(k) => k,
        Io::Fail(e) => return fail(e),
    };
    tally_io(
        fd,
        Call::Write,
        real!(REAL_WRITE: fn(c_int, *const c_void, size_t) -> ssize_t; fd, buf, len),
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    let n = match decide_write(fd, len, flags, true).apply(fd) {
        Io::Pass => len,
        Io::Limit(k) => k,
        Io::Fail(e) => return fail(e),
    };
    tally_io(
        fd,
        Call::Write,
        real!(REAL_SEND: fn(c_int, *const c_void, size_t, c_int) -> ssize_t; fd, buf, n, flags),
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const c_void,
    addrlen: socklen_t,
) -> ssize_t {
    let n = match decide_write(fd, len, flags, true).apply(fd) {
        Io::Pass => len,
        Io::Limit(k) => k,
        Io::Fail(e) => return fail(e),
    };
    tally_io(
        fd,
        Call::Write,
        real!(REAL_SENDTO: fn(c_int, *const c_void, size_t, c_int, *const c_void, socklen_t) -> ssize_t;
        fd, buf, n, flags, addr, addrlen),
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    unsafe {
        let count = iovcnt.max(0) as usize;
        match decide_write(fd, iov_len(iov, count), 0, true).apply(fd) {
            Io::Pass => tally_io(
                fd,
                Call::Write,
                real!(REAL_WRITEV: fn(c_int, *const iovec, c_int) -> ssize_t; fd, iov, iovcnt),
            ),
            Io::Limit(k) => {
                let cut = iov_cut(iov, count, k);
                tally_io(
                    fd,
                    Call::Write,
                    real!(REAL_WRITEV: fn(c_int, *const iovec, c_int) -> ssize_t;
                fd, cut.as_ptr(), cut.len() as c_int),
                )
            }
            Io::Fail(e) => fail(e),
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    unsafe {
        if msg.is_null() {
            return tally_io(
                fd,
                Call::Write,
                real!(REAL_SENDMSG: fn(c_int, *const msghdr, c_int) -> ssize_t; fd, msg, flags),
            );
        }
        let (iov, iovlen) = ((*msg).iov, (*msg).iovlen);
        match decide_write(fd, iov_len(iov, iovlen), flags, true).apply(fd) {
            Io::Pass => tally_io(
                fd,
                Call::Write,
                real!(REAL_SENDMSG: fn(c_int, *const msghdr, c_int) -> ssize_t; fd, msg, flags),
            ),
            Io::Limit(k) => {
                let mut cut = iov_cut(iov, iovlen, k);
                let copy = msghdr {
                    name: (*msg).name,
                    namelen: (*msg).namelen,
                    iov: cut.as_mut_ptr(),
                    iovlen: cut.len(),
                    control: (*msg).control,
                    controllen: (*msg).controllen,
                    flags: (*msg).flags,
                };
                tally_io(
                    fd,
                    Call::Write,
                    real!(REAL_SENDMSG: fn(c_int, *const msghdr, c_int) -> ssize_t; fd, &copy, flags),
                )
            }
            Io::Fail(e) => fail(e),
        }
    }
}

// ----- accept, listen, close --------------------------------------------------------------------

/// The port of a socket address (IPv4 or IPv6), if it is one.
unsafe fn port_of(addr: &[u8; 128]) -> Option<u16> {
    let family = u16::from_ne_bytes([addr[0], addr[1]]);
    (family == AF_INET || family == AF_INET6).then(|| u16::from_be_bytes([addr[2], addr[3]]))
}

type NameCall = unsafe extern "C" fn(c_int, *mut c_void, *mut socklen_t) -> c_int;

/// The port `name` (`getpeername` or `getsockname`) gives for `fd`, as the event's word.
fn port_word(fd: c_int, name: NameCall) -> String {
    let mut addr = [0u8; 128];
    let mut len: socklen_t = 128;
    // SAFETY: a buffer of `len` bytes.
    let port = unsafe {
        if name(fd, addr.as_mut_ptr().cast(), &mut len) != 0 {
            None
        } else {
            port_of(&addr)
        }
    };
    port.map_or_else(|| "-".to_string(), |p| p.to_string())
}

/// Books `fd` as connection `idx` of this epoch, whose faults the library decides.
fn book_conn(st: &mut State, fd: c_int, idx: u64) {
    st.forget(fd);
    st.conns.insert(
        fd,
        Conn {
            idx,
            seed: st.seed,
            epoch: st.epoch,
            reads: 0,
            writes: 0,
        },
    );
    CONNS.set(fd, true);
}

fn watch_conn(fd: c_int) {
    let mut guard = state();
    let Some(st) = guard.as_mut() else { return };
    st.sync();
    let idx = st.next_conn;
    st.next_conn += 1;
    book_conn(st, fd, idx);
    let port = port_word(fd, getpeername);
    emit(format!(
        "{EVENT_ACCEPT} {} {} {idx} {port}",
        pid(),
        st.epoch
    ));
}

/// What an intercepted accept does before (or instead of) the real one.
enum AcceptPlan {
    Pass,
    Fail(c_int),
    Abort,
}

fn decide_accept(fd: c_int) -> AcceptPlan {
    if !LISTENERS.get(fd) || !enabled() || control(SLOT_SCOPE) & SCOPE_ACCEPTED == 0 {
        return AcceptPlan::Pass;
    }
    let mut guard = state();
    let Some(st) = guard.as_mut() else {
        return AcceptPlan::Pass;
    };
    st.sync();
    st.accepts += 1;
    let n = st.accepts;
    if st.at_limit {
        return AcceptPlan::Fail(EMFILE);
    }
    let r = rates();
    let die = |salt| roll(st.seed, u64::MAX, OP_ACCEPT, n, salt);
    if !nonblocking(fd) && fires(r.eintr, die(SALT_EINTR)) {
        fault_line(st, None, n, "accept-eintr");
        return AcceptPlan::Fail(EINTR);
    }
    if fires(r.accept, die(SALT_ACCEPT)) {
        let kind = die(SALT_ACCEPT_KIND);
        // A process reaches its descriptor limit holding connections it can close: with
        // none open, `EMFILE` would come out of thin air.
        if kind % 2 == 0 && !st.conns.is_empty() {
            st.at_limit = true;
            fault_line(st, None, n, "accept-emfile 1");
            return AcceptPlan::Fail(EMFILE);
        }
        if kind % 2 == 0 {
            return AcceptPlan::Pass;
        }
        return AcceptPlan::Abort;
    }
    AcceptPlan::Pass
}

unsafe fn accept_common(
    fd: c_int,
    addr: *mut c_void,
    addrlen: *mut socklen_t,
    flags: Option<c_int>,
) -> c_int {
    unsafe {
        let call = |addr: *mut c_void, addrlen: *mut socklen_t, flags: Option<c_int>| match flags {
            Some(f) => real!(REAL_ACCEPT4: fn(c_int, *mut c_void, *mut socklen_t, c_int) -> c_int;
            fd, addr, addrlen, f),
            None => real!(REAL_ACCEPT: fn(c_int, *mut c_void, *mut socklen_t) -> c_int;
            fd, addr, addrlen),
        };
        match decide_accept(fd) {
            AcceptPlan::Fail(e) => {
                idle(Call::Accept);
                return fail(e);
            }
            AcceptPlan::Abort => {
                // The connection at the head of the queue is aborted for real: its client sees a
                // reset, and the server an ECONNABORTED, as when a client resets before accept.
                let c = call(
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    Some(SOCK_CLOEXEC),
                );
                if c < 0 {
                    return c;
                }
                let port = port_word(c, getpeername);
                let off = linger {
                    onoff: 1,
                    linger: 0,
                };
                setsockopt(
                    c,
                    SOL_SOCKET,
                    SO_LINGER,
                    (&off as *const linger).cast(),
                    std::mem::size_of::<linger>() as socklen_t,
                );
                // Reported before the reset leaves: once its client sees it, muxsim may already
                // be collecting the seed's reports.
                if let Some(st) = state().as_ref() {
                    emit(format!("{EVENT_ABORT} {} {} {port}", pid(), st.epoch));
                    fault_line(st, None, st.accepts, "accept-aborted");
                }
                let _ = real!(REAL_CLOSE: fn(c_int) -> c_int; c);
                return fail(ECONNABORTED);
            }
            AcceptPlan::Pass => {}
        }
        let c = call(addr, addrlen, flags);
        if c >= 0 && LISTENERS.get(fd) {
            let e = errno();
            progress();
            watch_conn(c);
            set_errno(e);
        } else if LISTENERS.get(fd) {
            let e = errno();
            idle(Call::Accept);
            set_errno(e);
        }
        c
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut c_void, addrlen: *mut socklen_t) -> c_int {
    unsafe { accept_common(fd, addr, addrlen, None) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut c_void,
    addrlen: *mut socklen_t,
    flags: c_int,
) -> c_int {
    unsafe { accept_common(fd, addr, addrlen, Some(flags)) }
}

/// `127.0.0.1:8080` or `[::1]:8080`.
fn format_addr(addr: &[u8; 128]) -> Option<String> {
    let family = u16::from_ne_bytes([addr[0], addr[1]]);
    let port = u16::from_be_bytes([addr[2], addr[3]]);
    match family {
        AF_INET => Some(format!(
            "{}.{}.{}.{}:{port}",
            addr[4], addr[5], addr[6], addr[7]
        )),
        AF_INET6 => {
            let words: Vec<String> = addr[8..24]
                .chunks(2)
                .map(|w| format!("{:x}", u16::from_be_bytes([w[0], w[1]])))
                .collect();
            Some(format!("[{}]:{port}", words.join(":")))
        }
        _ => None,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    unsafe {
        let r = real!(REAL_LISTEN: fn(c_int, c_int) -> c_int; fd, backlog);
        if r != 0 {
            return r;
        }
        let e = errno();
        let mut kind: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as socklen_t;
        let mut addr = [0u8; 128];
        let mut alen: socklen_t = 128;
        if getsockopt(
            fd,
            SOL_SOCKET,
            SO_TYPE,
            (&mut kind as *mut c_int).cast(),
            &mut len,
        ) == 0
            && kind == SOCK_STREAM
            && getsockname(fd, addr.as_mut_ptr().cast(), &mut alen) == 0
            && let Some(text) = format_addr(&addr)
        {
            LISTENERS.set(fd, true);
            emit(format!("{EVENT_LISTEN} {} {text}", pid()));
        }
        set_errno(e);
        r
    }
}

// ----- connections the server makes -------------------------------------------------------------

/// Whether `fd` is a TCP socket and `addr` an IPv4 or IPv6 address.
unsafe fn outgoing_tcp(fd: c_int, addr: *const c_void, len: socklen_t) -> bool {
    unsafe {
        if addr.is_null() || (len as usize) < 2 {
            return false;
        }
        let family = u16::from_ne_bytes([*addr.cast::<u8>(), *addr.cast::<u8>().add(1)]);
        let mut kind: c_int = 0;
        let mut klen = std::mem::size_of::<c_int>() as socklen_t;
        (family == AF_INET || family == AF_INET6)
            && getsockopt(
                fd,
                SOL_SOCKET,
                SO_TYPE,
                (&mut kind as *mut c_int).cast(),
                &mut klen,
            ) == 0
            && kind == SOCK_STREAM
    }
}

/// A connection the server makes (to an upstream, a backend) takes faults as an accepted
/// one does when muxsim asks (`--faults-on outgoing|all`): refused (`ECONNREFUSED`, with the
/// `reset` family), `EINPROGRESS` from a non-blocking connect that in fact completed at once
/// (with `would-block`: the server must wait for writability and read `SO_ERROR`), then
/// short I/O, `EAGAIN`, `EINTR` and resets on its reads and writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const c_void, len: socklen_t) -> c_int {
    unsafe {
        let call =
            || real!(REAL_CONNECT: fn(c_int, *const c_void, socklen_t) -> c_int; fd, addr, len);
        if !enabled() || control(SLOT_SCOPE) & SCOPE_OUTGOING == 0 || !outgoing_tcp(fd, addr, len) {
            return call();
        }
        let (idx, seed, epoch) = {
            let mut guard = state();
            let Some(st) = guard.as_mut() else {
                return call();
            };
            st.sync();
            st.connects += 1;
            (OUTGOING_BASE + st.connects - 1, st.seed, st.epoch)
        };
        let r = rates();
        let die = |salt| roll(seed, idx, OP_CONNECT, 1, salt);
        let fault = |spec: &str| fault_event(epoch, Some(idx), 1, spec);
        if fires(r.reset, die(SALT_REFUSE)) {
            fault("connect-refused");
            return fail(ECONNREFUSED);
        }
        let result = call();
        let e = errno();
        if result != 0 && e != EINPROGRESS {
            return result;
        }
        if let Some(st) = state().as_mut() {
            book_conn(st, fd, idx);
        }
        let port = port_word(fd, getsockname);
        emit(format!("{EVENT_CONNECT} {} {epoch} {idx} {port}", pid()));
        if result == 0 && nonblocking(fd) && fires(r.would_block, die(SALT_BLOCK)) {
            fault("connect-inprogress");
            return fail(EINPROGRESS);
        }
        set_errno(e);
        result
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if fd >= 0 && fd == EVENTS_FD.load(Ordering::Relaxed) {
        // muxsim's channel: a server closing every descriptor it inherited keeps it.
        return 0;
    }
    if CONNS.get(fd) || LISTENERS.get(fd) || EPOLLS.get(fd) {
        if CONNS.get(fd) {
            progress();
        }
        CONNS.set(fd, false);
        LISTENERS.set(fd, false);
        EPOLLS.set(fd, false);
        if let Some(st) = state().as_mut() {
            st.forget(fd);
        }
    }
    let r = real!(REAL_CLOSE: fn(c_int) -> c_int; fd);
    if r == 0 {
        let e = errno();
        // A descriptor freed: a process at its limit may accept again.
        if let Some(st) = state().as_mut() {
            st.at_limit = false;
        }
        set_errno(e);
    }
    r
}

// ----- waits ------------------------------------------------------------------------------------

/// What an intercepted wait does.
enum WaitPlan {
    Pass,
    Eintr,
    /// Report one watched connection ready that is not, chosen with this die.
    Spurious {
        call: u64,
        die: u64,
    },
}

fn decide_wait(may_sleep: bool) -> WaitPlan {
    if !enabled() {
        return WaitPlan::Pass;
    }
    let mut guard = state();
    let Some(st) = guard.as_mut() else {
        return WaitPlan::Pass;
    };
    st.sync();
    st.polls += 1;
    let n = st.polls;
    let r = rates();
    let die = |salt| roll(st.seed, u64::MAX - 1, OP_POLL, n, salt);
    if may_sleep && fires(r.eintr, die(SALT_EINTR)) {
        fault_line(st, None, n, "poll-eintr");
        return WaitPlan::Eintr;
    }
    if fires(r.spurious, die(SALT_SPURIOUS)) {
        return WaitPlan::Spurious {
            call: n,
            die: die(SALT_PICK),
        };
    }
    WaitPlan::Pass
}

/// Picks one of `candidates` (watched connections, as (fd, connection index)) with `die`,
/// in connection order, and records the spurious report.
fn pick_spurious(candidates: &mut [(c_int, u64)], call: u64, die: u64) -> Option<c_int> {
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_by_key(|&(_, idx)| idx);
    let (fd, idx) = candidates[(die % candidates.len() as u64) as usize];
    let guard = state();
    let st = guard.as_ref()?;
    fault_line(st, Some(idx), call, "spurious");
    Some(fd)
}

fn conn_index(fd: c_int) -> Option<u64> {
    if !CONNS.get(fd) {
        return None;
    }
    state()
        .as_ref()
        .and_then(|st| st.conns.get(&fd).map(|c| c.idx))
        .filter(|idx| in_scope(*idx))
}

/// Whether faults go into connection `idx` (accepted or made, as muxsim asked).
fn in_scope(idx: u64) -> bool {
    let bit = if idx >= OUTGOING_BASE {
        SCOPE_OUTGOING
    } else {
        SCOPE_ACCEPTED
    };
    control(SLOT_SCOPE) & bit != 0
}

fn fd_isset(set: &fd_set, fd: c_int) -> bool {
    let bits = 8 * std::mem::size_of::<c_ulong>();
    set.bits[fd as usize / bits] & (1 << (fd as usize % bits)) != 0
}

fn fd_set_bit(set: &mut fd_set, fd: c_int) {
    let bits = 8 * std::mem::size_of::<c_ulong>();
    set.bits[fd as usize / bits] |= 1 << (fd as usize % bits);
}

/// After a real select: marks one watched connection readable that was asked about and not
/// reported, if the plan says so.
unsafe fn select_spurious(
    plan: &WaitPlan,
    nfds: c_int,
    asked: Option<fd_set>,
    readfds: *mut fd_set,
    result: c_int,
) -> c_int {
    unsafe {
        let (WaitPlan::Spurious { call, die }, Some(asked)) = (plan, asked) else {
            return result;
        };
        if result < 0 || readfds.is_null() {
            return result;
        }
        let mut candidates: Vec<(c_int, u64)> = (0..nfds.min(FD_SETSIZE))
            .filter(|&fd| fd_isset(&asked, fd) && !fd_isset(&*readfds, fd))
            .filter_map(|fd| conn_index(fd).map(|idx| (fd, idx)))
            .collect();
        match pick_spurious(&mut candidates, *call, *die) {
            Some(fd) => {
                fd_set_bit(&mut *readfds, fd);
                result + 1
            }
            None => result,
        }
    }
}

/// Whether a wait that would sleep is woken at once with a spurious report, as a signal or
/// a timeout may end it early: the library first looks without sleeping, and reports a
/// watched connection that is not ready when nothing is.
fn wakes(plan: &WaitPlan, may_sleep: bool) -> bool {
    may_sleep && matches!(plan, WaitPlan::Spurious { .. })
}

/// Copies of a select's descriptor sets, which a call that reports nothing clears.
struct SetsKept([Option<fd_set>; 3]);

impl SetsKept {
    unsafe fn keep(r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) -> SetsKept {
        unsafe {
            let copy = |p: *mut fd_set| (!p.is_null()).then(|| *p);
            SetsKept([copy(r), copy(w), copy(e)])
        }
    }

    unsafe fn restore(&self, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) {
        unsafe {
            for (kept, p) in self.0.iter().zip([r, w, e]) {
                if let Some(set) = kept {
                    *p = *set;
                }
            }
        }
    }
}

fn timeval_is_zero(t: *const timeval) -> bool {
    // SAFETY: checked for NULL; the caller passes a valid timeval otherwise.
    !t.is_null() && unsafe { (*t).sec == 0 && (*t).usec == 0 }
}

fn timespec_is_zero(t: *const timespec) -> bool {
    // SAFETY: as above.
    !t.is_null() && unsafe { (*t).sec == 0 && (*t).nsec == 0 }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    unsafe {
        let plan = decide_wait(!timeval_is_zero(timeout));
        if let WaitPlan::Eintr = plan {
            return fail(EINTR);
        }
        let asked = (!readfds.is_null() && nfds <= FD_SETSIZE).then(|| *readfds);
        if wakes(&plan, !timeval_is_zero(timeout)) {
            let sets = SetsKept::keep(readfds, writefds, exceptfds);
            let mut zero = timeval { sec: 0, usec: 0 };
            let r = real!(REAL_SELECT: fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *mut timeval) -> c_int;
            nfds, readfds, writefds, exceptfds, &mut zero);
            let woken = select_spurious(&plan, nfds, asked, readfds, r);
            if r != 0 || woken != 0 {
                return tally_wait(woken);
            }
            sets.restore(readfds, writefds, exceptfds);
        }
        let r = real!(REAL_SELECT: fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *mut timeval) -> c_int;
        nfds, readfds, writefds, exceptfds, timeout);
        tally_wait(select_spurious(&plan, nfds, asked, readfds, r))
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *const timespec,
    sigmask: *const c_void,
) -> c_int {
    unsafe {
        let plan = decide_wait(!timespec_is_zero(timeout));
        if let WaitPlan::Eintr = plan {
            return fail(EINTR);
        }
        let asked = (!readfds.is_null() && nfds <= FD_SETSIZE).then(|| *readfds);
        if wakes(&plan, !timespec_is_zero(timeout)) {
            let sets = SetsKept::keep(readfds, writefds, exceptfds);
            let zero = timespec { sec: 0, nsec: 0 };
            let r = real!(REAL_PSELECT: fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *const timespec, *const c_void) -> c_int;
            nfds, readfds, writefds, exceptfds, &zero, sigmask);
            let woken = select_spurious(&plan, nfds, asked, readfds, r);
            if r != 0 || woken != 0 {
                return tally_wait(woken);
            }
            sets.restore(readfds, writefds, exceptfds);
        }
        let r = real!(REAL_PSELECT: fn(c_int, *mut fd_set, *mut fd_set, *mut fd_set, *const timespec, *const c_void) -> c_int;
        nfds, readfds, writefds, exceptfds, timeout, sigmask);
        tally_wait(select_spurious(&plan, nfds, asked, readfds, r))
    }
}

unsafe fn poll_spurious(plan: &WaitPlan, fds: *mut pollfd, nfds: nfds_t, result: c_int) -> c_int {
    unsafe {
        let WaitPlan::Spurious { call, die } = plan else {
            return result;
        };
        if result < 0 || fds.is_null() {
            return result;
        }
        let entries = std::slice::from_raw_parts_mut(fds, nfds as usize);
        let mut candidates: Vec<(c_int, u64)> = entries
            .iter()
            .filter(|p| p.events & POLLIN != 0 && p.revents == 0)
            .filter_map(|p| conn_index(p.fd).map(|idx| (p.fd, idx)))
            .collect();
        match pick_spurious(&mut candidates, *call, *die) {
            Some(fd) => {
                for p in entries.iter_mut().filter(|p| p.fd == fd) {
                    p.revents |= POLLIN;
                }
                result + 1
            }
            None => result,
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    unsafe {
        let plan = decide_wait(timeout != 0);
        if let WaitPlan::Eintr = plan {
            return fail(EINTR);
        }
        if wakes(&plan, timeout != 0) {
            let r = real!(REAL_POLL: fn(*mut pollfd, nfds_t, c_int) -> c_int; fds, nfds, 0);
            let woken = poll_spurious(&plan, fds, nfds, r);
            if r != 0 || woken != 0 {
                return tally_wait(woken);
            }
        }
        let r = real!(REAL_POLL: fn(*mut pollfd, nfds_t, c_int) -> c_int; fds, nfds, timeout);
        tally_wait(poll_spurious(&plan, fds, nfds, r))
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    sigmask: *const c_void,
) -> c_int {
    unsafe {
        let plan = decide_wait(!timespec_is_zero(timeout));
        if let WaitPlan::Eintr = plan {
            return fail(EINTR);
        }
        if wakes(&plan, !timespec_is_zero(timeout)) {
            let zero = timespec { sec: 0, nsec: 0 };
            let r = real!(REAL_PPOLL: fn(*mut pollfd, nfds_t, *const timespec, *const c_void) -> c_int;
            fds, nfds, &zero, sigmask);
            let woken = poll_spurious(&plan, fds, nfds, r);
            if r != 0 || woken != 0 {
                return tally_wait(woken);
            }
        }
        let r = real!(REAL_PPOLL: fn(*mut pollfd, nfds_t, *const timespec, *const c_void) -> c_int;
        fds, nfds, timeout, sigmask);
        tally_wait(poll_spurious(&plan, fds, nfds, r))
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut epoll_event,
) -> c_int {
    unsafe {
        let r = real!(REAL_EPOLL_CTL: fn(c_int, c_int, c_int, *mut epoll_event) -> c_int;
        epfd, op, fd, event);
        if r != 0 || !(CONNS.get(fd) || LISTENERS.get(fd)) {
            return r;
        }
        let e = errno();
        if let Some(st) = state().as_mut() {
            match op {
                EPOLL_CTL_ADD | EPOLL_CTL_MOD if !event.is_null() => {
                    let ev = *event;
                    st.regs.entry(epfd).or_default().insert(
                        fd,
                        Reg {
                            events: ev.events,
                            data: ev.data,
                            armed: true,
                        },
                    );
                    EPOLLS.set(epfd, true);
                }
                EPOLL_CTL_DEL => {
                    if let Some(regs) = st.regs.get_mut(&epfd) {
                        regs.remove(&fd);
                    }
                }
                _ => {}
            }
        }
        set_errno(e);
        r
    }
}

/// The events owed to `epfd`'s edge-triggered registrations, as (data, events), taken off
/// the books.
fn take_owed(epfd: c_int) -> Vec<(u64, u32)> {
    let mut guard = state();
    let Some(st) = guard.as_mut() else {
        return Vec::new();
    };
    if st.owed.is_empty() {
        return Vec::new();
    }
    let instances = st.instances(epfd);
    let mut out = Vec::new();
    let mut done = Vec::new();
    for (&fd, &bits) in &st.owed {
        let Some(reg) = instances
            .iter()
            .find_map(|e| st.regs.get(e).and_then(|regs| regs.get(&fd)))
        else {
            continue;
        };
        let wanted = bits & reg.events & (EPOLLIN | EPOLLOUT);
        if reg.events & EPOLLET != 0 && reg.armed && wanted != 0 {
            out.push((reg.data, wanted));
        }
        done.push(fd);
    }
    for fd in done {
        st.owed.remove(&fd);
    }
    out.sort_by_key(|&(data, _)| data);
    out
}

/// Puts owed events that were not delivered back on the books, for the next wait.
fn give_back(epfd: c_int, owed: &[(u64, u32)]) {
    if owed.is_empty() {
        return;
    }
    if let Some(st) = state().as_mut() {
        let instances = st.instances(epfd);
        let mut back: Vec<(c_int, u32)> = Vec::new();
        for &(data, bits) in owed {
            for i in &instances {
                if let Some(regs) = st.regs.get(i) {
                    back.extend(
                        regs.iter()
                            .filter(|(_, r)| r.data == data)
                            .map(|(&fd, _)| (fd, bits)),
                    );
                }
            }
        }
        for (fd, bits) in back {
            *st.owed.entry(fd).or_insert(0) |= bits;
        }
    }
}

/// After a real epoll wait: adds what is owed (what does not fit in the caller's array stays
/// owed for the next wait) and a spurious report if planned, and disarms one-shot
/// registrations that were reported.
unsafe fn epoll_after(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    mut n: usize,
    owed: Vec<(u64, u32)>,
    plan: &WaitPlan,
) -> c_int {
    unsafe {
        let max = maxevents.max(0) as usize;
        let out = std::slice::from_raw_parts_mut(events, max);
        let mut left = Vec::new();
        for (data, bits) in owed {
            if let Some(e) = out[..n].iter_mut().find(|e| e.data == data) {
                e.events |= bits;
            } else if n < max {
                out[n] = epoll_event { events: bits, data };
                n += 1;
            } else {
                left.push((data, bits));
            }
        }
        give_back(epfd, &left);
        let mut guard = state();
        if let Some(st) = guard.as_mut() {
            let instances = st.instances(epfd);
            if let WaitPlan::Spurious { call, die } = plan {
                let mut candidates: Vec<(u64, u64)> = Vec::new();
                for e in &instances {
                    for (fd, r) in st.regs.get(e).into_iter().flatten() {
                        let reported = out[..n].iter().any(|ev| ev.data == r.data);
                        if r.armed
                            && r.events & EPOLLIN != 0
                            && !reported
                            && let Some(c) = st.conns.get(fd).filter(|c| in_scope(c.idx))
                        {
                            candidates.push((c.idx, r.data));
                        }
                    }
                }
                if !candidates.is_empty() && n < max {
                    candidates.sort_unstable();
                    let (idx, data) = candidates[(die % candidates.len() as u64) as usize];
                    out[n] = epoll_event {
                        events: EPOLLIN,
                        data,
                    };
                    n += 1;
                    fault_line(st, Some(idx), *call, "spurious");
                }
            }
            for e in &instances {
                if let Some(regs) = st.regs.get_mut(e) {
                    for r in regs.values_mut() {
                        let reported = out[..n].iter().any(|ev| ev.data == r.data);
                        if r.events & EPOLLONESHOT != 0 && reported {
                            r.armed = false;
                        }
                    }
                }
            }
        }
        n as c_int
    }
}

/// The shared body of the epoll waits: `wait(block)` makes the real call, blocking as the
/// caller asked, or not at all when events are owed.
unsafe fn epoll_common(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    may_sleep: bool,
    wait: &dyn Fn(bool) -> c_int,
) -> c_int {
    unsafe { tally_wait(epoll_waited(epfd, events, maxevents, may_sleep, wait)) }
}

unsafe fn epoll_waited(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    may_sleep: bool,
    wait: &dyn Fn(bool) -> c_int,
) -> c_int {
    unsafe {
        let plan = decide_wait(may_sleep);
        if let WaitPlan::Eintr = plan {
            return fail(EINTR);
        }
        let owed = take_owed(epfd);
        if owed.is_empty() && wakes(&plan, may_sleep) {
            let r = wait(false);
            if r >= 0 {
                let e = errno();
                let n = epoll_after(epfd, events, maxevents, r as usize, Vec::new(), &plan);
                set_errno(e);
                if n != 0 {
                    return n;
                }
            } else {
                return r;
            }
        }
        let r = wait(owed.is_empty());
        if r < 0 {
            if !owed.is_empty() {
                // Still owed: give them back.
                let e = errno();
                give_back(epfd, &owed);
                set_errno(e);
            }
            return r;
        }
        let watched = state().as_ref().is_some_and(|st| !st.regs.is_empty());
        if owed.is_empty() && !matches!(plan, WaitPlan::Spurious { .. }) && !watched {
            return r;
        }
        let e = errno();
        let n = epoll_after(epfd, events, maxevents, r as usize, owed, &plan);
        set_errno(e);
        n
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    unsafe {
        epoll_common(epfd, events, maxevents, timeout != 0, &|block| {
            let t = if block { timeout } else { 0 };
            real!(REAL_EPOLL_WAIT: fn(c_int, *mut epoll_event, c_int, c_int) -> c_int;
            epfd, events, maxevents, t)
        })
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
    sigmask: *const c_void,
) -> c_int {
    unsafe {
        epoll_common(epfd, events, maxevents, timeout != 0, &|block| {
            let t = if block { timeout } else { 0 };
            real!(REAL_EPOLL_PWAIT: fn(c_int, *mut epoll_event, c_int, c_int, *const c_void) -> c_int;
            epfd, events, maxevents, t, sigmask)
        })
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: *const timespec,
    sigmask: *const c_void,
) -> c_int {
    unsafe {
        let zero = timespec { sec: 0, nsec: 0 };
        epoll_common(
            epfd,
            events,
            maxevents,
            !timespec_is_zero(timeout),
            &|block| {
                let t = if block {
                    timeout
                } else {
                    &zero as *const timespec
                };
                real!(REAL_EPOLL_PWAIT2: fn(c_int, *mut epoll_event, c_int, *const timespec, *const c_void) -> c_int;
                epfd, events, maxevents, t, sigmask)
            },
        )
    }
}
