//! What muxsim tells the library (the shared page) and what the library tells muxsim (event lines), and busy-loop detection.

use crate::*;

// ----- what muxsim tells us, and what we tell muxsim ----------------------------------------

pub(crate) static CONTROL: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
pub(crate) static EVENTS_FD: AtomicI32 = AtomicI32::new(-1);

pub(crate) fn control(slot: usize) -> u64 {
    let base = CONTROL.load(Ordering::Acquire);
    if base.is_null() {
        return 0;
    }
    // SAFETY: the page holds 512 slots, mapped for the life of the process.
    unsafe { (*base.add(slot)).load(Ordering::Acquire) }
}

pub(crate) fn enabled() -> bool {
    control(SLOT_ENABLED) != 0 && SPUN_EPOCH.load(Ordering::Relaxed) != control(SLOT_EPOCH)
}

// ----- busy loops -------------------------------------------------------------------------------
//
// A process that makes call after call on its sockets and waits without moving a byte,
// accepting or closing anything is spinning, however much CPU the machine lets it have.
// The library counts such calls in a row; `SPIN_CALLS` of them within `SPIN_WINDOW_NS` is a
// busy loop, reported once per seed (`spin PID EPOCH CALLS NANOS WAITS ACCEPTS READS WRITES`)
// after which no more faults are injected into it for that seed.

pub(crate) const SPIN_CALLS: u64 = 20_000;
/// Accepts failed at the descriptor limit muxsim imposed, with no descriptor closed between
/// them, that are a busy loop too (within `SPIN_WINDOW_NS`): a server that meets `EMFILE`
/// well stops watching the listener (one failed accept) or closes a descriptor it keeps in
/// reserve (libuv: two); one that retries at once makes thousands a second, while it also
/// serves its other connections, whose bytes end the streak above.
pub(crate) const SPIN_ACCEPTS_AT_LIMIT: u64 = 1_000;
pub(crate) const SPIN_WINDOW_NS: u64 = 2_000_000_000;
pub(crate) const CLOCK_MONOTONIC: c_int = 1;

/// Calls in a row that moved nothing, and when the run began.
pub(crate) static STREAK: AtomicU64 = AtomicU64::new(0);
pub(crate) static STREAK_START: AtomicU64 = AtomicU64::new(0);
/// Of the streak: waits, failed accepts, empty reads, empty writes.
pub(crate) static STREAK_KINDS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// The epoch in which the process was reported spinning (0: none).
pub(crate) static SPUN_EPOCH: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy)]
pub(crate) enum Call {
    Wait = 0,
    Accept = 1,
    Read = 2,
    Write = 3,
}

pub(crate) fn now_ns() -> u64 {
    let mut t = timespec { sec: 0, nsec: 0 };
    // SAFETY: writing into a timespec we own.
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut t) };
    (t.sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.nsec as u64)
}

/// A call that moved bytes, accepted or closed a connection.
pub(crate) fn progress() {
    if STREAK.load(Ordering::Relaxed) != 0 {
        STREAK.store(0, Ordering::Relaxed);
    }
}

/// A call that moved nothing.
pub(crate) fn idle(call: Call) {
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
    let kinds = STREAK_KINDS.each_ref().map(|k| k.load(Ordering::Relaxed));
    spun(n, nanos, kinds);
}

/// Reports a busy loop of `calls` calls in `nanos` (`kinds`: waits, failed accepts, empty
/// reads, empty writes), once per seed, if they came within `SPIN_WINDOW_NS`.
pub(crate) fn spun(calls: u64, nanos: u64, kinds: [u64; 4]) {
    let epoch = control(SLOT_EPOCH);
    if nanos < SPIN_WINDOW_NS && epoch != 0 && SPUN_EPOCH.swap(epoch, Ordering::Relaxed) != epoch {
        let kinds: Vec<String> = kinds.iter().map(u64::to_string).collect();
        emit(format!(
            "{EVENT_SPIN} {} {epoch} {calls} {nanos} {}",
            pid(),
            kinds.join(" ")
        ));
    }
}

/// Books a read or write's result on a connection, keeping `errno`.
pub(crate) fn tally_io(fd: c_int, call: Call, result: ssize_t) -> ssize_t {
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
pub(crate) fn tally_wait(result: c_int) -> c_int {
    let e = errno();
    idle(Call::Wait);
    set_errno(e);
    result
}

/// Fault rates per family, parts per million.
#[derive(Clone, Copy)]
pub(crate) struct Rates {
    pub(crate) short_io: u64,
    pub(crate) would_block: u64,
    pub(crate) eintr: u64,
    pub(crate) spurious: u64,
    pub(crate) accept: u64,
    pub(crate) reset: u64,
}

pub(crate) fn rates() -> Rates {
    // Each slot found in the wire's order once, at compile time: this runs on every call.
    const SHORT_IO: usize = rate_slot("short-io");
    const WOULD_BLOCK: usize = rate_slot("would-block");
    const EINTR_RATE: usize = rate_slot("eintr");
    const SPURIOUS: usize = rate_slot("spurious");
    const ACCEPT: usize = rate_slot("accept");
    const RESET: usize = rate_slot("reset");
    Rates {
        short_io: control(SHORT_IO),
        would_block: control(WOULD_BLOCK),
        eintr: control(EINTR_RATE),
        spurious: control(SPURIOUS),
        accept: control(ACCEPT),
        reset: control(RESET),
    }
}

/// Sends one event line to muxsim; never blocks, never raises `SIGPIPE`.
pub(crate) fn emit(line: String) {
    let fd = EVENTS_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    let _ = real!(REAL_SEND: fn(c_int, *const c_void, size_t, c_int) -> ssize_t;
        fd, line.as_ptr().cast(), line.len(), flags);
}

pub(crate) fn pid() -> c_int {
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
pub(crate) static INIT: extern "C" fn() = init;
