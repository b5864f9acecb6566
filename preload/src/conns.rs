//! The descriptors the library watches: listeners, connections, epoll instances.

use crate::*;

// ----- descriptors we watch -----------------------------------------------------------------

/// Descriptors above this pass through untouched.
pub(crate) const MAX_FD: usize = 1 << 16;

pub(crate) struct Bits([AtomicU64; MAX_FD / 64]);

impl Bits {
    pub(crate) const fn new() -> Self {
        Bits([const { AtomicU64::new(0) }; MAX_FD / 64])
    }

    pub(crate) fn get(&self, fd: c_int) -> bool {
        let fd = fd as usize;
        fd < MAX_FD && self.0[fd / 64].load(Ordering::Relaxed) & (1 << (fd % 64)) != 0
    }

    pub(crate) fn set(&self, fd: c_int, on: bool) {
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

pub(crate) static CONNS: Bits = Bits::new();
pub(crate) static LISTENERS: Bits = Bits::new();
pub(crate) static EPOLLS: Bits = Bits::new();

pub(crate) struct Conn {
    /// Accept order, or `OUTGOING_BASE` + connect order for a connection the server made.
    pub(crate) idx: u64,
    pub(crate) seed: u64,
    pub(crate) epoch: u64,
    pub(crate) reads: u64,
    pub(crate) writes: u64,
}

#[derive(Clone, Copy)]
pub(crate) struct Reg {
    pub(crate) events: u32,
    pub(crate) data: u64,
    /// An `EPOLLONESHOT` registration reported once is disarmed until `EPOLL_CTL_MOD`.
    pub(crate) armed: bool,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) epoch: u64,
    pub(crate) seed: u64,
    pub(crate) accepts: u64,
    pub(crate) polls: u64,
    pub(crate) next_conn: u64,
    /// Connections the server made this epoch.
    pub(crate) connects: u64,
    /// The process is at its descriptor limit: every accept fails with `EMFILE` until it
    /// closes a descriptor, as the kernel has it.
    pub(crate) at_limit: bool,
    /// Accepts failed at the limit since it began or a descriptor was last closed, and when
    /// the first of them came.
    pub(crate) limit_fails: u64,
    pub(crate) limit_since: u64,
    pub(crate) conns: HashMap<c_int, Conn>,
    /// Per epoll instance, its registrations of watched descriptors.
    pub(crate) regs: HashMap<c_int, HashMap<c_int, Reg>>,
    /// Events owed to edge-triggered registrations: fd -> EPOLLIN / EPOLLOUT.
    pub(crate) owed: HashMap<c_int, u32>,
    /// Whether two epoll descriptors are one epoll instance (a server may register through
    /// a duplicate, as mio's cloned registry does, and wait on the original).
    pub(crate) aliases: HashMap<(c_int, c_int), bool>,
    /// Epoll descriptors waited on.
    pub(crate) waited: std::collections::HashSet<c_int>,
}

impl State {
    /// Starts the counters over when muxsim has begun a new seed.
    pub(crate) fn sync(&mut self) {
        let epoch = control(SLOT_EPOCH);
        if epoch != self.epoch {
            self.epoch = epoch;
            self.seed = control(SLOT_SEED);
            self.accepts = 0;
            self.polls = 0;
            self.next_conn = 0;
            self.connects = 0;
            self.at_limit = false;
            self.limit_fails = 0;
        }
    }

    /// Owes `fd` an event, if some epoll instance watches it edge-triggered.
    pub(crate) fn owe(&mut self, fd: c_int, events: u32) {
        let watched = self
            .regs
            .values()
            .any(|regs| regs.get(&fd).is_some_and(|r| r.events & EPOLLET != 0));
        if watched {
            *self.owed.entry(fd).or_insert(0) |= events;
        }
    }

    pub(crate) fn forget(&mut self, fd: c_int) {
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
    pub(crate) fn same_epoll(&mut self, wait: c_int, reg: c_int) -> bool {
        if wait == reg {
            return true;
        }
        if let Some(&same) = self.aliases.get(&(wait, reg)) {
            return same;
        }
        // SAFETY: kcmp compares two of our own descriptors.
        let r = unsafe {
            real_syscall(
                SYS_KCMP,
                [
                    pid().into(),
                    pid().into(),
                    KCMP_FILE.into(),
                    wait.into(),
                    reg.into(),
                    0,
                ],
            )
        };
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
    pub(crate) fn instances(&mut self, wait: c_int) -> Vec<c_int> {
        self.waited.insert(wait);
        let keys: Vec<c_int> = self.regs.keys().copied().collect();
        keys.into_iter()
            .filter(|&reg| self.same_epoll(wait, reg))
            .collect()
    }
}

pub(crate) static STATE: Mutex<Option<State>> = Mutex::new(None);

pub(crate) fn state() -> MutexGuard<'static, Option<State>> {
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        *guard = Some(State::default());
    }
    guard
}
