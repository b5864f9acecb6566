//! muxsim's interposition library: seeded readiness faults inside an unmodified server.
//!
//! `muxsim run -- CMD` starts CMD with this library in `LD_PRELOAD` (Linux, glibc). It wraps
//! the server's socket calls — `accept`/`accept4`, the reads (`read`, `recv`, `recvfrom`,
//! `recvmsg`, `readv`), the writes (`write`, `send`, `sendto`, `sendmsg`, `writev`), `close`
//! (and `syscall(SYS_close)`, as libuv closes),
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
use std::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

type size_t = usize;
type ssize_t = isize;
type socklen_t = u32;
type nfds_t = c_ulong;

// The library by job: the system below it, the wire to muxsim, the descriptors it watches,
// the plan that decides each fault, and the calls it wraps.
// The shared page's layout and the event words: one file, compiled into muxsim too (the
// page's size and muxsim's mark are muxsim's half).
#[allow(dead_code)]
mod wire;
use wire::{
    EVENT_ABORT, EVENT_ACCEPT, EVENT_CONNECT, EVENT_FAULT, EVENT_HELLO, EVENT_LISTEN, EVENT_SPIN,
    MAGIC, OUTGOING_BASE, SCOPE_ACCEPTED, SCOPE_OUTGOING, SLOT_ENABLED, SLOT_EPOCH, SLOT_MAGIC,
    SLOT_SCOPE, SLOT_SEED, rate_slot,
};

#[macro_use]
mod sys;
mod accept;
mod conns;
mod control;
mod decide;
mod io;
mod wait;

use conns::*;
use control::*;
use decide::*;
use sys::*;
use wait::*;
