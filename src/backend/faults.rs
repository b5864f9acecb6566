//! Picking the fault for one operation of a backend under faults (simulated or real): scripted faults anchored to
//! an exact operation first, then scripted faults armed for the next operation of a kind, then
//! a fault drawn from the run's plan.

use std::collections::{BTreeMap, VecDeque};

use crate::fault::{Family, FaultPlan, FaultSpec, Op};
use crate::rng::{SimRng, Stream};
use crate::script::ClientId;

/// The faults of one run.
pub(crate) struct Faults {
    pub(crate) plan: FaultPlan,
    pub(crate) rng: SimRng,
    /// Drawn faults fire only while this is true; the world turns it off to let the run heal.
    pub(crate) active: bool,
    /// Scripted faults on an exact operation: (client, op, index) → faults.
    anchored: BTreeMap<(Option<ClientId>, Op, u64), VecDeque<FaultSpec>>,
    /// Scripted faults for the next operation of a kind.
    armed: BTreeMap<(Option<ClientId>, Op), VecDeque<FaultSpec>>,
    /// `EMFILE`s still owed by an `accept-emfile N`.
    pub(crate) emfile_left: u32,
}

impl Faults {
    pub(crate) fn new(seed: u64, plan: FaultPlan) -> Self {
        Faults {
            plan,
            rng: SimRng::new(seed, Stream::Faults),
            active: true,
            anchored: BTreeMap::new(),
            armed: BTreeMap::new(),
            emfile_left: 0,
        }
    }

    /// Whether drawn faults may fire now.
    pub(crate) fn drawing(&self) -> bool {
        self.active && !self.plan.is_calm()
    }

    /// Whether a poll may report injected events: a scripted spurious or stale event waits
    /// for some client, or spurious events may be drawn.
    ///
    /// A shortcut only, and so the one place where a mutant is equivalent: without it every
    /// client is asked, and [`Faults::pick`] finds nothing scripted and draws nothing at a
    /// rate of 0 or once faults have healed, so the run is the same; only speed tells
    /// (`.cargo/mutants.toml` leaves this function out).
    pub(crate) fn polls_may_fire(&self) -> bool {
        let client_poll = |client: &Option<ClientId>, op: &Op, queue: &VecDeque<FaultSpec>| {
            client.is_some() && *op == Op::Poll && !queue.is_empty()
        };
        self.armed.iter().any(|((c, op), q)| client_poll(c, op, q))
            || self
                .anchored
                .iter()
                .any(|((c, op, _), q)| client_poll(c, op, q))
            || (self.drawing() && self.plan.rate(Family::Spurious) != 0)
    }

    /// A scripted fault on operation `at` (from 1) of its kind.
    pub(crate) fn anchor(&mut self, client: Option<ClientId>, spec: FaultSpec, at: u64) {
        self.anchored
            .entry((client, spec.op(), at))
            .or_default()
            .push_back(spec);
    }

    /// A scripted fault on the next operation of its kind.
    pub(crate) fn arm(&mut self, client: Option<ClientId>, spec: FaultSpec) {
        self.armed
            .entry((client, spec.op()))
            .or_default()
            .push_back(spec);
    }

    /// The fault for operation `index` of kind `op` on `client`'s connection (or the whole
    /// server): scripted on this index, then scripted for the next operation while
    /// `applicable` says it could happen now, then drawn from the plan by `draw`.
    pub(crate) fn pick(
        &mut self,
        client: Option<ClientId>,
        op: Op,
        index: u64,
        applicable: impl Fn(FaultSpec) -> bool,
        draw: impl FnOnce(&FaultPlan, &mut SimRng) -> Option<FaultSpec>,
    ) -> Option<FaultSpec> {
        let scripted = if self.anchored.is_empty() && self.armed.is_empty() {
            None
        } else {
            self.anchored
                .get_mut(&(client, op, index))
                .and_then(VecDeque::pop_front)
                .or_else(|| {
                    let queue = self.armed.get_mut(&(client, op))?;
                    let next = *queue.front()?;
                    applicable(next).then(|| queue.pop_front()).flatten()
                })
        };
        match scripted {
            Some(spec) => Some(spec),
            None if self.drawing() => draw(&self.plan, &mut self.rng),
            None => None,
        }
    }
}
