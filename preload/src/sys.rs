//! Linux constants and C types, and libc's own functions found with `dlsym(RTLD_NEXT)`.

use crate::*;

// ----- Linux constants (x86_64 and aarch64 agree on all of these) ----------------------------

pub(crate) const EINTR: c_int = 4;
pub(crate) const EAGAIN: c_int = 11;
pub(crate) const EMFILE: c_int = 24;
pub(crate) const EPIPE: c_int = 32;
pub(crate) const ENOSYS: c_int = 38;
pub(crate) const ECONNABORTED: c_int = 103;
pub(crate) const ECONNRESET: c_int = 104;

pub(crate) const F_GETFL: c_int = 3;
pub(crate) const O_NONBLOCK: c_int = 0o4000;
pub(crate) const FIONREAD: c_ulong = 0x541B;

pub(crate) const MSG_PEEK: c_int = 0x02;
pub(crate) const MSG_DONTWAIT: c_int = 0x40;
pub(crate) const MSG_NOSIGNAL: c_int = 0x4000;

pub(crate) const SOL_SOCKET: c_int = 1;
pub(crate) const SO_TYPE: c_int = 3;
pub(crate) const EINPROGRESS: c_int = 115;
pub(crate) const ECONNREFUSED: c_int = 111;
pub(crate) const SO_LINGER: c_int = 13;
pub(crate) const SOCK_STREAM: c_int = 1;
pub(crate) const SOCK_CLOEXEC: c_int = 0o2000000;
pub(crate) const AF_INET: u16 = 2;
pub(crate) const AF_INET6: u16 = 10;

pub(crate) const EPOLLIN: u32 = 0x001;
pub(crate) const EPOLLOUT: u32 = 0x004;
pub(crate) const EPOLLONESHOT: u32 = 1 << 30;
pub(crate) const EPOLLET: u32 = 1 << 31;
pub(crate) const EPOLL_CTL_ADD: c_int = 1;
pub(crate) const EPOLL_CTL_DEL: c_int = 2;
pub(crate) const EPOLL_CTL_MOD: c_int = 3;

pub(crate) const POLLIN: i16 = 0x001;

pub(crate) const SIGPIPE: c_int = 13;

pub(crate) const PROT_READ: c_int = 1;
pub(crate) const MAP_SHARED: c_int = 1;
pub(crate) const O_RDONLY: c_int = 0;

pub(crate) const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;

// ----- C types -------------------------------------------------------------------------------

#[repr(C)]
pub struct iovec {
    pub(crate) base: *mut c_void,
    pub(crate) len: size_t,
}

#[repr(C)]
pub struct msghdr {
    pub(crate) name: *mut c_void,
    pub(crate) namelen: socklen_t,
    pub(crate) iov: *mut iovec,
    pub(crate) iovlen: size_t,
    pub(crate) control: *mut c_void,
    pub(crate) controllen: size_t,
    pub(crate) flags: c_int,
}

#[repr(C)]
pub struct pollfd {
    pub(crate) fd: c_int,
    pub(crate) events: i16,
    pub(crate) revents: i16,
}

#[cfg_attr(target_arch = "x86_64", repr(C, packed))]
#[cfg_attr(not(target_arch = "x86_64"), repr(C))]
#[derive(Clone, Copy)]
pub struct epoll_event {
    pub(crate) events: u32,
    pub(crate) data: u64,
}

/// `fd_set`: 1024 bits.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct fd_set {
    pub(crate) bits: [c_ulong; 1024 / (8 * std::mem::size_of::<c_ulong>())],
}

pub(crate) const FD_SETSIZE: c_int = 1024;

#[repr(C)]
pub struct timeval {
    pub(crate) sec: i64,
    pub(crate) usec: i64,
}

#[repr(C)]
pub struct timespec {
    pub(crate) sec: i64,
    pub(crate) nsec: i64,
}

#[repr(C)]
pub(crate) struct linger {
    pub(crate) onoff: c_int,
    pub(crate) linger: c_int,
}

#[link(name = "dl")]
unsafe extern "C" {
    pub(crate) fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

unsafe extern "C" {
    pub(crate) fn __errno_location() -> *mut c_int;
    pub(crate) fn getpid() -> c_int;
    pub(crate) fn raise(sig: c_int) -> c_int;
    pub(crate) fn mmap(
        addr: *mut c_void,
        len: size_t,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: i64,
    ) -> *mut c_void;
    pub(crate) fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    pub(crate) fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    pub(crate) fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    pub(crate) fn getsockname(fd: c_int, addr: *mut c_void, len: *mut socklen_t) -> c_int;
    pub(crate) fn getpeername(fd: c_int, addr: *mut c_void, len: *mut socklen_t) -> c_int;
    pub(crate) fn getsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *mut c_void,
        len: *mut socklen_t,
    ) -> c_int;
    pub(crate) fn setsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t,
    ) -> c_int;
    pub(crate) fn clock_gettime(clock: c_int, tp: *mut timespec) -> c_int;
}

#[cfg(target_arch = "x86_64")]
pub(crate) const SYS_CLOSE: std::ffi::c_long = 3;
#[cfg(target_arch = "aarch64")]
pub(crate) const SYS_CLOSE: std::ffi::c_long = 57;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) const SYS_CLOSE: std::ffi::c_long = -1;
#[cfg(target_arch = "x86_64")]
pub(crate) const SYS_KCMP: std::ffi::c_long = 312;
#[cfg(target_arch = "aarch64")]
pub(crate) const SYS_KCMP: std::ffi::c_long = 272;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) const SYS_KCMP: std::ffi::c_long = -1;
pub(crate) const KCMP_FILE: c_int = 0;

pub(crate) fn set_errno(e: c_int) {
    // SAFETY: glibc's errno location is valid for the calling thread.
    unsafe { *__errno_location() = e };
}

pub(crate) fn errno() -> c_int {
    // SAFETY: as above.
    unsafe { *__errno_location() }
}

pub(crate) fn fail<T: From<i8>>(e: c_int) -> T {
    set_errno(e);
    T::from(-1)
}

// ----- the real functions ---------------------------------------------------------------------

/// A libc function found with `dlsym(RTLD_NEXT)` on first use.
pub(crate) struct Real {
    pub(crate) ptr: AtomicPtr<c_void>,
    pub(crate) name: &'static [u8],
}

impl Real {
    pub(crate) const fn new(name: &'static [u8]) -> Self {
        Real {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
            name,
        }
    }

    pub(crate) fn get(&self) -> *mut c_void {
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

pub(crate) static REAL_READ: Real = Real::new(b"read\0");
pub(crate) static REAL_RECV: Real = Real::new(b"recv\0");
pub(crate) static REAL_RECVFROM: Real = Real::new(b"recvfrom\0");
pub(crate) static REAL_RECVMSG: Real = Real::new(b"recvmsg\0");
pub(crate) static REAL_READV: Real = Real::new(b"readv\0");
pub(crate) static REAL_WRITE: Real = Real::new(b"write\0");
pub(crate) static REAL_SEND: Real = Real::new(b"send\0");
pub(crate) static REAL_SENDTO: Real = Real::new(b"sendto\0");
pub(crate) static REAL_SENDMSG: Real = Real::new(b"sendmsg\0");
pub(crate) static REAL_WRITEV: Real = Real::new(b"writev\0");
pub(crate) static REAL_ACCEPT: Real = Real::new(b"accept\0");
pub(crate) static REAL_ACCEPT4: Real = Real::new(b"accept4\0");
pub(crate) static REAL_LISTEN: Real = Real::new(b"listen\0");
pub(crate) static REAL_CLOSE: Real = Real::new(b"close\0");
pub(crate) static REAL_SYSCALL: Real = Real::new(b"syscall\0");

/// libc's `syscall(number, args...)`, with six arguments whether the call uses them or not.
pub(crate) unsafe fn real_syscall(number: c_long, args: [c_long; 6]) -> c_long {
    let [a1, a2, a3, a4, a5, a6] = args;
    real!(REAL_SYSCALL: fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long; number, a1, a2, a3, a4, a5, a6)
}
pub(crate) static REAL_CONNECT: Real = Real::new(b"connect\0");
pub(crate) static REAL_SELECT: Real = Real::new(b"select\0");
pub(crate) static REAL_PSELECT: Real = Real::new(b"pselect\0");
pub(crate) static REAL_POLL: Real = Real::new(b"poll\0");
pub(crate) static REAL_PPOLL: Real = Real::new(b"ppoll\0");
pub(crate) static REAL_EPOLL_CTL: Real = Real::new(b"epoll_ctl\0");
pub(crate) static REAL_EPOLL_WAIT: Real = Real::new(b"epoll_wait\0");
pub(crate) static REAL_EPOLL_PWAIT: Real = Real::new(b"epoll_pwait\0");
pub(crate) static REAL_EPOLL_PWAIT2: Real = Real::new(b"epoll_pwait2\0");
