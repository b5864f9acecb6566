//! `accept`, `listen`, `close`, and the connections the server makes (`connect`).

use crate::*;

// ----- accept, listen, close --------------------------------------------------------------------

/// The port of a socket address (IPv4 or IPv6), if it is one.
pub(crate) unsafe fn port_of(addr: &[u8; 128]) -> Option<u16> {
    let family = u16::from_ne_bytes([addr[0], addr[1]]);
    (family == AF_INET || family == AF_INET6).then(|| u16::from_be_bytes([addr[2], addr[3]]))
}

pub(crate) type NameCall = unsafe extern "C" fn(c_int, *mut c_void, *mut socklen_t) -> c_int;

/// The port `name` (`getpeername` or `getsockname`) gives for `fd`, as the event's word.
pub(crate) fn port_word(fd: c_int, name: NameCall) -> String {
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
pub(crate) fn book_conn(st: &mut State, fd: c_int, idx: u64) {
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

pub(crate) fn watch_conn(fd: c_int) {
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
pub(crate) enum AcceptPlan {
    Pass,
    Fail(c_int),
    Abort,
}

pub(crate) fn decide_accept(fd: c_int) -> AcceptPlan {
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
        st.limit_fails += 1;
        let now = now_ns();
        if st.limit_fails == 1 {
            st.limit_since = now;
        }
        if st.limit_fails >= SPIN_ACCEPTS_AT_LIMIT {
            let (calls, nanos) = (st.limit_fails, now.saturating_sub(st.limit_since));
            st.limit_fails = 0;
            drop(guard);
            spun(calls, nanos, [0, calls, 0, 0]);
        }
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

pub(crate) unsafe fn accept_common(
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
pub(crate) fn format_addr(addr: &[u8; 128]) -> Option<String> {
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
pub(crate) unsafe fn outgoing_tcp(fd: c_int, addr: *const c_void, len: socklen_t) -> bool {
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

/// `syscall(2)`, for the one call made through it that the library must see: libuv (and so
/// Node.js) closes descriptors with `syscall(SYS_close, fd)`, past libc's `close`. Unseen,
/// such a close would leave a connection watched after its number was reused and a process
/// muxsim put at its descriptor limit there for good. Every other call goes straight through.
///
/// `syscall` is variadic; its arguments are integers in the registers (and the stack slot) a
/// function of seven integer arguments reads, on x86_64 and aarch64 alike, so it is defined
/// with seven, and the ones a call did not pass go through unread by the kernel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    if number == SYS_CLOSE {
        // SAFETY: the wrapper below takes any descriptor number, as close(2) does.
        return c_long::from(unsafe { close(a1 as c_int) });
    }
    // SAFETY: the caller's own arguments, passed on as it gave them.
    unsafe { real_syscall(number, [a1, a2, a3, a4, a5, a6]) }
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
            st.limit_fails = 0;
        }
        set_errno(e);
    }
    r
}
