//! The wire between muxsim and the interposition library, compiled into both: the shared
//! page's layout (muxsim writes it, the library reads it) and the words of the event lines
//! (the library writes them, muxsim reads them). A change here changes both sides at once.
//!
//! The page holds `u64` slots, each read and written as an atomic.

/// Slot 0: [`MAGIC`], written last when the page is set up; the library ignores a page
/// without it.
pub const SLOT_MAGIC: usize = 0;
/// Slot 1: the epoch, bumped per seed; the library starts its per-seed state afresh when it
/// changes.
pub const SLOT_EPOCH: usize = 1;
/// Slot 2: the seed the library draws its faults from.
pub const SLOT_SEED: usize = 2;
/// Slot 3: 1 while faults are on, 0 while every call goes straight through.
pub const SLOT_ENABLED: usize = 3;
/// Slots 4 to 9: the fault rates, in parts per million, in [`RATES`] order.
pub const SLOT_RATES: usize = 4;
/// Slot 10: which connections take faults, as [`SCOPE_ACCEPTED`] and [`SCOPE_OUTGOING`] bits.
pub const SLOT_SCOPE: usize = 10;

/// The scope bit for connections the server accepted.
pub const SCOPE_ACCEPTED: u64 = 1;
/// The scope bit for connections the server made.
pub const SCOPE_OUTGOING: u64 = 2;

/// Connections the server made are numbered from here, apart from those it accepted.
pub const OUTGOING_BASE: u64 = 1 << 40;

/// The page's mark: "muxsim" and a layout version.
pub const MAGIC: u64 = 0x6d75_7873_696d_0001;

/// The page's size in bytes.
pub const PAGE: usize = 4096;

/// The order of the rate slots from [`SLOT_RATES`]: short reads and writes, `EAGAIN` after
/// readiness, `EINTR`, spurious wake-ups, accept faults, resets.
pub const RATES: [&str; 6] = [
    "short-io",
    "would-block",
    "eintr",
    "spurious",
    "accept",
    "reset",
];

/// The slot of the rate named `name` in [`RATES`]; in a constant, a name not there fails the
/// build.
pub const fn rate_slot(name: &str) -> usize {
    let mut i = 0;
    while i < RATES.len() {
        let (a, b) = (RATES[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return SLOT_RATES + i;
            }
        }
        i += 1;
    }
    panic!("no such rate in the wire's RATES")
}

/// The first word of each event line the library writes: `hello PID`, `listen PID ADDR`,
/// `accept PID EPOCH IDX PORT`, `abort PID EPOCH PORT`, `connect PID EPOCH IDX PORT`,
/// `fault PID EPOCH WHO CALL SPEC...`, `spin PID EPOCH CALLS NANOS K0 K1 K2 K3`;
/// and muxsim's own `mark N`, after which no earlier line of the library can come.
pub const EVENT_HELLO: &str = "hello";
/// See [`EVENT_HELLO`].
pub const EVENT_LISTEN: &str = "listen";
/// See [`EVENT_HELLO`].
pub const EVENT_ACCEPT: &str = "accept";
/// See [`EVENT_HELLO`].
pub const EVENT_ABORT: &str = "abort";
/// See [`EVENT_HELLO`].
pub const EVENT_CONNECT: &str = "connect";
/// See [`EVENT_HELLO`].
pub const EVENT_FAULT: &str = "fault";
/// See [`EVENT_HELLO`].
pub const EVENT_SPIN: &str = "spin";
/// See [`EVENT_HELLO`].
pub const EVENT_MARK: &str = "mark";
