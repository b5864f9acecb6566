//! Connection churn must not leak descriptors. Alone in its test binary, so that no other
//! test opens descriptors in this process while it counts them.

mod common;

use std::time::Duration;

use common::{connect, drive, local};
use muxsim::core::echo::Echo;
use muxsim::driver::Config;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn ten_thousand_connect_close_cycles_leave_no_descriptor_behind() {
    fn open_fds() -> usize {
        let count = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd lists this process's descriptors")
            .count();
        // stdin, stdout, stderr and the listener at least: a probe that read nothing would
        // make the leak check below pass whatever leaked.
        assert!(count >= 4, "/proc/self/fd listed {count} descriptors");
        count
    }
    let (mut driver, addr) = local(Echo::default(), Config::default());
    // Warm up: the first connection allocates whatever the process keeps.
    let c = connect(addr);
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 1));
    drop(c);
    assert!(drive(&mut driver, WAIT, |d| d.live_connections() == 0));
    let before = open_fds();
    for round in 0..10_000 {
        let c = connect(addr);
        drop(c);
        if round % 100 == 99 {
            assert!(drive(&mut driver, WAIT, |d| d.stats().closed() > round));
        }
    }
    assert!(drive(&mut driver, WAIT, |d| d.stats().closed() >= 10_001
        && d.live_connections() == 0));
    assert_eq!(open_fds(), before, "descriptors leaked");
}
