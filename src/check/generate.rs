//! Generated scenarios: client scripts drawn from a seed and shaped by the service's
//! [`Protocol`].
//!
//! Scripts are actions only (no expectations): the oracle judges what each client received.
//! Messages are made of the protocol's alphabet with its dictionary tokens spliced in, framed
//! as the protocol frames them (delimited lines end with each of the declared endings, so
//! `\r\n` as well as `\n`), and their lengths reach the declared limit: one byte under, at,
//! one over, and far over. Clients pipeline bursts, split one message over several sends,
//! pause reading, wait as long as the declared deadlines (just under, at, just over, twice),
//! end streams in the middle of a message, and leave by staying, half-closing, closing or
//! resetting; churning clients come and go. A scenario can also start from one of the user's
//! fixtures, mutated.
//!
//! [`Reach`] counts what the generator tried, so a campaign can say what it never tried.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fault::FaultSpec;
use crate::rng::{SimRng, Stream};
use crate::script::{Entry, Script, Step, client_name};
use crate::service::protocol::Next;
use crate::service::{Framing, Protocol};
use crate::text::human_duration;
use crate::world::{Play, ScriptedFault};

/// What the generator tried over a campaign: the lengths, idles and endings it reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Reach {
    /// Messages generated (complete or not).
    pub(crate) messages: u64,
    /// Bytes sent in all.
    pub(crate) bytes: u64,
    /// The longest message payload.
    pub(crate) longest_message: u64,
    /// The protocol's declared message limit, if any.
    pub(crate) limit: Option<u64>,
    /// Messages one byte under the limit, exactly at it, and over it.
    pub(crate) under_limit: u64,
    /// See `under_limit`.
    pub(crate) at_limit: u64,
    /// See `under_limit`.
    pub(crate) over_limit: u64,
    /// The longest wait or pause, in milliseconds.
    pub(crate) longest_idle_ms: u64,
    /// The shortest declared deadline, in milliseconds, if any.
    pub(crate) deadline_ms: Option<u64>,
    /// Waits and pauses at least as long as the shortest deadline.
    pub(crate) idles_past_deadline: u64,
    /// Streams that ended in the middle of a message.
    pub(crate) unterminated: u64,
    /// Messages ended with each of the protocol's endings (for delimited framing).
    pub(crate) endings: Vec<u64>,
    /// Scenarios started from a fixture.
    pub(crate) from_fixtures: u64,
    /// Messages a protocol session proposed, by kind (their first word).
    #[serde(default)]
    pub(crate) kinds: std::collections::BTreeMap<String, u64>,
    /// Messages one client caused for another, in passing runs judged by a reference model:
    /// owed (or possibly owed), and arrived.
    #[serde(default)]
    pub(crate) cross_client: u64,
    /// See `cross_client`.
    #[serde(default)]
    pub(crate) cross_client_arrived: u64,
}

impl Reach {
    /// Messages generated (complete or not).
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Bytes sent in all.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The longest message payload.
    pub fn longest_message(&self) -> u64 {
        self.longest_message
    }

    /// The protocol's declared message limit, if any.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Messages one byte under the limit, exactly at it, and over it.
    pub fn under_limit(&self) -> u64 {
        self.under_limit
    }

    /// See `under_limit`.
    pub fn at_limit(&self) -> u64 {
        self.at_limit
    }

    /// See `under_limit`.
    pub fn over_limit(&self) -> u64 {
        self.over_limit
    }

    /// The longest wait or pause, in milliseconds.
    pub fn longest_idle_ms(&self) -> u64 {
        self.longest_idle_ms
    }

    /// The shortest declared deadline, in milliseconds, if any.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.deadline_ms
    }

    /// Waits and pauses at least as long as the shortest deadline.
    pub fn idles_past_deadline(&self) -> u64 {
        self.idles_past_deadline
    }

    /// Streams that ended in the middle of a message.
    pub fn unterminated(&self) -> u64 {
        self.unterminated
    }

    /// Messages ended with each of the protocol's endings (for delimited framing).
    pub fn endings(&self) -> &[u64] {
        &self.endings
    }

    /// Scenarios started from a fixture.
    pub fn from_fixtures(&self) -> u64 {
        self.from_fixtures
    }

    /// Messages a protocol session proposed, by kind (their first word).
    pub fn kinds(&self) -> &std::collections::BTreeMap<String, u64> {
        &self.kinds
    }

    /// Messages one client caused for another, in passing runs judged by a reference model:
    /// owed (or possibly owed), and arrived.
    pub fn cross_client(&self) -> u64 {
        self.cross_client
    }

    /// See `cross_client`.
    pub fn cross_client_arrived(&self) -> u64 {
        self.cross_client_arrived
    }
}

impl Reach {
    /// Adds another campaign's (or shard's) reach.
    pub fn absorb(&mut self, other: &Reach) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.longest_message = self.longest_message.max(other.longest_message);
        self.limit = self.limit.or(other.limit);
        self.under_limit += other.under_limit;
        self.at_limit += other.at_limit;
        self.over_limit += other.over_limit;
        self.longest_idle_ms = self.longest_idle_ms.max(other.longest_idle_ms);
        self.deadline_ms = self.deadline_ms.or(other.deadline_ms);
        self.idles_past_deadline += other.idles_past_deadline;
        self.unterminated += other.unterminated;
        if self.endings.len() < other.endings.len() {
            self.endings.resize(other.endings.len(), 0);
        }
        for (mine, theirs) in self.endings.iter_mut().zip(&other.endings) {
            *mine += theirs;
        }
        self.from_fixtures += other.from_fixtures;
        for (kind, n) in &other.kinds {
            *self.kinds.entry(kind.clone()).or_default() += n;
        }
        self.cross_client += other.cross_client;
        self.cross_client_arrived += other.cross_client_arrived;
    }

    /// What the protocol declares that the generator never tried.
    pub fn never_tried(&self) -> Vec<String> {
        let mut gaps = Vec::new();
        if let Some(limit) = self.limit {
            if self.at_limit == 0 {
                gaps.push(format!("a message of exactly the limit ({limit} bytes)"));
            }
            if self.over_limit == 0 {
                gaps.push(format!("a message over the limit ({limit} bytes)"));
            }
        }
        if let Some(deadline) = self.deadline_ms
            && self.idles_past_deadline == 0
        {
            gaps.push(format!(
                "an idle as long as the deadline ({})",
                human_duration(Duration::from_millis(deadline))
            ));
        }
        gaps
    }
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reached: {} messages, {} bytes; longest message {} bytes",
            self.messages, self.bytes, self.longest_message
        )?;
        if let Some(limit) = self.limit {
            write!(
                f,
                " (limit {limit}: {} one under, {} at, {} over)",
                self.under_limit, self.at_limit, self.over_limit
            )?;
        }
        write!(
            f,
            "; longest idle {}",
            human_duration(Duration::from_millis(self.longest_idle_ms))
        )?;
        if let Some(deadline) = self.deadline_ms {
            write!(
                f,
                " ({} past the {} deadline)",
                self.idles_past_deadline,
                human_duration(Duration::from_millis(deadline))
            )?;
        }
        write!(f, "; {} streams ended mid-message", self.unterminated)?;
        if self.endings.len() > 1 {
            let list: Vec<String> = self.endings.iter().map(u64::to_string).collect();
            write!(f, "; endings used {}", list.join("/"))?;
        }
        if self.from_fixtures > 0 {
            write!(f, "; {} scenarios from fixtures", self.from_fixtures)?;
        }
        if !self.kinds.is_empty() {
            let kinds: Vec<String> = self.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
            write!(f, "; session messages: {}", kinds.join(", "))?;
        }
        if self.cross_client > 0 {
            write!(
                f,
                "; messages between clients: {} caused, {} arrived",
                self.cross_client, self.cross_client_arrived
            )?;
        }
        Ok(())
    }
}

/// The shape of generated scenarios.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    pub(crate) protocol: Protocol,
    pub(crate) clients: usize,
    /// Most actions per client between `connect` and its ending.
    pub(crate) max_actions: usize,
    /// Add a connect storm: many short-lived clients at once.
    pub(crate) storm: bool,
    /// Fixtures to start from, as plays.
    pub(crate) fixtures: Vec<Play>,
}

struct Gen<'a> {
    rng: SimRng,
    shape: &'a Shape,
    reach: &'a mut Reach,
    alphabet: Vec<u8>,
    /// The client being generated, and what the protocol's session proposed to it so far.
    client: usize,
    sent: Vec<Vec<u8>>,
}

impl Gen<'_> {
    fn limit(&self) -> Option<usize> {
        self.shape.protocol.get_max_message().map(|(l, _)| l)
    }

    fn payload_len(&mut self) -> usize {
        let roll = self.rng.below(100);
        if let Some(limit) = self.limit()
            && roll < 12
        {
            let choices = [
                limit.saturating_sub(1),
                limit,
                limit + 1,
                limit + 1 + self.rng.below(16) as usize,
                limit.saturating_mul(2).max(limit + 2),
            ];
            return *self.rng.pick(&choices);
        }
        match roll {
            0..=49 => self.rng.between(1, 8) as usize,
            50..=79 => self.rng.between(9, 64) as usize,
            80..=89 => self.rng.between(65, 2_000) as usize,
            90..=93 => self.rng.between(2_001, 20_000) as usize,
            _ => 0,
        }
    }

    /// A payload of `len` bytes from the alphabet, with dictionary tokens spliced in.
    fn payload(&mut self, len: usize) -> Vec<u8> {
        let mut bytes: Vec<u8> = Vec::with_capacity(len + 8);
        // Eight bytes per random word: large payloads are cheap to make.
        while bytes.len() < len {
            let word = self.rng.next_u64().to_le_bytes();
            for b in word.into_iter().take(len - bytes.len()) {
                bytes.push(self.alphabet[usize::from(b) % self.alphabet.len()]);
            }
        }
        let tokens = self.shape.protocol.get_tokens();
        if !tokens.is_empty() && len > 0 && self.rng.chance(500_000) {
            for i in 0..self.rng.between(1, 3) {
                let token = self.rng.pick(tokens).clone();
                // A token often starts the message (a command word), else lands anywhere.
                let at = if i == 0 && self.rng.chance(600_000) {
                    0
                } else {
                    self.rng.below(bytes.len() as u64 + 1) as usize
                };
                let end = (at + token.len()).min(bytes.len());
                bytes.splice(at..end, token);
            }
        }
        bytes
    }

    /// A payload made of dictionary tokens (one or two), sometimes followed by a few bytes
    /// of the alphabet: whole commands such as `GET a`, which random bytes rarely spell.
    fn token_payload(&mut self) -> Vec<u8> {
        let tokens = self.shape.protocol.get_tokens();
        let mut bytes = self.rng.pick(tokens).clone();
        if self.rng.chance(250_000) {
            bytes.extend_from_slice(self.rng.pick(tokens).as_slice());
        }
        if self.rng.chance(500_000) {
            for _ in 0..self.rng.between(1, 3) {
                bytes.push(*self.rng.pick(&self.alphabet));
            }
        }
        bytes
    }

    /// The session's next message for this client, most of the time when the protocol has a
    /// session; counted by kind.
    fn session_payload(&mut self) -> Option<Vec<u8>> {
        if !self.shape.protocol.has_session() || !self.rng.chance(850_000) {
            return None;
        }
        let mut next = Next::new(self.client, &self.sent, &mut self.rng);
        let payload = self.shape.protocol.propose(&mut next)?;
        let kind: String = payload
            .split(|b| b.is_ascii_whitespace())
            .next()
            .unwrap_or_default()
            .iter()
            .take(16)
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect();
        *self.reach.kinds.entry(kind).or_default() += 1;
        self.sent.push(payload.clone());
        Some(payload)
    }

    /// One complete message, framed, counted in the reach.
    fn message(&mut self) -> Vec<u8> {
        let payload = if let Some(payload) = self.session_payload() {
            payload
        } else if !self.shape.protocol.get_tokens().is_empty() && self.rng.chance(250_000) {
            self.token_payload()
        } else {
            let len = self.payload_len();
            self.payload(len)
        };
        self.count_message(payload.len());
        let protocol = &self.shape.protocol;
        let ending = match protocol.framing() {
            Framing::Delimited(_) if !protocol.get_endings().is_empty() => {
                let i = self.rng.below(protocol.get_endings().len() as u64) as usize;
                if self.reach.endings.len() < protocol.get_endings().len() {
                    self.reach.endings.resize(protocol.get_endings().len(), 0);
                }
                self.reach.endings[i] += 1;
                Some(protocol.get_endings()[i].clone())
            }
            _ => None,
        };
        let mut framed = protocol.frame(&payload, ending.as_deref());
        if framed.is_empty() {
            framed.push(self.alphabet[0]);
        }
        framed
    }

    fn count_message(&mut self, len: usize) {
        self.reach.messages += 1;
        self.reach.longest_message = self.reach.longest_message.max(len as u64);
        if let Some(limit) = self.limit() {
            match len.cmp(&limit) {
                std::cmp::Ordering::Less if len + 1 == limit => self.reach.under_limit += 1,
                std::cmp::Ordering::Equal => self.reach.at_limit += 1,
                std::cmp::Ordering::Greater => self.reach.over_limit += 1,
                _ => {}
            }
        }
    }

    /// How long to wait or pause: mostly short, and as long as the declared deadlines
    /// (just under, at, just over, twice) often enough that each is crossed.
    fn idle(&mut self) -> Duration {
        let deadlines = self.shape.protocol.get_deadlines();
        let d = if !deadlines.is_empty() && self.rng.chance(400_000) {
            let deadline = self.rng.pick(deadlines).after();
            let ms = Duration::from_millis(1);
            let ladder = [
                deadline / 10,
                deadline / 2,
                deadline.saturating_sub(ms),
                deadline,
                deadline + ms,
                deadline * 2,
            ];
            (*self.rng.pick(&ladder)).max(ms)
        } else if self.rng.chance(100_000) {
            Duration::from_millis(self.rng.between(51, 500))
        } else {
            Duration::from_millis(self.rng.between(1, 50))
        };
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.reach.longest_idle_ms = self.reach.longest_idle_ms.max(ms);
        if self
            .reach
            .deadline_ms
            .is_some_and(|deadline| ms >= deadline)
        {
            self.reach.idles_past_deadline += 1;
        }
        d
    }

    /// An incomplete message: a framed message cut short.
    fn unterminated(&mut self) -> Option<Vec<u8>> {
        let mut message = self.message();
        // The counted message is reported as unterminated instead.
        self.reach.messages -= 1;
        let keep = match self.shape.protocol.framing() {
            Framing::Chunks => return None,
            Framing::Delimited(_) => {
                let ending = self
                    .shape
                    .protocol
                    .get_endings()
                    .iter()
                    .find(|e| message.ends_with(e))
                    .map_or(1, Vec::len);
                message.len().saturating_sub(ending)
            }
            Framing::LengthPrefixed { .. } => {
                self.rng.between(1, message.len().max(2) as u64 - 1) as usize
            }
        };
        if keep == 0 {
            return None;
        }
        message.truncate(keep);
        self.reach.unterminated += 1;
        Some(message)
    }

    /// Starts generating client `index`: a new session.
    fn start(&mut self, index: usize) {
        self.client = index;
        self.sent.clear();
    }

    fn client(&mut self) -> Vec<Entry> {
        let mut entries = vec![Entry::Step(Step::Connect)];
        let actions = self.rng.between(0, self.shape.max_actions as u64);
        for _ in 0..actions {
            let roll = self.rng.below(100);
            match roll {
                0..=54 => entries.push(Entry::Step(Step::Send(self.message()))),
                55..=64 => {
                    // A pipelined burst in one send.
                    let mut burst = Vec::new();
                    for _ in 0..self.rng.between(2, 8) {
                        burst.extend(self.message());
                    }
                    entries.push(Entry::Step(Step::Send(burst)));
                }
                65..=74 => {
                    // One message over several sends, with pauses between.
                    let message = self.message();
                    let pieces = self.rng.between(2, 3) as usize;
                    let mut cuts: Vec<usize> = (1..pieces)
                        .map(|_| self.rng.between(1, message.len().max(2) as u64 - 1) as usize)
                        .collect();
                    cuts.sort_unstable();
                    cuts.dedup();
                    let mut start = 0;
                    for cut in cuts.into_iter().chain(std::iter::once(message.len())) {
                        if cut > start {
                            entries.push(Entry::Step(Step::Send(message[start..cut].to_vec())));
                            start = cut;
                            if start < message.len() {
                                entries.push(Entry::Step(Step::Wait(self.idle())));
                            }
                        }
                    }
                }
                75..=86 => entries.push(Entry::Step(Step::Wait(self.idle()))),
                87..=94 => {
                    // A slow reader: stop reading for a while, then catch up. Nothing is
                    // sent while paused, or the client itself could deadlock the run.
                    entries.push(Entry::Step(Step::Pause));
                    entries.push(Entry::Step(Step::Wait(self.idle())));
                    entries.push(Entry::Step(Step::Resume));
                }
                _ => {
                    entries.push(Entry::Step(Step::Shutdown));
                    return entries;
                }
            }
        }
        if self.shape.protocol.get_ends_mid_message()
            && self.rng.chance(150_000)
            && let Some(partial) = self.unterminated()
        {
            entries.push(Entry::Step(Step::Send(partial)));
        }
        match self.rng.below(10) {
            0..=4 => {}
            5..=6 => entries.push(Entry::Step(Step::Shutdown)),
            7..=8 => entries.push(Entry::Step(Step::Close)),
            _ => entries.push(Entry::Step(Step::Reset)),
        }
        entries
    }

    fn churner(&mut self) -> Vec<Entry> {
        let mut entries = vec![Entry::Step(Step::Wait(self.idle()))];
        entries.push(Entry::Step(Step::Connect));
        for _ in 0..self.rng.between(0, 2) {
            entries.push(Entry::Step(Step::Send(self.message())));
        }
        entries.push(Entry::Step(match self.rng.below(3) {
            0 => Step::Reset,
            1 => Step::Shutdown,
            _ => Step::Close,
        }));
        entries
    }
}

/// The alphabet messages are drawn from: the protocol's, without the bytes of a delimiter
/// (which would cut messages where the generator did not mean to).
fn message_alphabet(protocol: &Protocol) -> Vec<u8> {
    let mut alphabet: Vec<u8> = protocol.get_alphabet().to_vec();
    if let Framing::Delimited(delimiter) = protocol.framing() {
        alphabet.retain(|b| !delimiter.contains(b));
    }
    if alphabet.is_empty() {
        alphabet.push(b'a');
    }
    alphabet
}

/// Generates the play of `seed`.
pub(crate) fn generate(seed: u64, shape: &Shape, reach: &mut Reach) -> Play {
    reach.limit = shape.protocol.get_max_message().map(|(l, _)| l as u64);
    reach.deadline_ms = shape
        .protocol
        .get_deadlines()
        .iter()
        .map(|d| u64::try_from(d.after().as_millis()).unwrap_or(u64::MAX))
        .min();
    let mut g = Gen {
        rng: SimRng::new(seed, Stream::Scenario),
        shape,
        reach,
        alphabet: message_alphabet(&shape.protocol),
        client: 0,
        sent: Vec::new(),
    };
    // One scenario in three starts from a fixture, when there are any.
    if !shape.fixtures.is_empty() && g.rng.chance(333_333) {
        let base = g.rng.pick(&shape.fixtures).clone();
        let play = mutate(&mut g, base);
        g.reach.from_fixtures += 1;
        return play;
    }
    let mut clients: Vec<Script> = (0..shape.clients)
        .map(|i| {
            g.start(i);
            Script {
                name: client_name(i),
                entries: g.client(),
            }
        })
        .collect();
    for i in 0..shape.protocol.get_churn() {
        g.start(clients.len());
        clients.push(Script {
            name: format!("churn{i}"),
            entries: g.churner(),
        });
    }
    if shape.storm {
        // A storm: clients that connect together, maybe say one thing, and leave.
        for i in 0..g.rng.between(10, 60) {
            g.start(clients.len());
            let mut entries = vec![Entry::Step(Step::Connect)];
            if g.rng.chance(300_000) {
                entries.push(Entry::Step(Step::Send(g.message())));
            }
            entries.push(Entry::Step(match g.rng.below(4) {
                0 => Step::Reset,
                1 => Step::Shutdown,
                _ => Step::Close,
            }));
            clients.push(Script {
                name: format!("storm{i}"),
                entries,
            });
        }
    }
    for client in &clients {
        for step in client.steps() {
            if let Step::Send(bytes) = step {
                g.reach.bytes += bytes.len() as u64;
            }
        }
    }
    Play {
        clients,
        faults: Vec::new(),
    }
}

/// A fixture's play as a starting point: its actions only (what it expects is the oracle's
/// business now).
pub(crate) fn fixture_play(play: &Play) -> Play {
    Play {
        clients: play
            .clients
            .iter()
            .map(|s| Script {
                name: s.name.clone(),
                entries: s
                    .entries
                    .iter()
                    .filter(|e| !matches!(e, Entry::Step(step) if step.is_expectation()))
                    .cloned()
                    .collect(),
            })
            .collect(),
        faults: play.faults.clone(),
    }
}

/// One to four mutations of a fixture's play: split a send, splice in another fixture's
/// client, repeat a send, truncate a client, insert a fault, insert a wait, change bytes.
fn mutate(g: &mut Gen<'_>, mut play: Play) -> Play {
    for _ in 0..g.rng.between(1, 4) {
        if play.clients.is_empty() {
            break;
        }
        let c = g.rng.below(play.clients.len() as u64) as usize;
        let len = play.clients[c].entries.len();
        // Entries after the connect are fair game.
        let connect = play.clients[c]
            .entries
            .iter()
            .position(|e| *e == Entry::Step(Step::Connect))
            .unwrap_or(0);
        let at = g
            .rng
            .between(connect as u64 + 1, len.max(connect + 1) as u64) as usize;
        match g.rng.below(7) {
            0 => {
                // Split a send in two.
                if let Some(Entry::Step(Step::Send(bytes))) = play.clients[c].entries.get(at)
                    && bytes.len() > 1
                {
                    let bytes = bytes.clone();
                    let cut = g.rng.between(1, bytes.len() as u64 - 1) as usize;
                    play.clients[c].entries[at] = Entry::Step(Step::Send(bytes[..cut].to_vec()));
                    play.clients[c]
                        .entries
                        .insert(at + 1, Entry::Step(Step::Send(bytes[cut..].to_vec())));
                }
            }
            1 => {
                // Splice in a client of another fixture, renamed.
                let other = g.rng.pick(&g.shape.fixtures).clone();
                if let Some(script) = other.clients.first() {
                    let mut script = script.clone();
                    script.name = format!("spliced{}", play.clients.len());
                    play.clients.push(script);
                }
            }
            2 => {
                // Repeat a send.
                if let Some(entry @ Entry::Step(Step::Send(_))) =
                    play.clients[c].entries.get(at).cloned()
                {
                    play.clients[c].entries.insert(at, entry);
                }
            }
            3 => {
                // Truncate, keeping the connect; a pause cut from its resume goes too.
                play.clients[c].entries.truncate(at.max(connect + 1));
                if play.clients[c].entries.last() == Some(&Entry::Step(Step::Pause)) {
                    play.clients[c].entries.pop();
                }
            }
            4 => {
                let faults = [
                    FaultSpec::ShortRead(1),
                    FaultSpec::ShortWrite(1),
                    FaultSpec::WriteBlock,
                    FaultSpec::ReadEintr,
                    FaultSpec::Spurious,
                    FaultSpec::Delay(Duration::from_millis(5)),
                ];
                let spec = *g.rng.pick(&faults);
                play.clients[c]
                    .entries
                    .insert(at.min(len), Entry::Fault(spec));
            }
            5 => {
                let wait = g.idle();
                play.clients[c]
                    .entries
                    .insert(at.min(len), Entry::Step(Step::Wait(wait)));
            }
            _ => {
                // New bytes in a send, or a message of the protocol's own.
                let message = g.message();
                match play.clients[c].entries.get_mut(at) {
                    Some(Entry::Step(Step::Send(bytes))) => bytes.extend(message),
                    _ => play.clients[c]
                        .entries
                        .insert(at.min(len), Entry::Step(Step::Send(message))),
                }
            }
        }
    }
    // Faults anchored to operations of the fixture's own run mean little once its scripts
    // change; the ones that stand for a whole run (no client, no `at`) stay.
    play.faults
        .retain(|f: &ScriptedFault| f.client.is_none() && f.at.is_none());
    play
}
