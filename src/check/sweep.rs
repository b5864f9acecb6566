//! The campaign loop: seeds walked (by count, shard, deadline), each seed's scenarios played
//! on a [`Target`], judged (a fixture by what it expects, a generated scenario by every check
//! holding), and each failure filed under its signature with the lowest seed that showed it.
//! `fuzz` runs it on the simulator, one job per core; `run` on a server process, one job.
//! Shrinking comes after, from each bucket's lowest seed, with the one shrinker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::Progress;
use super::target::{Played, Target, played_transcript, shrink_on};
use crate::failure::FailureKind;
use crate::scenario::{Outcome, Scenario, outcome};
use crate::transcript::{Expect, Transcript};
use crate::world::{Failure, Verdict};

/// How many seeds of a bucket a report lists.
pub(super) const SEEDS_LISTED: usize = 20;

/// One job of a campaign: where its scenarios come from, and the target it plays them on.
pub(crate) trait Job: Target {
    /// The scenarios of `seed`, each with the fixture it came from (`None`: generated). A
    /// fixture is judged by its `expect`; the seed fails at its first scenario that fails.
    fn scenarios(&mut self, seed: u64) -> Vec<(Option<PathBuf>, Scenario)>;

    /// Plays `scenario`, giving it up, and gives it back if it may be needed (the play
    /// failed). A job whose target runs a scenario by consuming it overrides this: the
    /// simulator then copies no scripts for a seed that passes. A scenario not given back
    /// for a failing play is built again from [`Job::scenarios`].
    fn play_owned(&mut self, scenario: Scenario) -> (Result<Played, String>, Option<Scenario>) {
        let played = self.play(&scenario);
        (played, Some(scenario))
    }
}

/// Which seeds a campaign walks and when it stops.
#[derive(Clone, Debug)]
pub(crate) struct Walk<'a> {
    /// The first seed.
    pub(crate) start: u64,
    /// How many campaign indices (`None`: until stopped or the deadline).
    pub(crate) count: Option<u64>,
    /// This shard's index, from 1, and how many shards.
    pub(crate) shard: (u64, u64),
    /// No seed starts after this.
    pub(crate) deadline: Option<Instant>,
    /// Set from outside (Ctrl-C): no seed starts after.
    pub(crate) stop: Option<&'a AtomicBool>,
    /// No seed starts once this many have failed.
    pub(crate) max_failures: Option<u64>,
}

/// A failing play: the seed, its scenario and what the target saw.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub(crate) seed: u64,
    pub(crate) fixture: Option<PathBuf>,
    pub(crate) scenario: Scenario,
    pub(crate) played: Played,
    /// The failure as judged (a fixture that passed against its `expect` fails here).
    pub(crate) failure: Failure,
}

/// A bucket's example: its scenario (shrunk or not), what that scenario's play showed, the
/// failure in words, and the reproduction as a transcript.
pub(crate) struct Example {
    pub(crate) scenario: Scenario,
    pub(crate) played: Played,
    pub(crate) message: String,
    pub(crate) transcript: Transcript,
}

impl Hit {
    /// This hit as a bucket's example, as it was played.
    pub(crate) fn example(&self) -> Example {
        self.example_of(self.scenario.clone(), self.played.clone())
    }

    /// This hit shrunk on `target` within `budget` plays, as a bucket's example (as it was
    /// played when nothing smaller fails the same way). `Err` when the target could no
    /// longer play.
    pub(crate) fn shrunk(
        &self,
        target: &mut dyn Target,
        signature: &str,
        budget: usize,
    ) -> Result<Example, String> {
        Ok(
            match shrink_on(target, self.scenario.clone(), signature, budget)? {
                (small, Some(played)) => self.example_of(small, played),
                (_, None) => self.example(),
            },
        )
    }

    fn example_of(&self, scenario: Scenario, played: Played) -> Example {
        let message = played.failure().unwrap_or(&self.failure).to_string();
        let transcript = played_transcript(&scenario, self.seed, &message, played.faults());
        Example {
            scenario,
            played,
            message,
            transcript,
        }
    }
}

/// The seeds of one signature.
#[derive(Debug)]
pub(crate) struct Acc {
    pub(crate) count: u64,
    pub(crate) seeds: BTreeSet<u64>,
    pub(crate) lowest: Hit,
}

/// What a walk found.
pub(crate) struct Swept<J> {
    /// The jobs, back from their threads (with whatever they tallied).
    pub(crate) jobs: Vec<J>,
    pub(crate) seeds_run: u64,
    pub(crate) failed_seeds: u64,
    /// By signature.
    pub(crate) buckets: Vec<(String, Acc)>,
    /// It stopped before its count: Ctrl-C, `max_failures`, or a target that could not play.
    pub(crate) stopped: bool,
    /// A target could not play (the server would not start again).
    pub(crate) broken: bool,
}

/// The failure a play counts as: a fixture's play is judged by what it expects (failing as
/// expected passes), a generated one (`expect` is `None`) by its verdict.
fn judged(expect: Option<Expect>, played: &Played) -> Option<Failure> {
    let Some(expect) = expect else {
        return played.failure().cloned();
    };
    match outcome(played.verdict(), expect) {
        Outcome::AsExpected => None,
        outcome @ Outcome::UnexpectedPass { .. } => Some(Failure::observed(
            FailureKind::Mismatch,
            None,
            outcome.to_string(),
        )),
        _ => played.failure().cloned(),
    }
}

/// Plays one seed on `job`: its first failing play, and whether the target broke.
fn play_seed<J: Job>(job: &mut J, seed: u64) -> (Option<Hit>, bool) {
    for (i, (fixture, scenario)) in job.scenarios(seed).into_iter().enumerate() {
        let expect = fixture.is_some().then_some(scenario.expect);
        let (result, kept) = job.play_owned(scenario);
        let (played, broke) = match result {
            Ok(played) => (played, false),
            Err(e) => {
                let message = format!("the server could not be started again: {e}");
                let crash = Failure::observed(FailureKind::Crash, None, message);
                (Played::new(Verdict::Fail(crash)), true)
            }
        };
        // A target that broke fails the seed whatever a fixture expects.
        let failure = if broke {
            played.failure().cloned()
        } else {
            judged(expect, &played)
        };
        let Some(failure) = failure else { continue };
        // A seed's scenarios are a function of the seed: the i-th is the one played.
        let scenario = kept.or_else(|| job.scenarios(seed).into_iter().nth(i).map(|(_, s)| s));
        if let Some(scenario) = scenario {
            let hit = Hit {
                seed,
                fixture,
                scenario,
                played,
                failure,
            };
            return (Some(hit), broke);
        }
    }
    (None, false)
}

/// Files `hit` under its signature: one more seed of the bucket, listed if among the lowest,
/// and its example if the lowest so far (jobs finish seeds in any order).
fn file(buckets: &mut BTreeMap<String, Acc>, hit: Hit) {
    let signature = super::bucket::signature(&hit.failure);
    let seed = hit.seed;
    match buckets.get_mut(&signature) {
        Some(acc) => {
            acc.count += 1;
            acc.seeds.insert(seed);
            if acc.seeds.len() > SEEDS_LISTED {
                acc.seeds.pop_last();
            }
            if seed < acc.lowest.seed {
                acc.lowest = hit;
            }
        }
        None => {
            let acc = Acc {
                count: 1,
                seeds: BTreeSet::from([seed]),
                lowest: hit,
            };
            buckets.insert(signature, acc);
        }
    }
}

/// Walks the seeds on `jobs`, one thread each (on this thread when there is one job).
pub(crate) fn sweep<J: Job + Send>(
    jobs: Vec<J>,
    walk: &Walk<'_>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Swept<J> {
    let (index, of) = walk.shard;
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let halted = AtomicBool::new(false);
    let broken = AtomicBool::new(false);
    let distinct = AtomicU64::new(0);
    let buckets: Mutex<BTreeMap<String, Acc>> = Mutex::new(BTreeMap::new());
    let work = |mut job: J| -> J {
        loop {
            if halted.load(Ordering::Relaxed)
                || walk.stop.is_some_and(|s| s.load(Ordering::Relaxed))
                || walk.deadline.is_some_and(|d| Instant::now() >= d)
            {
                break;
            }
            // Walk the shard's indices: index - 1, index - 1 + of, ...
            let k = next.fetch_add(1, Ordering::Relaxed);
            let i = k * of + (index - 1);
            if walk.count.is_some_and(|count| i >= count) {
                break;
            }
            let seed = walk.start.wrapping_add(i);
            let (hit, broke) = play_seed(&mut job, seed);
            let mut failures = failed.load(Ordering::Relaxed);
            if let Some(hit) = hit {
                failures = failed.fetch_add(1, Ordering::Relaxed) + 1;
                let mut map = buckets.lock().unwrap_or_else(|e| e.into_inner());
                file(&mut map, hit);
                distinct.store(map.len() as u64, Ordering::Relaxed);
                if walk.max_failures.is_some_and(|max| failures >= max) {
                    halted.store(true, Ordering::Relaxed);
                }
            }
            if broke {
                broken.store(true, Ordering::Relaxed);
                halted.store(true, Ordering::Relaxed);
            }
            let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(Progress {
                done: finished,
                failed: failures,
                distinct: distinct.load(Ordering::Relaxed),
            });
        }
        job
    };
    let jobs: Vec<J> = if jobs.len() == 1 {
        jobs.into_iter().map(work).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|job| scope.spawn(|| work(job)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let stopped =
        walk.stop.is_some_and(|s| s.load(Ordering::Relaxed)) || halted.load(Ordering::Relaxed);
    Swept {
        jobs,
        seeds_run: done.into_inner(),
        failed_seeds: failed.into_inner(),
        buckets: buckets
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .collect(),
        stopped,
        broken: broken.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Script, Step};
    use crate::service::Registry;
    use crate::transcript::Expect;
    use crate::world::Play;

    /// A job that fails the seeds `fails` says, in two ways (by seed parity), and breaks at
    /// `breaks`.
    struct Fake {
        fails: fn(u64) -> bool,
        breaks: Option<u64>,
        fixtures: Vec<Expect>,
        played: Vec<u64>,
        /// Plays by giving the scenario up and never gives it back.
        keeps_nothing: bool,
    }

    fn scenario(seed: u64) -> Scenario {
        let registry = Registry::builtin();
        let echo = registry.get("echo").unwrap();
        let play = Play {
            clients: vec![Script::new("a").then(Step::Connect)],
            faults: Vec::new(),
        };
        let mut s = Scenario::new(echo, play);
        s.config.seed = seed;
        s
    }

    impl Target for Fake {
        fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
            let seed = scenario.config.seed;
            self.played.push(seed);
            if self.breaks == Some(seed) {
                return Err("gone".to_string());
            }
            let verdict = if (self.fails)(seed) {
                let kind = if seed % 2 == 0 {
                    FailureKind::Hang
                } else {
                    FailureKind::Crash
                };
                Verdict::Fail(Failure::observed(
                    kind,
                    None,
                    format!("{kind}: seed {seed}"),
                ))
            } else {
                Verdict::Pass
            };
            Ok(Played::new(verdict))
        }
    }

    impl Job for Fake {
        fn play_owned(&mut self, scenario: Scenario) -> (Result<Played, String>, Option<Scenario>) {
            let played = self.play(&scenario);
            (played, (!self.keeps_nothing).then_some(scenario))
        }

        fn scenarios(&mut self, seed: u64) -> Vec<(Option<PathBuf>, Scenario)> {
            if self.fixtures.is_empty() {
                return vec![(None, scenario(seed))];
            }
            self.fixtures
                .iter()
                .enumerate()
                .map(|(i, &expect)| {
                    let mut s = scenario(seed);
                    s.expect = expect;
                    (Some(PathBuf::from(format!("f{i}.txn"))), s)
                })
                .collect()
        }
    }

    fn fake(fails: fn(u64) -> bool) -> Fake {
        Fake {
            fails,
            breaks: None,
            fixtures: Vec::new(),
            played: Vec::new(),
            keeps_nothing: false,
        }
    }

    fn walk(start: u64, count: u64) -> Walk<'static> {
        Walk {
            start,
            count: Some(count),
            shard: (1, 1),
            deadline: None,
            stop: None,
            max_failures: None,
        }
    }

    fn signatures(swept: &Swept<Fake>) -> Vec<&str> {
        swept.buckets.iter().map(|(s, _)| s.as_str()).collect()
    }

    #[test]
    fn failures_are_filed_by_signature_with_their_lowest_seed_on_every_job() {
        for jobs in [1, 2] {
            let fakes = (0..jobs).map(|_| fake(|seed| seed % 3 == 0)).collect();
            let swept = sweep(fakes, &walk(100, 30), &|_| {});
            assert_eq!(swept.seeds_run, 30);
            assert_eq!(swept.failed_seeds, 10, "102, 105, ... 129");
            assert_eq!(signatures(&swept), ["crash: seed N", "hang: seed N"]);
            let (_, crash) = &swept.buckets[0];
            assert_eq!(crash.lowest.seed, 105);
            assert_eq!(crash.count, 5);
            assert_eq!(crash.seeds.first(), Some(&105));
            let (_, hang) = &swept.buckets[1];
            assert_eq!(hang.lowest.seed, 102);
            assert!(!swept.stopped && !swept.broken);
            let played: usize = swept.jobs.iter().map(|j| j.played.len()).sum();
            assert_eq!(played, 30, "each seed played once");
        }
    }

    #[test]
    fn a_bucket_lists_its_lowest_seeds_only() {
        let swept = sweep(vec![fake(|_| true)], &walk(0, 100), &|_| {});
        let (_, hang) = &swept.buckets[1];
        assert_eq!(hang.count, 50);
        assert_eq!(hang.seeds.len(), SEEDS_LISTED);
        assert_eq!(hang.seeds.last(), Some(&38));
    }

    #[test]
    fn the_walk_stops_at_the_failure_cap_and_at_a_target_that_cannot_play() {
        let mut capped = walk(0, 100);
        capped.max_failures = Some(2);
        let swept = sweep(vec![fake(|seed| seed >= 10)], &capped, &|_| {});
        assert_eq!(swept.seeds_run, 12);
        assert!(swept.stopped && !swept.broken);

        let mut broken = fake(|_| false);
        broken.breaks = Some(4);
        let swept = sweep(vec![broken], &walk(0, 100), &|_| {});
        assert_eq!(swept.seeds_run, 5);
        assert!(swept.stopped && swept.broken);
        let (signature, acc) = &swept.buckets[0];
        assert!(signature.starts_with("crash: the server could not be started again"));
        assert_eq!(acc.lowest.failure.kind(), FailureKind::Crash);

        let stop = AtomicBool::new(true);
        let mut stopped = walk(0, 100);
        stopped.stop = Some(&stop);
        let swept = sweep(vec![fake(|_| false)], &stopped, &|_| {});
        assert_eq!(swept.seeds_run, 0);
        assert!(swept.stopped);
    }

    #[test]
    fn a_bucket_keeps_its_lowest_seed_whatever_order_seeds_finish_in() {
        let hit = |seed: u64| {
            let failure = Failure::observed(FailureKind::Hang, None, format!("hang: {seed}"));
            Hit {
                seed,
                fixture: None,
                scenario: scenario(seed),
                played: Played::new(Verdict::Fail(failure.clone())),
                failure,
            }
        };
        let mut buckets = BTreeMap::new();
        for seed in [7, 3, 3, 9, 5] {
            file(&mut buckets, hit(seed));
        }
        let acc = &buckets["hang: N"];
        assert_eq!(acc.count, 5);
        assert_eq!(acc.lowest.seed, 3);
        assert_eq!(acc.lowest.failure.to_string(), "hang: 3");
        assert_eq!(acc.seeds.iter().copied().collect::<Vec<_>>(), [3, 5, 7, 9]);
    }

    #[test]
    fn a_scenario_a_job_gave_up_is_built_again_for_its_bucket() {
        let mut job = fake(|seed| seed == 3);
        job.keeps_nothing = true;
        job.fixtures = vec![Expect::Pass, Expect::Pass];
        let swept = sweep(vec![job], &walk(0, 5), &|_| {});
        let (_, acc) = &swept.buckets[0];
        assert_eq!(acc.lowest.seed, 3);
        assert_eq!(acc.lowest.scenario.config.seed, 3);
        assert_eq!(
            acc.lowest.fixture.as_deref(),
            Some(std::path::Path::new("f0.txn"))
        );
    }

    #[test]
    fn no_seed_starts_after_the_deadline() {
        let mut past = walk(0, 10);
        past.deadline = Some(Instant::now());
        assert_eq!(sweep(vec![fake(|_| false)], &past, &|_| {}).seeds_run, 0);
        let mut ahead = walk(0, 10);
        ahead.deadline = Some(Instant::now() + std::time::Duration::from_secs(3600));
        assert_eq!(sweep(vec![fake(|_| false)], &ahead, &|_| {}).seeds_run, 10);
    }

    #[test]
    fn a_shard_walks_every_nth_seed_and_progress_counts_them() {
        let mut shard = walk(1000, 10);
        shard.shard = (2, 3);
        let seen = Mutex::new(Vec::new());
        let swept = sweep(vec![fake(|_| false)], &shard, &|p| {
            seen.lock().unwrap().push(p.done);
        });
        assert_eq!(swept.jobs[0].played, [1001, 1004, 1007]);
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    }

    #[test]
    fn a_fixture_is_judged_by_what_it_expects() {
        // Odd seeds crash (`expect panic` holds), even seeds hang (`expect stall` holds).
        let mut job = fake(|seed| seed < 4);
        job.fixtures = vec![Expect::Panic];
        let swept = sweep(vec![job], &walk(0, 6), &|_| {});
        // 0 and 2 hang where a panic is expected; 4 and 5 pass where a panic is expected.
        assert_eq!(swept.failed_seeds, 4);
        let unexpected = swept
            .buckets
            .iter()
            .find(|(s, _)| s.contains("but it passed"))
            .expect("an unexpected pass is a failure");
        assert_eq!(unexpected.1.lowest.seed, 4);
        assert_eq!(unexpected.1.lowest.failure.kind(), FailureKind::Mismatch);
        assert_eq!(
            unexpected.1.lowest.fixture.as_deref(),
            Some(std::path::Path::new("f0.txn"))
        );
        assert!(swept.buckets.iter().any(|(s, _)| s.starts_with("hang: ")));
    }
}
