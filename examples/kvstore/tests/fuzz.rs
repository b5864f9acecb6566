//! kvstore's fuzz campaign: the correct service passes it (also with a short idle timeout),
//! the generator reaches what the protocol declares, and every single-bug variant is found
//! within 10,000 seeds. The heap check runs too (this binary installs the counting allocator).
//!
//! `MUXSIM_SEEDS` sets the seeds of the campaigns over the correct service (default 2,000).

use kvstore::{Bug, descriptor};

// The heap check: what the service allocates in its calls is counted, so state it kept for a
// connection that is gone fails the campaign.
#[global_allocator]
static ALLOC: muxsim::CountingAllocator = muxsim::CountingAllocator;

use muxsim::Campaign;
use muxsim::transcript::Item;

fn seeds() -> u64 {
    std::env::var("MUXSIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000)
}

fn assert_clean(campaign: Campaign, seeds: u64) {
    let report = campaign.seeds(0, seeds).jobs(2).run();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.seeds_run(), seeds);
}

#[test]
fn kvstore_passes_its_campaign() {
    assert_clean(Campaign::new(descriptor(None)), seeds());
}

#[test]
fn kvstore_passes_with_a_150ms_idle_timeout() {
    // Idles as long as the deadline (and just under, and just over) are generated, and the
    // oracle judges each close on the client's timeline: a timely close is no failure.
    assert_clean(
        Campaign::new(descriptor(None)).limit("idle-ms", 150),
        seeds(),
    );
}

#[test]
fn kvstore_passes_with_a_64k_line_limit_and_no_idle_timeout() {
    // Lines of 64 KiB and more are slower to run: a quarter of the seeds.
    assert_clean(
        Campaign::new(descriptor(None))
            .limit("max-line", 65_536)
            .limit("idle-ms", 0),
        seeds() / 4,
    );
}

#[test]
fn the_campaign_reaches_what_the_protocol_declares() {
    let report = Campaign::new(descriptor(None)).seeds(0, 500).jobs(2).run();
    let reach = &report.reach();
    assert_eq!(reach.limit(), Some(512));
    assert!(
        reach.under_limit() > 0 && reach.at_limit() > 0 && reach.over_limit() > 0,
        "{reach}"
    );
    assert_eq!(reach.deadline_ms(), Some(1_000));
    assert!(reach.idles_past_deadline() > 0, "{reach}");
    assert!(reach.unterminated() > 0, "{reach}");
    // Both line endings, `\n` and `\r\n`.
    assert_eq!(reach.endings().len(), 2, "{reach}");
    assert!(reach.endings().iter().all(|&n| n > 0), "{reach}");
    assert!(reach.never_tried().is_empty(), "{:?}", reach.never_tried());
}

/// The first failure of the variant's campaign within 10,000 seeds.
fn find(bug: Bug, limit: Option<(&str, u64)>) -> muxsim::check::Report {
    let mut campaign = Campaign::new(descriptor(Some(bug)))
        .seeds(0, 10_000)
        .max_failures(Some(1))
        .jobs(2);
    if let Some((name, value)) = limit {
        campaign = campaign.limit(name, value);
    }
    campaign.run()
}

#[test]
fn every_bug_is_found_within_10000_seeds() {
    for bug in Bug::ALL {
        let report = find(bug, None);
        let found = report
            .failures()
            .next()
            .unwrap_or_else(|| panic!("{}: not found in {report}", bug.service_name()));
        // Shrunk to a few lines.
        let minimal = found.minimal().expect("shrunk");
        let steps = minimal
            .lines
            .iter()
            .filter(|l| matches!(l.item(), Item::Step { .. } | Item::Fault(_)))
            .count();
        assert!(
            steps <= 12,
            "{}: {steps} steps:\n{minimal}",
            bug.service_name()
        );
    }
}

#[test]
fn the_off_by_one_is_found_at_a_64k_limit_too() {
    let report = find(Bug::OffByOne, Some(("max-line", 65_536)));
    assert!(!report.is_clean(), "{report}");
}

#[test]
fn a_reference_model_of_the_whole_run_judges_kvstore_the_same() {
    // The same specification as a `Model` fed the server's journal (`kvstore-model`): the
    // correct service passes it too.
    assert_clean(Campaign::new(kvstore::descriptor_with_model()), seeds() / 2);
}
