//! The waits (`select`, `poll`, `epoll`): spurious readiness, `EINTR`, and the events owed after an injected fault.

use crate::*;

// ----- waits ------------------------------------------------------------------------------------

/// What an intercepted wait does.
pub(crate) enum WaitPlan {
    Pass,
    Eintr,
    /// Report one watched connection ready that is not, chosen with this die.
    Spurious {
        call: u64,
        die: u64,
    },
}

pub(crate) fn decide_wait(may_sleep: bool) -> WaitPlan {
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
pub(crate) fn pick_spurious(candidates: &mut [(c_int, u64)], call: u64, die: u64) -> Option<c_int> {
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

pub(crate) fn conn_index(fd: c_int) -> Option<u64> {
    if !CONNS.get(fd) {
        return None;
    }
    state()
        .as_ref()
        .and_then(|st| st.conns.get(&fd).map(|c| c.idx))
        .filter(|idx| in_scope(*idx))
}

/// Whether faults go into connection `idx` (accepted or made, as muxsim asked).
pub(crate) fn in_scope(idx: u64) -> bool {
    let bit = if idx >= OUTGOING_BASE {
        SCOPE_OUTGOING
    } else {
        SCOPE_ACCEPTED
    };
    control(SLOT_SCOPE) & bit != 0
}

pub(crate) fn fd_isset(set: &fd_set, fd: c_int) -> bool {
    let bits = 8 * std::mem::size_of::<c_ulong>();
    set.bits[fd as usize / bits] & (1 << (fd as usize % bits)) != 0
}

pub(crate) fn fd_set_bit(set: &mut fd_set, fd: c_int) {
    let bits = 8 * std::mem::size_of::<c_ulong>();
    set.bits[fd as usize / bits] |= 1 << (fd as usize % bits);
}

/// After a real select: marks one watched connection readable that was asked about and not
/// reported, if the plan says so.
pub(crate) unsafe fn select_spurious(
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
pub(crate) fn wakes(plan: &WaitPlan, may_sleep: bool) -> bool {
    may_sleep && matches!(plan, WaitPlan::Spurious { .. })
}

/// Copies of a select's descriptor sets, which a call that reports nothing clears.
pub(crate) struct SetsKept([Option<fd_set>; 3]);

impl SetsKept {
    pub(crate) unsafe fn keep(r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) -> SetsKept {
        unsafe {
            let copy = |p: *mut fd_set| (!p.is_null()).then(|| *p);
            SetsKept([copy(r), copy(w), copy(e)])
        }
    }

    pub(crate) unsafe fn restore(&self, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) {
        unsafe {
            for (kept, p) in self.0.iter().zip([r, w, e]) {
                if let Some(set) = kept {
                    *p = *set;
                }
            }
        }
    }
}

pub(crate) fn timeval_is_zero(t: *const timeval) -> bool {
    // SAFETY: checked for NULL; the caller passes a valid timeval otherwise.
    !t.is_null() && unsafe { (*t).sec == 0 && (*t).usec == 0 }
}

pub(crate) fn timespec_is_zero(t: *const timespec) -> bool {
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

pub(crate) unsafe fn poll_spurious(
    plan: &WaitPlan,
    fds: *mut pollfd,
    nfds: nfds_t,
    result: c_int,
) -> c_int {
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
pub(crate) fn take_owed(epfd: c_int) -> Vec<(u64, u32)> {
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
pub(crate) fn give_back(epfd: c_int, owed: &[(u64, u32)]) {
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
pub(crate) unsafe fn epoll_after(
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
pub(crate) unsafe fn epoll_common(
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    may_sleep: bool,
    wait: &dyn Fn(bool) -> c_int,
) -> c_int {
    unsafe { tally_wait(epoll_waited(epfd, events, maxevents, may_sleep, wait)) }
}

pub(crate) unsafe fn epoll_waited(
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
