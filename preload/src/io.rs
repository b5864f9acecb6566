//! Reads and writes: short transfers, `EINTR`, `EAGAIN` after readiness, resets.

use crate::*;

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
pub(crate) unsafe fn iov_len(iov: *const iovec, count: usize) -> usize {
    unsafe {
        if iov.is_null() {
            return 0;
        }
        (0..count).map(|i| (*iov.add(i)).len).sum()
    }
}

/// A copy of an iovec array cut to `limit` bytes in all.
pub(crate) unsafe fn iov_cut(iov: *const iovec, count: usize, limit: usize) -> Vec<iovec> {
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
