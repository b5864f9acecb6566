//! Connection churn must not leak descriptors. Alone in its test binary, so that no other
//! test opens descriptors in this process while it counts them.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::connect;
use muxsim::backend::mio::MioBackend;
use muxsim::core::Service;
use muxsim::core::echo::Echo;
use muxsim::driver::{Config, Driver};

const WAIT: Duration = Duration::from_secs(5);

fn local<S: Service>(service: S, config: Config) -> (Driver<MioBackend, S>, SocketAddr) {
    let backend = MioBackend::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let addr = backend.local_addr();
    (Driver::new(backend, service, config), addr)
}

fn drive<S: Service>(
    driver: &mut Driver<MioBackend, S>,
    within: Duration,
    mut done: impl FnMut(&Driver<MioBackend, S>) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        driver.turn(Some(Duration::from_millis(5))).expect("poll");
        while driver.poll_log().is_some() {}
        if done(driver) {
            return true;
        }
    }
    done(driver)
}

#[test]
fn ten_thousand_connect_close_cycles_leave_no_descriptor_behind() {
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
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
            assert!(drive(&mut driver, WAIT, |d| d.stats().closed > round));
        }
    }
    assert!(drive(&mut driver, WAIT, |d| d.stats().closed >= 10_001
        && d.live_connections() == 0));
    assert_eq!(open_fds(), before, "descriptors leaked");
}
