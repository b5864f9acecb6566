//! A client's timeline: what it sent, what it received and every event with its time (virtual
//! time in the simulator, time since the run began over real sockets). The simulator, the
//! real-socket clients, the oracles and the views all read it, so it stands below them all.

use crate::time::Instant;
use std::ops::Range;

/// One thing that happened to a client, on its timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientEvent {
    /// When (virtual time in the simulator, time since the run began over real sockets).
    pub(crate) at: Instant,
    /// What.
    pub(crate) kind: EventKind,
}

impl ClientEvent {
    /// When (virtual time in the simulator, time since the run began over real sockets).
    pub fn at(&self) -> Instant {
        self.at
    }

    /// What.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }
}

/// What happened to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The client connected.
    Connected,
    /// The client sent `sent[range]` (one send as the network took it).
    Sent(Range<usize>),
    /// The client received `received[range]` (one read).
    Received(Range<usize>),
    /// The client read the server's close (EOF).
    Eof,
    /// The client saw the connection reset.
    Reset,
    /// The client shut down its write side.
    Shutdown,
    /// The client closed its socket.
    Closed,
    /// The client aborted the connection (`SO_LINGER 0`).
    Aborted,
    /// The client stopped reading.
    Paused,
    /// The client started reading again.
    Resumed,
}

/// What one client did and saw: its bytes both ways, how its connection ended, and every
/// event with its time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientReport {
    /// The client's name.
    pub name: String,
    /// Every byte it sent, in order.
    pub sent: Vec<u8>,
    /// Every byte it received, in order.
    pub received: Vec<u8>,
    /// The client saw the server close (EOF).
    pub(crate) saw_eof: bool,
    /// The client saw a reset.
    pub(crate) saw_reset: bool,
    /// The client closed or reset the connection itself.
    pub closed: bool,
    /// The client shut down its write side.
    pub(crate) shut: bool,
    /// A fault cut the client off (reset, abort, or a close it did not script).
    pub disrupted: bool,
    /// Over real sockets, when the connection was reset with what the client sent perhaps
    /// still unread by the server (the reset drops it), so that what it would have caused
    /// for others may or may not have happened: time zero when the harness itself reset or
    /// aborted the connection; the close when the client closed with bytes still unread.
    /// The oracle widens it by the slack a server takes to come round to a ready socket.
    pub(crate) cut_unread_at: Option<Instant>,
    /// The client stopped reading and never started again: it is owed nothing more.
    pub(crate) paused_at_end: bool,
    /// Everything that happened to the client, in order, with times.
    pub timeline: Vec<ClientEvent>,
}

impl ClientReport {
    /// The client saw the server close (EOF).
    pub fn saw_eof(&self) -> bool {
        self.saw_eof
    }

    /// The client saw a reset.
    pub fn saw_reset(&self) -> bool {
        self.saw_reset
    }

    /// The client shut down its write side.
    pub fn shut(&self) -> bool {
        self.shut
    }

    /// The client stopped reading and never started again: it is owed nothing more.
    pub fn paused_at_end(&self) -> bool {
        self.paused_at_end
    }

    /// A report with nothing in it yet.
    pub fn new(name: impl Into<String>) -> Self {
        ClientReport {
            name: name.into(),
            ..ClientReport::default()
        }
    }

    /// A client that connected, sent `sent` in one send and received `received` in one read,
    /// all at time zero, and saw nothing else happen.
    pub fn exchange(name: impl Into<String>, sent: &[u8], received: &[u8]) -> Self {
        let mut report = ClientReport::new(name);
        report.record(Instant::ZERO, EventKind::Connected);
        report.record_sent(Instant::ZERO, sent);
        report.record_received(Instant::ZERO, received);
        report
    }

    /// Adds an event with no bytes to the timeline, updating the flags it implies.
    pub fn record(&mut self, at: Instant, kind: EventKind) {
        match kind {
            EventKind::Eof => self.saw_eof = true,
            EventKind::Reset => self.saw_reset = true,
            EventKind::Shutdown => self.shut = true,
            EventKind::Closed | EventKind::Aborted => self.closed = true,
            EventKind::Paused => self.paused_at_end = true,
            EventKind::Resumed => self.paused_at_end = false,
            _ => {}
        }
        self.timeline.push(ClientEvent { at, kind });
    }

    /// Adds a send to the timeline.
    pub fn record_sent(&mut self, at: Instant, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let start = self.sent.len();
        self.sent.extend_from_slice(bytes);
        let end = self.sent.len();
        self.timeline.push(ClientEvent {
            at,
            kind: EventKind::Sent(start..end),
        });
    }

    /// Adds a read to the timeline.
    pub fn record_received(&mut self, at: Instant, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let start = self.received.len();
        self.received.extend_from_slice(bytes);
        let end = self.received.len();
        self.timeline.push(ClientEvent {
            at,
            kind: EventKind::Received(start..end),
        });
    }

    /// Whether the client was owed every answer: it did not close or reset itself, no fault
    /// cut it off, and it was reading when its script ended.
    pub fn is_owed(&self) -> bool {
        !self.closed && !self.disrupted && !self.saw_reset && !self.paused_at_end
    }

    /// Each send as the network took it: the messages of a message-framed protocol.
    pub fn messages(&self) -> impl Iterator<Item = &[u8]> {
        self.timeline.iter().filter_map(|e| match &e.kind {
            EventKind::Sent(range) => Some(&self.sent[range.clone()]),
            _ => None,
        })
    }

    /// When the client connected.
    pub fn connected_at(&self) -> Option<Instant> {
        self.timeline
            .iter()
            .find(|e| e.kind == EventKind::Connected)
            .map(|e| e.at)
    }

    /// When byte `offset` of `sent` was sent.
    pub fn sent_at(&self, offset: usize) -> Option<Instant> {
        self.timeline.iter().find_map(|e| match &e.kind {
            EventKind::Sent(range) if range.contains(&offset) => Some(e.at),
            _ => None,
        })
    }

    /// When byte `offset` of `received` arrived.
    pub fn received_at(&self, offset: usize) -> Option<Instant> {
        self.timeline.iter().find_map(|e| match &e.kind {
            EventKind::Received(range) if range.contains(&offset) => Some(e.at),
            _ => None,
        })
    }

    /// When the client first saw the server end the connection (EOF or reset).
    pub fn ended_at(&self) -> Option<Instant> {
        self.timeline
            .iter()
            .find(|e| matches!(e.kind, EventKind::Eof | EventKind::Reset))
            .map(|e| e.at)
    }
}

/// Clients as the oracle sees them over real sockets: one that closed was cut off from what
/// it was owed.
pub(crate) fn owed(clients: &[ClientReport]) -> Vec<ClientReport> {
    clients
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.disrupted |= c.closed;
            c
        })
        .collect()
}
