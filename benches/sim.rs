//! Simulator speed: steps, readiness events and seeds per second for a small echo scenario,
//! on one core, beside the same conversations on real loopback sockets in the same run (the
//! ratio is what to read; these machines are noisy).
//!
//! `cargo bench --bench sim` (add `-- --seeds N` for a longer run).

use std::time::{Duration, Instant};

use muxsim::check::Campaign;
use muxsim::core::lines::Lines;
use muxsim::driver::Config;
use muxsim::fault::FaultFamilies;
use muxsim::service::Registry;
use muxsim::tcp::{ServerHandle, TcpReplayOptions, replay_tcp};
use muxsim::transcript::parse;

fn main() {
    let seeds: u64 = std::env::args()
        .skip_while(|a| a != "--seeds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    for (label, faults) in [
        ("calm", FaultFamilies::NONE),
        ("all faults", FaultFamilies::ALL),
    ] {
        let campaign = Campaign::builtin("echo").unwrap().clients(3).faults(faults);
        // Scenarios are generated first: the clock measures simulation only.
        let scenarios: Vec<_> = (0..seeds).map(|seed| campaign.scenario(seed)).collect();
        let started = Instant::now();
        let (mut steps, mut events) = (0u64, 0u64);
        for scenario in scenarios {
            let run = scenario.into_run();
            steps += run.steps();
            events += run.net_stats().events();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "sim echo, 3 clients, {label}: {seeds} seeds in {secs:.2} s on one core: {:.0} seeds/s, {:.0} steps/s, {:.0} readiness events/s, {:.0} events/s in all ({} steps/seed)",
            seeds as f64 / secs,
            steps as f64 / secs,
            events as f64 / secs,
            (steps + events) as f64 / secs,
            steps / seeds.max(1),
        );
    }

    // The same conversations, simulated and on real sockets. `lines` answers do not depend
    // on segmentation, so both sides do exactly the same work. No request timeout: waits
    // are skipped over loopback, so a deadline could not fire there as it does simulated.
    let campaign = Campaign::builtin("lines")
        .unwrap()
        .clients(3)
        .faults(FaultFamilies::NONE)
        .limit("request-timeout-ms", 0);
    let rounds = 200;
    let transcripts: Vec<_> = (0..rounds)
        .map(|seed| {
            let scenario = campaign.scenario(seed);
            let (run, _) = campaign.check(&scenario);
            // What each client observed becomes what it expects, so that loopback replays
            // end as soon as the bytes are there instead of waiting for quiet to judge them.
            let text = scenario.recorded(&run, false).to_string();
            let expected: String = text
                .lines()
                .filter(|l| *l != "oracle on")
                .map(|l| match l.split_once(' ') {
                    Some((who, rest)) if rest.starts_with("got") => {
                        format!("{who} {}\n", rest.replacen("got", "recv", 1))
                    }
                    _ => format!("{l}\n"),
                })
                .collect();
            parse(&expected).unwrap()
        })
        .collect();
    let registry = Registry::builtin();
    let started = Instant::now();
    for t in &transcripts {
        let s = muxsim::scenario::Scenario::from_transcript(t, &registry).unwrap();
        let _ = s.run();
    }
    let sim = started.elapsed();
    let server = ServerHandle::start(
        Lines::with_limits(muxsim::core::lines::DEFAULT_MAX_LINE, None),
        Config::default(),
    )
    .unwrap();
    let options = TcpReplayOptions {
        timeout: Duration::from_secs(2),
        max_wait: Duration::ZERO,
        ..TcpReplayOptions::default()
    };
    let started = Instant::now();
    let mut failures = 0;
    for t in &transcripts {
        if replay_tcp(t, server.addr(), &options).failure().is_some() {
            failures += 1;
        }
    }
    let real = started.elapsed();
    server.stop().unwrap();
    println!(
        "{rounds} recorded conversations: simulated in {:.3} s, on loopback in {:.3} s (waits skipped, {failures} differed): the simulator is {:.1}x faster",
        sim.as_secs_f64(),
        real.as_secs_f64(),
        real.as_secs_f64() / sim.as_secs_f64()
    );
}
