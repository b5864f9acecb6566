//! One simulated client: its script as the world runs it, and the matching of what it
//! receives against what its script expects (with the [`Matcher`] TCP replay uses too).

use super::report::{ClientReport, EventKind};
use super::verdict::Failure;
use crate::backend::sim::PipeId;
use crate::fault::FaultSpec;
use crate::script::{Entry, Expectation, MatchError, Matcher, Script, Step};
use crate::text::quote;
use crate::time::Instant;

/// A client's script as the world runs it: actions, armed faults, and barriers that wait
/// until the expected stream is matched up to an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Action(Step),
    Fault(FaultSpec),
    /// Wait until `expected[..=k]` has been matched.
    Barrier(usize),
}

pub(super) struct Client {
    pub(super) name: String,
    pub(super) slots: Vec<Slot>,
    pub(super) cursor: usize,
    /// Bytes of the current `send` already sent.
    pub(super) sent_progress: usize,
    /// The expectations in stream order, with the steps that wrote them.
    expected: Vec<Step>,
    /// Items of `expected` fully matched.
    matched: usize,
    /// The matcher of `expected[matched]`.
    current: Option<Matcher>,
    pub(super) pipe: Option<PipeId>,
    /// Received bytes not yet matched against an expectation.
    inbox: Vec<u8>,
    pub(super) report: ClientReport,
    pub(super) paused: bool,
    pub(super) closed: bool,
    pub(super) shut: bool,
    pub(super) eof: bool,
    pub(super) reset: bool,
    pub(super) wait_until: Option<Instant>,
    /// Attempts to take an action so far (what client faults are anchored to).
    pub(super) actions: u64,
    /// For each count `k` of its steps, where the cursor and the matched expectations must
    /// be once its first `k` steps are done (what `after` waits for).
    progress: Vec<(usize, usize)>,
}

impl Client {
    pub(super) fn new(script: Script) -> Self {
        let mut slots = Vec::new();
        let mut expected = Vec::new();
        let mut progress = vec![(0, 0)];
        for entry in script.entries {
            match entry {
                Entry::Fault(spec) => slots.push(Slot::Fault(spec)),
                Entry::Step(step) if step.is_expectation() => {
                    let barrier = step.is_barrier();
                    expected.push(step);
                    if barrier {
                        slots.push(Slot::Barrier(expected.len() - 1));
                    }
                    progress.push((slots.len(), expected.len()));
                }
                Entry::Step(step) => {
                    slots.push(Slot::Action(step));
                    progress.push((slots.len(), expected.len()));
                }
            }
        }
        let mut client = Client {
            report: ClientReport::new(script.name.clone()),
            name: script.name,
            slots,
            cursor: 0,
            sent_progress: 0,
            expected,
            matched: 0,
            current: None,
            pipe: None,
            inbox: Vec::new(),
            paused: false,
            closed: false,
            shut: false,
            eof: false,
            reset: false,
            wait_until: None,
            actions: 0,
            progress,
        };
        client.start_next();
        client
    }

    fn start_next(&mut self) {
        self.current = self
            .expected
            .get(self.matched)
            .and_then(Expectation::of)
            .map(Matcher::new);
    }

    pub(super) fn current(&self) -> Option<&Step> {
        match self.slots.get(self.cursor) {
            Some(Slot::Action(step)) => Some(step),
            _ => None,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.cursor >= self.slots.len()
    }

    /// Whether its first `steps` steps are done: actions taken, expectations met.
    pub(super) fn has_done(&self, steps: u64) -> bool {
        usize::try_from(steps)
            .ok()
            .and_then(|k| self.progress.get(k))
            .is_some_and(|&(slots, matched)| self.cursor >= slots && self.matched >= matched)
    }

    /// Whether the barrier `k` is passed: `expected[..=k]` matched.
    pub(super) fn has_matched(&self, k: usize) -> bool {
        self.matched > k
    }

    /// Whether anything is still expected (so received bytes are worth keeping).
    pub(super) fn expects_more(&self) -> bool {
        self.matched < self.expected.len()
    }

    /// Bytes received that no expectation consumed.
    pub(super) fn leftover(&self) -> &[u8] {
        &self.inbox
    }

    /// Takes newly received bytes into the report and, when `check`, matches them.
    pub(super) fn receive(
        &mut self,
        at: Instant,
        bytes: &[u8],
        check: bool,
    ) -> Result<(), Failure> {
        self.report.record_received(at, bytes);
        if check {
            self.inbox.extend_from_slice(bytes);
            self.match_inbox()?;
        }
        Ok(())
    }

    /// Matches received bytes against the expected stream.
    fn match_inbox(&mut self) -> Result<(), Failure> {
        while !self.inbox.is_empty() {
            let Some(matcher) = self.current.as_mut() else {
                // Nothing more expected: strict runs report leftovers at the end.
                return Ok(());
            };
            match matcher.feed(&mut self.inbox) {
                Ok(true) => {
                    self.matched += 1;
                    self.start_next();
                }
                Ok(false) => return Ok(()),
                Err(MatchError::Bytes { expected, got }) => {
                    return Err(Failure::Mismatch {
                        client: self.name.clone(),
                        expected,
                        got,
                    });
                }
                Err(MatchError::NotEnd) => {
                    return Err(Failure::UnexpectedEnd {
                        client: self.name.clone(),
                        expected: matcher.expectation().end_name().to_string(),
                        got: quote(&self.inbox),
                    });
                }
                Err(MatchError::Matcher { got }) => {
                    return Err(Failure::NoMatch {
                        client: self.name.clone(),
                        expected: self.expected[self.matched].to_string(),
                        got,
                    });
                }
            }
        }
        Ok(())
    }

    /// Matches an EOF or a reset against the expected stream.
    pub(super) fn end(&mut self, seen: Expectation, strict: bool) -> Result<(), Failure> {
        let name = || self.name.clone();
        let Some(matcher) = &self.current else {
            return if strict {
                Err(Failure::UnexpectedEnd {
                    client: name(),
                    expected: "the connection to stay open".to_string(),
                    got: seen.end_name().to_string(),
                })
            } else {
                Ok(())
            };
        };
        let expect = matcher.expectation();
        if *expect == seen && self.inbox.is_empty() {
            self.matched += 1;
            self.start_next();
            return Ok(());
        }
        let failure = match expect {
            Expectation::Bytes(bytes) => Failure::UnexpectedEnd {
                client: name(),
                expected: quote(bytes),
                got: format!("{}, then {}", quote(&matcher.so_far()), seen.end_name()),
            },
            e if e.is_end() => Failure::UnexpectedEnd {
                client: name(),
                expected: e.end_name().to_string(),
                got: seen.end_name().to_string(),
            },
            _ => Failure::UnexpectedEnd {
                client: name(),
                expected: format!("`{}`", self.expected[self.matched]),
                got: if matcher.has_started() {
                    format!("{}, then {}", quote(&matcher.so_far()), seen.end_name())
                } else {
                    seen.end_name().to_string()
                },
            },
        };
        Err(failure)
    }

    /// What the client still waits to receive, for stall reports.
    pub(super) fn awaited(&self) -> Option<String> {
        let matcher = self.current.as_ref()?;
        Some(match matcher.expectation() {
            Expectation::Bytes(bytes) => format!(
                "client {} waits for {} and has {}",
                self.name,
                quote(bytes),
                quote(&matcher.so_far())
            ),
            Expectation::Eof => format!("client {} waits for the server to close", self.name),
            Expectation::Reset => format!("client {} waits for a reset", self.name),
            _ => format!(
                "client {} waits for `{}` and has {}",
                self.name,
                self.expected[self.matched],
                quote(&matcher.so_far())
            ),
        })
    }

    /// Records an action on the client's timeline.
    pub(super) fn note(&mut self, at: Instant, kind: EventKind) {
        self.report.record(at, kind);
    }
}
