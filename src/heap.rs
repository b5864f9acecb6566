//! Leaks found by the heap: [`CountingAllocator`] remembers every block a service allocates
//! inside its calls, on the thread that calls it, so the simulator can tell what the service
//! still holds once every connection is gone, without asking it.
//!
//! A service keeps heap for good reasons after its connections close (a map's capacity, a
//! store its clients filled), so the check does not compare with the heap before the run.
//! It runs the same play a second time on the same service instance, with connection ids it
//! has never seen, and compares the blocks the service holds after the second run with those
//! it held after the first: a service that frees what each connection made holds as many
//! (a map may have traded its table for a larger one); one that keeps a second
//! per-connection map, or forgets a connection on one path, holds a block more for each
//! connection that path left. The blocks left by the second run are named by the call, connection and time
//! that allocated them.
//!
//! Counting is per thread (`cargo test` runs tests on parallel threads) and costs a
//! thread-local read per allocation while no check is running on the thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::core::ConnId;
use crate::time::Instant;

/// A global allocator that counts what a service allocates inside its calls, so the
/// simulator finds state a service keeps after its connections close (see the `heap-leak`
/// check in the docs). `muxsim`'s own binary installs it; a test binary or a command of your
/// own opts in with one line:
///
/// ```
/// #[global_allocator]
/// static ALLOC: muxsim::CountingAllocator = muxsim::CountingAllocator;
/// ```
///
/// Without it the check is skipped (nothing is counted) and everything else works the same.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAllocator;

/// Whether [`CountingAllocator`] is the global allocator of this process.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The service call a block was allocated in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    Connected,
    Received,
    PeerClosed,
    Closed,
    Timeout,
    Output,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Connected => "handle_connected",
            Call::Received => "handle_received",
            Call::PeerClosed => "handle_peer_closed",
            Call::Closed => "handle_closed",
            Call::Timeout => "handle_timeout",
            Call::Output => "poll_output",
        }
    }
}

/// Who made a block: the call, the connection it was about (none for timers and output),
/// and the virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tag {
    pub(crate) call: Call,
    pub(crate) conn: Option<ConnId>,
    pub(crate) at: Instant,
}

impl Tag {
    pub(crate) fn call_name(&self) -> &'static str {
        self.call.name()
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    pub(crate) size: usize,
    pub(crate) tag: Tag,
    /// The order of its allocation among the blocks of this check.
    pub(crate) seq: u64,
}

struct Books {
    /// A [`Watch`] is running on this thread.
    armed: Cell<bool>,
    /// The service call running now, if any.
    scope: Cell<Option<Tag>>,
    /// Inside the books' own bookkeeping: allocations made here are the books', not the
    /// service's.
    busy: Cell<bool>,
    /// Live blocks allocated inside a call, by address.
    blocks: RefCell<BTreeMap<usize, Block>>,
    /// Blocks allocated so far (the next block's `seq`).
    seq: Cell<u64>,
    /// The `seq` of the first block of the call running now.
    scope_start: Cell<u64>,
    /// The call running now freed a block an earlier call made.
    scope_replaced: Cell<bool>,
    /// The `seq` ranges of calls that freed a block an earlier call made: what they allocated
    /// may be a replacement (a map's larger table) rather than something new.
    replacing: RefCell<Vec<(u64, u64)>>,
}

thread_local! {
    static BOOKS: Books = const {
        Books {
            armed: Cell::new(false),
            scope: Cell::new(None),
            busy: Cell::new(false),
            blocks: RefCell::new(BTreeMap::new()),
            seq: Cell::new(0),
            scope_start: Cell::new(0),
            scope_replaced: Cell::new(false),
            replacing: RefCell::new(Vec::new()),
        }
    };
}

/// Runs `f` with the books of this thread, unless they are gone (thread exit) or busy.
fn with_books(f: impl FnOnce(&Books)) {
    let _ = BOOKS.try_with(|books| {
        if books.armed.get() && !books.busy.get() {
            books.busy.set(true);
            f(books);
            books.busy.set(false);
        }
    });
}

fn allocated(ptr: *mut u8, size: usize) {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    if ptr.is_null() {
        return;
    }
    with_books(|books| {
        if let Some(tag) = books.scope.get() {
            let seq = books.seq.get();
            books.seq.set(seq + 1);
            books
                .blocks
                .borrow_mut()
                .insert(ptr as usize, Block { size, tag, seq });
        }
    });
}

fn freed(ptr: *mut u8) {
    with_books(|books| {
        let mut blocks = books.blocks.borrow_mut();
        if !blocks.is_empty()
            && let Some(block) = blocks.remove(&(ptr as usize))
            && books.scope.get().is_some()
            && block.seq < books.scope_start.get()
        {
            books.scope_replaced.set(true);
        }
    });
}

fn moved(old: *mut u8, new: *mut u8, size: usize) {
    if new.is_null() {
        return;
    }
    with_books(|books| {
        let mut blocks = books.blocks.borrow_mut();
        let before = blocks.remove(&(old as usize));
        // A block grown inside a call belongs to that call; one grown outside (the driver's
        // buffers) keeps the call that made it.
        let kept = before.map(|b| (b.tag, b.seq));
        let made = books.scope.get().map(|tag| {
            let seq = books.seq.get();
            books.seq.set(seq + 1);
            (tag, seq)
        });
        if let Some((tag, seq)) = made.or(kept) {
            blocks.insert(new as usize, Block { size, tag, seq });
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// bookkeeping only reads addresses and never touches the memory behind them.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { System.alloc(layout) };
        allocated(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        allocated(ptr, layout.size());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        freed(ptr);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        moved(ptr, new, new_size);
        new
    }
}

/// Whether [`CountingAllocator`] is installed: the heap check can run.
pub(crate) fn counting() -> bool {
    // An allocation the check can see proves it; the flag is set by the first one.
    drop(std::hint::black_box(Box::new(0u64)));
    INSTALLED.load(Ordering::Relaxed)
}

/// Runs `f`, a service call, with what it allocates booked under `tag` (when a [`Watch`] is
/// running on this thread; otherwise it only runs `f`).
pub(crate) fn within<R>(call: Call, conn: Option<ConnId>, at: Instant, f: impl FnOnce() -> R) -> R {
    let armed = BOOKS.try_with(|b| b.armed.get()).unwrap_or(false);
    if !armed {
        return f();
    }
    /// Ends the call's bookkeeping, also when the call panics.
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            let _ = BOOKS.try_with(|b| {
                b.scope.set(None);
                if b.scope_replaced.get() {
                    b.busy.set(true);
                    b.replacing
                        .borrow_mut()
                        .push((b.scope_start.get(), b.seq.get()));
                    b.busy.set(false);
                }
            });
        }
    }
    BOOKS.with(|b| {
        b.scope.set(Some(Tag { call, conn, at }));
        b.scope_start.set(b.seq.get());
        b.scope_replaced.set(false);
    });
    let _end = End;
    f()
}

/// The books of one heap check on this thread: while it lives, blocks allocated in service
/// calls ([`within`]) are remembered until freed.
pub(crate) struct Watch(());

impl Watch {
    /// Starts a check on this thread; `None` when the allocator is not installed or a check is
    /// already running here.
    pub(crate) fn start() -> Option<Watch> {
        if !counting() {
            return None;
        }
        BOOKS.with(|b| {
            if b.armed.get() {
                return None;
            }
            b.busy.set(true);
            b.blocks.borrow_mut().clear();
            b.replacing.borrow_mut().clear();
            b.busy.set(false);
            b.armed.set(true);
            Some(Watch(()))
        })
    }

    /// Whether the block allocated `seq`th was made by a call that freed an older block: a
    /// replacement, perhaps, rather than something new.
    pub(crate) fn maybe_replacement(&self, seq: u64) -> bool {
        BOOKS.with(|b| {
            b.replacing
                .borrow()
                .iter()
                .any(|&(start, end)| (start..end).contains(&seq))
        })
    }

    /// The blocks allocated in calls and not yet freed, by address.
    pub(crate) fn live(&self) -> BTreeMap<usize, Block> {
        BOOKS.with(|b| {
            b.busy.set(true);
            let copy = b.blocks.borrow().clone();
            b.busy.set(false);
            copy
        })
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = BOOKS.try_with(|b| {
            b.armed.set(false);
            b.busy.set(true);
            b.blocks.borrow_mut().clear();
            b.replacing.borrow_mut().clear();
            b.busy.set(false);
        });
    }
}
