//! What chat's tests share: playing a transcript of the chat under many seeds.
#![allow(dead_code)]

use muxsim::scenario::Scenario;
use muxsim::{Semantics, transcript};

/// Plays `text` (a chat transcript) under seeds `0..seeds`, each with the semantics it picks
/// (every semantics in turn); asserts that every run passes.
pub fn replays_clean(text: &str, seeds: u64) {
    let t = transcript::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let base = Scenario::from_transcript_with(&t, &chat::descriptor(None)).unwrap();
    for seed in 0..seeds {
        let mut s = base.clone();
        s.config.seed = seed;
        s.config.sim.semantics = Semantics::ALL[seed as usize % Semantics::ALL.len()];
        let run = s.run();
        let verdict = s.judge(&run);
        assert!(verdict.is_pass(), "seed {seed}: {verdict}\n{text}");
    }
}

/// How many of seeds `0..seeds` fail `text` once its `after` lines are taken out.
pub fn failing_without_after(text: &str, seeds: u64) -> usize {
    let loose: String = text
        .lines()
        .filter(|l| !l.contains(" after "))
        .map(|l| format!("{l}\n"))
        .collect();
    let t = transcript::parse(&loose).unwrap();
    let base = Scenario::from_transcript_with(&t, &chat::descriptor(None)).unwrap();
    (0..seeds)
        .filter(|&seed| {
            let mut s = base.clone();
            s.config.seed = seed;
            let run = s.run();
            !s.judge(&run).is_pass()
        })
        .count()
}
