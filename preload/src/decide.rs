//! The plan: which call gets which fault, from the seed and the per-connection call counters.

use crate::*;

// ----- the plan -------------------------------------------------------------------------------

pub(crate) const OP_READ: u64 = 1;
pub(crate) const OP_WRITE: u64 = 2;
pub(crate) const OP_ACCEPT: u64 = 3;
pub(crate) const OP_POLL: u64 = 4;
pub(crate) const OP_CONNECT: u64 = 5;

pub(crate) const SALT_EINTR: u64 = 11;
pub(crate) const SALT_RESET: u64 = 12;
pub(crate) const SALT_SHORT: u64 = 13;
pub(crate) const SALT_SHORT_LEN: u64 = 14;
pub(crate) const SALT_BLOCK: u64 = 15;
pub(crate) const SALT_ACCEPT: u64 = 16;
pub(crate) const SALT_ACCEPT_KIND: u64 = 17;
pub(crate) const SALT_SPURIOUS: u64 = 18;
pub(crate) const SALT_PICK: u64 = 19;
pub(crate) const SALT_REFUSE: u64 = 20;

pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The die for one decision: a function of the seed, the connection, the operation, the call
/// number and what is being decided.
pub(crate) fn roll(seed: u64, conn: u64, op: u64, call: u64, salt: u64) -> u64 {
    mix(seed ^ mix(conn ^ mix(op ^ mix(call ^ mix(salt)))))
}

pub(crate) fn fires(rate: u64, die: u64) -> bool {
    rate > 0 && die % 1_000_000 < rate
}

pub(crate) fn nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { fcntl(fd, F_GETFL) };
    flags >= 0 && flags & O_NONBLOCK != 0
}

pub(crate) fn available(fd: c_int) -> usize {
    let mut n: c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let r = unsafe { ioctl(fd, FIONREAD, &mut n as *mut c_int) };
    if r == 0 && n > 0 { n as usize } else { 0 }
}

/// Resets the connection for real, keeping the descriptor: the client sees the reset.
pub(crate) fn reset_for_real(fd: c_int) {
    let unspec = [0u8; 16];
    // A sockaddr of family AF_UNSPEC dissolves the association (tcp_disconnect).
    real!(REAL_CONNECT: fn(c_int, *const c_void, socklen_t) -> c_int;
        fd, unspec.as_ptr().cast(), unspec.len() as socklen_t);
}

/// What an intercepted read or write does.
pub(crate) enum Io {
    Pass,
    Fail(c_int),
    Limit(usize),
}

/// Side effects decided under the lock, done after it.
pub(crate) struct Decision {
    pub(crate) io: Io,
    pub(crate) reset: bool,
    pub(crate) sigpipe: bool,
}

impl Decision {
    pub(crate) const PASS: Decision = Decision {
        io: Io::Pass,
        reset: false,
        sigpipe: false,
    };

    pub(crate) fn apply(self, fd: c_int) -> Io {
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
pub(crate) fn fault_event(epoch: u64, who: Option<u64>, call: u64, spec: &str) {
    let who = who.map_or_else(|| "-".to_string(), |i| i.to_string());
    emit(format!(
        "{EVENT_FAULT} {} {epoch} {who} {call} {spec}",
        pid()
    ));
}

pub(crate) fn fault_line(st: &State, who: Option<u64>, call: u64, spec: &str) {
    fault_event(st.epoch, who, call, spec);
}

pub(crate) fn conn_fault_line(conn: &Conn, call: u64, spec: &str) {
    fault_event(conn.epoch, Some(conn.idx), call, spec);
}

/// Which way a data call moves bytes.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Dir {
    Read,
    Write,
}

pub(crate) fn decide_read(fd: c_int, len: usize, flags: c_int) -> Decision {
    // A peek consumes nothing, so nothing is injected into it.
    if flags & MSG_PEEK != 0 {
        return Decision::PASS;
    }
    decide_io(fd, len, flags, Dir::Read, false)
}

pub(crate) fn decide_write(fd: c_int, len: usize, flags: c_int, signals: bool) -> Decision {
    decide_io(fd, len, flags, Dir::Write, signals)
}

/// The fault, if any, for one read or write of `len` bytes on `fd`: `EINTR` (blocking calls
/// only), a reset, then a short transfer or `EAGAIN` (non-blocking calls only), each owing
/// the descriptor an edge-triggered event.
pub(crate) fn decide_io(fd: c_int, len: usize, flags: c_int, dir: Dir, signals: bool) -> Decision {
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
