//! A reference model as the oracle: the protocol between connections (chat rooms, pub/sub,
//! a shared store) written as a small state machine over framed messages.
//!
//! muxsim feeds the [`Model`] what the server saw, in the order it saw it ([`Run::server`]:
//! accepts, each message read from a connection, closes), and the model says what each
//! connection must receive ([`Deliveries`]). Every connection's received bytes are then
//! compared with the model's, message by message whatever the segmentation, and a failure
//! says which message to which connection went missing, arrived twice, arrived out of order or
//! arrived unasked, and what caused it.
//!
//! A connection is owed everything only when [`ClientReport::is_owed`]: one cut by a fault,
//! closed, or paused at its end may have stopped anywhere, so what it received must only be a
//! start of what the model says (messages the model marks as racing with a close may be
//! missing anywhere). A message over the protocol's declared limit gets the declared reply and
//! a close, as [`super::RequestResponse`] has it, without the model seeing it.
//!
//! ```
//! use muxsim::service::{Deliveries, Model, ModelOracle, Protocol, ServiceDescriptor};
//! # use muxsim::core::echo::Echo;
//!
//! /// Every line a client sends goes to every other connected client.
//! #[derive(Default)]
//! struct Broadcast { open: Vec<usize> }
//!
//! impl Model for Broadcast {
//!     fn connected(&mut self, conn: usize, _out: &mut Deliveries) {
//!         self.open.push(conn);
//!     }
//!     fn message(&mut self, from: usize, payload: &[u8], out: &mut Deliveries) {
//!         for &to in self.open.iter().filter(|&&c| c != from) {
//!             out.send(to, [payload, b"\n"].concat());
//!         }
//!     }
//!     fn closed(&mut self, conn: usize, _out: &mut Deliveries) {
//!         self.open.retain(|&c| c != conn);
//!     }
//! }
//!
//! # let make = |_: &muxsim::ServiceOptions| Echo::default();
//! let descriptor = ServiceDescriptor::new("broadcast", make)
//!     .protocol(Protocol::lines())
//!     .oracle(ModelOracle::new(|_options| Broadcast::default()));
//! assert!(descriptor.has_oracle());
//! ```
//!
//! [`Run::server`]: crate::world::Run::server

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use super::ServiceOptions;
use super::oracle::{Context, Oracle, RunView};
use super::protocol::{Framing, Protocol};
use crate::text::{format_duration, quote_short};
use crate::time::Instant;
use crate::world::{ClientReport, ServerEvent, ServerEventKind};

/// The protocol between connections as a state machine. Connections are named by their
/// client's index in the run (`0` for the first client of the transcript or scenario).
pub trait Model: Send {
    /// A connection was accepted (the greeting, if any, goes out here).
    fn connected(&mut self, conn: usize, out: &mut Deliveries) {
        let _ = (conn, out);
    }
    /// A complete message was read from `conn`: its payload, framing removed (for line
    /// protocols without the `\n`; a `\r` before it stays).
    fn message(&mut self, conn: usize, payload: &[u8], out: &mut Deliveries);
    /// The peer shut down its side (end of stream); the connection stays open for what the
    /// server still sends.
    fn peer_closed(&mut self, conn: usize, out: &mut Deliveries) {
        let _ = (conn, out);
    }
    /// The connection is gone: either side closed it, it was reset or cut, or the server
    /// decided to close it (a close the service asks for on its own, such as an idle timeout,
    /// is taken as given here; `RequestResponse`'s deadlines judge when one may come).
    fn closed(&mut self, conn: usize, out: &mut Deliveries) {
        let _ = (conn, out);
    }
}

/// What the model says must reach each connection, in order.
#[derive(Debug, Default)]
pub struct Deliveries {
    items: Vec<Delivery>,
    closes: Vec<usize>,
}

#[derive(Clone, Debug)]
struct Delivery {
    to: usize,
    bytes: Vec<u8>,
    maybe: bool,
}

impl Deliveries {
    /// `to` must receive `bytes`, after everything the model sent it before.
    pub fn send(&mut self, to: usize, bytes: impl Into<Vec<u8>>) {
        self.items.push(Delivery {
            to,
            bytes: bytes.into(),
            maybe: false,
        });
    }

    /// `to` may or may not receive `bytes` (it races with a close); if it does, in this
    /// place.
    pub fn maybe(&mut self, to: usize, bytes: impl Into<Vec<u8>>) {
        self.items.push(Delivery {
            to,
            bytes: bytes.into(),
            maybe: true,
        });
    }

    /// The server closes `conn` after what it sent it: nothing more is owed to it, and what
    /// it sends afterwards is not read.
    pub fn close(&mut self, conn: usize) {
        self.closes.push(conn);
    }
}

type MakeModel = dyn Fn(&ServiceOptions) -> Box<dyn Model> + Send + Sync;

/// The oracle of a [`Model`]: judges the whole run against it (see the module docs).
#[derive(Clone)]
pub struct ModelOracle {
    make: Arc<MakeModel>,
}

impl fmt::Debug for ModelOracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ModelOracle")
    }
}

impl ModelOracle {
    /// The oracle of the model `make` builds from the run's options (a fresh one per run).
    pub fn new<M: Model + 'static>(
        make: impl Fn(&ServiceOptions) -> M + Send + Sync + 'static,
    ) -> Self {
        ModelOracle {
            make: Arc::new(move |options| Box::new(make(options))),
        }
    }
}

/// One message the model owes a connection: its bytes, whether it may be missing, and what
/// caused it.
#[derive(Clone, Debug)]
struct Owed {
    bytes: Vec<u8>,
    maybe: bool,
    cause: String,
    /// The client whose event caused it: what one client causes reaches another in order.
    from: usize,
    /// Not sent to this client by the model, but it may have been (see `settle`).
    extra: bool,
}

impl Oracle for ModelOracle {
    fn judge(&self, _client: &ClientReport, _context: &Context<'_>) -> Result<(), String> {
        // A model judges connections together: see `judge_run`.
        Ok(())
    }

    fn needs_server(&self) -> bool {
        true
    }

    fn deliveries(&self, run: &RunView<'_>, context: &Context<'_>) -> Option<(u64, u64)> {
        let mut model = (self.make)(context.options);
        let owed = feed(model.as_mut(), context.protocol, run, false);
        let (mut caused, mut arrived) = (0, 0);
        for (to, list) in owed.iter().enumerate() {
            let Some(client) = run.clients.get(to) else {
                continue;
            };
            let (got, _) = frames(context.protocol, &client.received);
            let mut left: Vec<&[u8]> = got;
            for o in list.iter().filter(|o| o.from != to && !o.extra) {
                caused += 1;
                if let Some(i) = left.iter().position(|f| *f == o.bytes.as_slice()) {
                    left.remove(i);
                    arrived += 1;
                }
            }
        }
        Some((caused, arrived))
    }

    fn judge_run(&self, run: &RunView<'_>, context: &Context<'_>) -> Result<(), (String, String)> {
        // A `\r` before a `\n` may or may not count toward the message limit: a service is
        // right under either reading (as with `RequestResponse`).
        let crlf = context.protocol.get_endings().iter().any(|e| e == b"\r\n")
            && context.protocol.get_max_message().is_some();
        let mut first_error = None;
        for strip_cr in [true, false].into_iter().take(if crlf { 2 } else { 1 }) {
            let mut model = (self.make)(context.options);
            let owed = feed(model.as_mut(), context.protocol, run, strip_cr && crlf);
            let judged = run.clients.iter().enumerate().try_for_each(|(i, client)| {
                let expected = owed.get(i).map_or(&[][..], Vec::as_slice);
                let judged = if run.exact {
                    compare(context.protocol, client, expected)
                } else {
                    compare_per_sender(context.protocol, client, expected)
                };
                judged.map_err(|detail| (client.name.clone(), detail))
            });
            match judged {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Runs the model over what the server saw: per connection, what it is owed.
fn feed(
    model: &mut dyn Model,
    protocol: &Protocol,
    run: &RunView<'_>,
    crlf: bool,
) -> Vec<Vec<Owed>> {
    let n = run.clients.len();
    let mut owed: Vec<Vec<Owed>> = vec![Vec::new(); n];
    let mut pending: Vec<Vec<u8>> = vec![Vec::new(); n];
    // Connections the model (or the limit) closed: what they send is not read.
    let mut done = vec![false; n];
    // Connections the model was told are gone.
    let mut gone = vec![false; n];
    let names: Vec<&str> = run.clients.iter().map(|c| c.name.as_str()).collect();
    let limit = protocol.get_max_message();
    let mut out = Deliveries::default();
    // Over real sockets a client is surely known to the server only once it has read from
    // it: what others caused before that may or may not have reached it.
    let greeted: Vec<Option<Instant>> = run
        .clients
        .iter()
        .map(|c| {
            c.timeline
                .iter()
                .find(|e| matches!(e.kind, crate::world::EventKind::Received(_)))
                .map(|e| e.at)
        })
        .collect();
    // And a client that saw the server close may have been closed a little before it saw it:
    // what was caused just before may or may not have been read or sent.
    let closed_seen: Vec<Option<Instant>> = run
        .clients
        .iter()
        .map(|c| {
            c.timeline
                .iter()
                .find(|e| {
                    matches!(
                        e.kind,
                        crate::world::EventKind::Eof | crate::world::EventKind::Reset
                    )
                })
                .map(|e| e.at)
        })
        .collect();
    // And a client that shut down its side a moment before a cause may have been read after
    // it by the server: what the cause sent the others may reach it too.
    let shut: Vec<Option<Instant>> = run
        .clients
        .iter()
        .map(|c| {
            c.timeline
                .iter()
                .find(|e| matches!(e.kind, crate::world::EventKind::Shutdown))
                .map(|e| e.at)
        })
        .collect();
    for event in run.server {
        let c = event.client;
        if c >= n {
            continue;
        }
        let at = event.at;
        let text = |what: &str| {
            format!(
                "{what} at {}",
                format_duration(at.saturating_since(Instant::ZERO))
            )
        };
        let cause = |what: &str| Cause {
            text: text(what),
            from: c,
            unread: !run.exact
                && run.clients[c]
                    .cut_unread_at
                    .is_some_and(|cut| at + ACCEPT_SLACK >= cut),
            unsure_before: (!run.exact).then_some(at),
            greeted: &greeted,
            closed_seen: &closed_seen,
            shut: &shut,
        };
        match &event.kind {
            ServerEventKind::Accepted => {
                model.connected(c, &mut out);
                settle(
                    &mut out,
                    &mut owed,
                    &mut done,
                    &cause(&format!("client {} connected", names[c])),
                );
            }
            ServerEventKind::Read(bytes) => {
                if done[c] {
                    continue;
                }
                pending[c].extend_from_slice(bytes);
                let split = protocol.split(&pending[c]);
                let mut consumed = 0;
                for message in &split.messages {
                    if done[c] {
                        break;
                    }
                    let payload = &pending[c][message.payload.clone()];
                    consumed = message.end;
                    let counted = if crlf {
                        payload.strip_suffix(b"\r").unwrap_or(payload)
                    } else {
                        payload
                    };
                    if let Some((max, reply)) = limit
                        && counted.len() > max
                    {
                        out.send(c, reply.to_vec());
                        out.close(c);
                    } else {
                        model.message(c, payload, &mut out);
                    }
                    let what = format!("client {}'s {}", names[c], quote_short(payload));
                    settle(&mut out, &mut owed, &mut done, &cause(&what));
                }
                pending[c].drain(..consumed);
                // An incomplete message already over the limit is refused before its end (a
                // `\r` of `\r\n` in flight does not count).
                if let Some((max, reply)) = limit
                    && !done[c]
                    && !pending[c].is_empty()
                    && !matches!(protocol.framing(), Framing::Chunks)
                    && {
                        let len = protocol.partial_payload_len(&pending[c], 0);
                        let cr_in_flight = crlf && pending[c].last() == Some(&b'\r');
                        len > max + 1 || (len == max + 1 && !cr_in_flight)
                    }
                {
                    out.send(c, reply.to_vec());
                    out.close(c);
                    let what = format!("client {}'s message over the limit", names[c]);
                    settle(&mut out, &mut owed, &mut done, &cause(&what));
                }
            }
            ServerEventKind::PeerClosed => {
                if !done[c] {
                    // A protocol that answers an unterminated last message answers it now.
                    if protocol.get_answers_unterminated() && !pending[c].is_empty() {
                        let payload = std::mem::take(&mut pending[c]);
                        model.message(c, &payload, &mut out);
                        let what = format!("client {}'s {}", names[c], quote_short(&payload));
                        settle(&mut out, &mut owed, &mut done, &cause(&what));
                    }
                    model.peer_closed(c, &mut out);
                    let what = format!("client {}'s end of stream", names[c]);
                    settle(&mut out, &mut owed, &mut done, &cause(&what));
                }
            }
            ServerEventKind::Closing | ServerEventKind::Closed => {
                done[c] = true;
                pending[c].clear();
                if !std::mem::replace(&mut gone[c], true) {
                    model.closed(c, &mut out);
                    let what = format!("client {} closed", names[c]);
                    settle(&mut out, &mut owed, &mut done, &cause(&what));
                }
            }
        }
    }
    owed
}

/// Over real sockets, what a cause sent to other clients may also reach a client that shut
/// down its side up to [`ACCEPT_SLACK`] before it: the server may have read that client's end
/// of stream after the cause (it reads its ready sockets in its own order), and then the
/// client was still there to receive it. Such a client gets what the others got, as messages
/// that may or may not arrive.
fn may_reach_those_just_gone(items: &[Delivery], owed: &mut [Vec<Owed>], cause: &Cause<'_>) {
    let Some(at) = cause.unsure_before else {
        return;
    };
    let mut sent: Vec<&[u8]> = Vec::new();
    for d in items.iter().filter(|d| d.to != cause.from) {
        if !sent.contains(&d.bytes.as_slice()) {
            sent.push(&d.bytes);
        }
    }
    if sent.is_empty() {
        return;
    }
    for (k, list) in owed.iter_mut().enumerate() {
        let just_gone = cause
            .shut
            .get(k)
            .copied()
            .flatten()
            .is_some_and(|t| t <= at && at.saturating_since(t) <= ACCEPT_SLACK);
        if k == cause.from || !just_gone || items.iter().any(|d| d.to == k) {
            continue;
        }
        list.extend(sent.iter().map(|bytes| Owed {
            bytes: bytes.to_vec(),
            maybe: true,
            cause: cause.text.clone(),
            from: cause.from,
            extra: true,
        }));
    }
}

/// What caused a model's output: its text, the client, and (over real sockets) the time
/// before which a client that had read nothing yet may not have been known to the server.
struct Cause<'a> {
    text: String,
    from: usize,
    /// The harness cut the client whose event this is: the server may never have read it.
    unread: bool,
    unsure_before: Option<Instant>,
    greeted: &'a [Option<Instant>],
    closed_seen: &'a [Option<Instant>],
    shut: &'a [Option<Instant>],
}

/// Moves what the model said into each connection's owed list; closes it asked for stop what
/// a connection is owed after them.
fn settle(out: &mut Deliveries, owed: &mut [Vec<Owed>], done: &mut [bool], cause: &Cause<'_>) {
    let closing: Vec<usize> = out.closes.drain(..).collect();
    may_reach_those_just_gone(&out.items, owed, cause);
    for d in out.items.drain(..) {
        let Some(list) = owed.get_mut(d.to) else {
            continue;
        };
        // Sent to a connection already gone: nobody can receive it.
        if done.get(d.to).copied().unwrap_or(true) && !closing.contains(&d.to) {
            continue;
        }
        let unsure = cause.unsure_before.is_some_and(|at| {
            let before_greeted = d.to != cause.from
                && cause
                    .greeted
                    .get(d.to)
                    .copied()
                    .flatten()
                    .is_none_or(|greeted| greeted > at);
            let near_close = cause
                .closed_seen
                .get(d.to)
                .copied()
                .flatten()
                .is_some_and(|seen| at + ACCEPT_SLACK >= seen);
            before_greeted || near_close
        });
        list.push(Owed {
            bytes: d.bytes,
            maybe: d.maybe || unsure || (cause.unread && d.to != cause.from),
            cause: cause.text.clone(),
            from: cause.from,
            extra: false,
        });
    }
    for c in closing {
        if let Some(done) = done.get_mut(c) {
            *done = true;
        }
    }
}

/// Cuts bytes into the protocol's messages, framing kept; a last incomplete one separately.
fn frames<'a>(protocol: &Protocol, bytes: &'a [u8]) -> (Vec<&'a [u8]>, &'a [u8]) {
    if matches!(protocol.framing(), Framing::Chunks) {
        return (Vec::new(), bytes);
    }
    let split = protocol.split(bytes);
    let mut start = 0;
    let mut out = Vec::with_capacity(split.messages.len());
    for m in &split.messages {
        out.push(&bytes[start..m.end]);
        start = m.end;
    }
    (out, &bytes[start..])
}

/// Compares what `client` received with what it is owed.
fn compare(protocol: &Protocol, client: &ClientReport, owed: &[Owed]) -> Result<(), String> {
    let expected: Vec<Frame<'_>> = owed_frames(protocol, owed).map(|(_, f)| f).collect();
    if matches!(protocol.framing(), Framing::Chunks) {
        return compare_bytes(client, &expected);
    }
    let (got, partial) = frames(protocol, &client.received);
    let mut j = 0;
    for (k, frame) in got.iter().enumerate() {
        loop {
            match expected.get(j) {
                Some((bytes, _, _)) if bytes == frame => {
                    j += 1;
                    break;
                }
                Some((_, true, _)) => j += 1,
                _ => return Err(unexpected(&expected, j, frame, k, &got)),
            }
        }
    }
    // A message cut short where the client stopped reading: the start of the next one.
    while !partial.is_empty() {
        match expected.get(j) {
            Some((bytes, _, _)) if bytes.starts_with(partial) => {
                if client.is_owed() {
                    return Err(format!(
                        "received only {} of {} ({})",
                        quote_short(partial),
                        quote_short(bytes),
                        expected[j].2
                    ));
                }
                j += 1;
                break;
            }
            Some((_, true, _)) => j += 1,
            _ => return Err(unexpected(&expected, j, partial, got.len(), &got)),
        }
    }
    if client.is_owed()
        && let Some((bytes, _, cause)) = expected[j..].iter().find(|(_, maybe, _)| !maybe)
    {
        return Err(format!(
            "{} never arrived (owed for {cause}); received {} message(s) in all",
            quote_short(bytes),
            got.len()
        ));
    }
    Ok(())
}

/// Says what is wrong with `frame`, the `k`th message received, where the model expected its
/// `j`th.
fn unexpected(
    expected: &[(&[u8], bool, &str)],
    j: usize,
    frame: &[u8],
    k: usize,
    got: &[&[u8]],
) -> String {
    let received = quote_short(frame);
    if let Some(later) = expected[j..].iter().position(|(b, _, _)| *b == frame) {
        let (missing, _, cause) = expected[j];
        let also_later = got[k..].contains(&missing);
        let what = if also_later {
            "out of order"
        } else {
            "missing"
        };
        let (_, _, its_cause) = expected[j + later];
        return format!(
            "message {} received {received} ({its_cause}) before {} ({cause}): {what}",
            k + 1,
            quote_short(missing)
        );
    }
    if let Some((_, _, cause)) = expected[..j].iter().rev().find(|(b, _, _)| *b == frame) {
        return format!(
            "message {} received {received} twice (owed once, for {cause})",
            k + 1
        );
    }
    // What was owed next is quoted (empty when nothing was): one bug, one signature.
    let next = expected.get(j).map_or(&[][..], |(next, _, _)| next);
    format!(
        "message {} received {received}, which the model never sent it (next owed: {})",
        k + 1,
        quote_short(next)
    )
}

/// A frame owed: its bytes, whether it may be missing, and its cause.
type Frame<'a> = (&'a [u8], bool, &'a str);

/// The owed messages cut into frames (one delivery may hold several, and end with an
/// incomplete one), each with the client that caused it.
fn owed_frames<'a>(
    protocol: &Protocol,
    owed: &'a [Owed],
) -> impl Iterator<Item = (usize, Frame<'a>)> {
    owed.iter().flat_map(move |o| {
        let (mut whole, rest) = frames(protocol, &o.bytes);
        if !rest.is_empty() {
            whole.push(rest);
        }
        whole
            .into_iter()
            .map(move |f| (o.from, (f, o.maybe, o.cause.as_str())))
    })
}

/// [`compare`] for a server order known only from the clients (real sockets): what each
/// client caused must reach this one in order, but what two clients caused may arrive
/// interleaved either way, since the server may have read their bytes in either order.
fn compare_per_sender(
    protocol: &Protocol,
    client: &ClientReport,
    owed: &[Owed],
) -> Result<(), String> {
    if matches!(protocol.framing(), Framing::Chunks) {
        return compare(protocol, client, owed);
    }
    // Per sender, the frames owed, in order.
    let mut queues: BTreeMap<usize, VecDeque<Frame<'_>>> = BTreeMap::new();
    for (from, frame) in owed_frames(protocol, owed) {
        queues.entry(from).or_default().push_back(frame);
    }
    let (got, partial) = frames(protocol, &client.received);
    'frames: for (k, frame) in got.iter().enumerate() {
        for queue in queues.values_mut() {
            // Skipping what may be missing, is this the next thing its sender caused here?
            let at = queue
                .iter()
                .position(|(b, maybe, _)| b == frame || !maybe)
                .filter(|&i| queue[i].0 == *frame);
            if let Some(i) = at {
                queue.drain(..=i);
                continue 'frames;
            }
        }
        return Err(format!(
            "message {} received {}, which the model never sent it (or not next from its sender)",
            k + 1,
            quote_short(frame)
        ));
    }
    if !partial.is_empty() {
        let fits = queues.values().any(|q| {
            q.iter()
                .find(|(b, maybe, _)| b.starts_with(partial) || !maybe)
                .is_some_and(|(b, _, _)| b.starts_with(partial))
        });
        if !fits || client.is_owed() {
            return Err(format!("received an incomplete {}", quote_short(partial)));
        }
    }
    if client.is_owed() {
        for queue in queues.values() {
            if let Some((bytes, _, cause)) = queue.iter().find(|(_, maybe, _)| !maybe) {
                return Err(format!(
                    "{} never arrived (owed for {cause}); received {} message(s) in all",
                    quote_short(bytes),
                    got.len()
                ));
            }
        }
    }
    Ok(())
}

/// An unframed protocol: the bytes received are a start of the owed bytes (all of them when
/// owed), messages that may be missing allowed to be missing.
fn compare_bytes(client: &ClientReport, expected: &[(&[u8], bool, &str)]) -> Result<(), String> {
    let mut rest: &[u8] = &client.received;
    for (bytes, maybe, cause) in expected {
        if rest.is_empty() {
            if client.is_owed() && !maybe {
                return Err(format!(
                    "{} never arrived (owed for {cause})",
                    quote_short(bytes)
                ));
            }
            return Ok(());
        }
        if let Some(after) = rest.strip_prefix(*bytes) {
            rest = after;
        } else if bytes.starts_with(rest) && !client.is_owed() {
            return Ok(());
        } else if !maybe {
            return Err(format!(
                "received {} where the model says {} ({cause})",
                quote_short(rest),
                quote_short(bytes)
            ));
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "received {}, which the model never sent it",
            quote_short(rest)
        ));
    }
    Ok(())
}

/// How far apart a real server's order may be from what the clients saw: it may have accepted
/// a client this much before the client's connect returned (a server that reads a batch of
/// sockets may accept one and only then read bytes another sent before it connected), and
/// closed one this much before the client saw the close.
const ACCEPT_SLACK: std::time::Duration = std::time::Duration::from_millis(250);

/// The server's side of a run over real sockets, as far as the clients show it: each
/// client's connect (taken [`ACCEPT_SLACK`] early), sends, shutdown and close at the times it
/// made them, and the server's close where the client saw it, in time order. Deliveries the
/// model makes to a client before it had read anything are only possible ones (see `feed`).
pub(crate) fn server_of_clients(clients: &[ClientReport]) -> Vec<ServerEvent> {
    use crate::world::EventKind;
    let mut events = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        for event in &client.timeline {
            let (kind, at) = match &event.kind {
                EventKind::Connected => (
                    ServerEventKind::Accepted,
                    Instant::ZERO
                        + event
                            .at
                            .saturating_since(Instant::ZERO)
                            .saturating_sub(ACCEPT_SLACK),
                ),
                EventKind::Sent(range) => (
                    ServerEventKind::Read(client.sent[range.clone()].to_vec()),
                    event.at,
                ),
                EventKind::Shutdown => (ServerEventKind::PeerClosed, event.at),
                EventKind::Closed | EventKind::Aborted | EventKind::Eof | EventKind::Reset => {
                    (ServerEventKind::Closed, event.at)
                }
                _ => continue,
            };
            events.push(ServerEvent {
                at,
                client: i,
                kind,
            });
        }
    }
    events.sort_by_key(|e| e.at);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceOptions;

    /// Every line goes to every other connected client; `QUIT` closes.
    #[derive(Default)]
    struct Broadcast {
        open: Vec<usize>,
    }

    impl Model for Broadcast {
        fn connected(&mut self, conn: usize, _out: &mut Deliveries) {
            self.open.push(conn);
        }
        fn message(&mut self, from: usize, payload: &[u8], out: &mut Deliveries) {
            for &to in self.open.iter().filter(|&&c| c != from) {
                out.send(to, [payload, b"\n"].concat());
            }
        }
        fn peer_closed(&mut self, conn: usize, _out: &mut Deliveries) {
            self.open.retain(|&c| c != conn);
        }
        fn closed(&mut self, conn: usize, _out: &mut Deliveries) {
            self.open.retain(|&c| c != conn);
        }
    }

    fn event(ms: u64, client: usize, kind: ServerEventKind) -> ServerEvent {
        ServerEvent {
            at: Instant::from_nanos(ms * 1_000_000),
            client,
            kind,
        }
    }

    /// Judges clients `a`, `b`, `c` that received these bytes, after the server accepted all
    /// three, then read `x` and `y` from `a` and `z` from `c`.
    fn judge(received: [&[u8]; 3]) -> Result<(), (String, String)> {
        let clients: Vec<ClientReport> = ["a", "b", "c"]
            .iter()
            .zip(received)
            .map(|(name, bytes)| {
                let mut c = ClientReport::new(*name);
                c.received = bytes.to_vec();
                c
            })
            .collect();
        let server = vec![
            event(0, 0, ServerEventKind::Accepted),
            event(0, 1, ServerEventKind::Accepted),
            event(0, 2, ServerEventKind::Accepted),
            event(1, 0, ServerEventKind::Read(b"x\ny\n".to_vec())),
            event(2, 2, ServerEventKind::Read(b"z\n".to_vec())),
        ];
        judge_broadcast(&clients, &server, true)
    }

    /// Judges `clients` by the broadcast model, the server's side being `server` (`exact`:
    /// the simulator's own record, or else what real sockets' clients show of it).
    fn judge_broadcast(
        clients: &[ClientReport],
        server: &[ServerEvent],
        exact: bool,
    ) -> Result<(), (String, String)> {
        let protocol = Protocol::lines();
        let options = ServiceOptions::default();
        let context = Context {
            protocol: &protocol,
            options: &options,
        };
        let view = RunView {
            clients,
            server,
            exact,
        };
        ModelOracle::new(|_| Broadcast::default()).judge_run(&view, &context)
    }

    #[test]
    fn every_way_a_message_goes_wrong_is_named() {
        assert_eq!(judge([b"z\n", b"x\ny\nz\n", b"x\ny\n"]), Ok(()));
        let fails = |received, client: &str, wanted: &str| {
            let (who, detail) = judge(received).unwrap_err();
            assert_eq!(who, client, "{detail}");
            assert!(detail.contains(wanted), "{detail}");
        };
        fails(
            [b"z\n", b"x\nz\n", b"x\ny\n"],
            "b",
            "received \"z\\n\" (client c's \"z\" at 2ms) before \"y\\n\" (client a's \"y\" at 1ms): missing",
        );
        fails(
            [b"z\n", b"y\nx\nz\n", b"x\ny\n"],
            "b",
            "before \"x\\n\" (client a's \"x\" at 1ms): out of order",
        );
        fails(
            [b"z\n", b"x\nx\n", b"x\ny\n"],
            "b",
            "received \"x\\n\" twice",
        );
        fails(
            [b"x\nz\n", b"x\ny\nz\n", b"x\ny\n"],
            "a",
            "received \"x\\n\", which the model never sent it (next owed: \"z\\n\")",
        );
        fails(
            [b"z\n", b"x\ny\n", b"x\ny\n"],
            "b",
            "\"z\\n\" never arrived (owed for client c's \"z\" at 2ms)",
        );
    }

    /// `b` and `c` connect, `c` shuts down its side at `shut` ms and `a` sends a line at 300
    /// ms; over real sockets `c` received `got`.
    fn judge_a_line_after_a_shutdown(shut: u64, got: &[u8]) -> Result<(), (String, String)> {
        use crate::world::EventKind;
        let ms = |n: u64| Instant::from_nanos(n * 1_000_000);
        let mut clients: Vec<ClientReport> =
            ["a", "b", "c"].into_iter().map(ClientReport::new).collect();
        for c in &mut clients {
            c.record(ms(0), EventKind::Connected);
        }
        clients[2].record(ms(shut), EventKind::Shutdown);
        clients[0].record_sent(ms(300), b"hi\n");
        clients[1].record_received(ms(301), b"hi\n");
        if !got.is_empty() {
            clients[2].record_received(ms(301), got);
        }
        judge_broadcast(&clients, &server_of_clients(&clients), false)
    }

    #[test]
    fn over_real_sockets_a_line_may_reach_a_client_that_shut_down_just_before_it() {
        // The server may have read c's end of stream after a's line: c was still there.
        assert_eq!(judge_a_line_after_a_shutdown(200, b"hi\n"), Ok(()));
        assert_eq!(judge_a_line_after_a_shutdown(200, b""), Ok(()));
        // Long before it, c had surely left.
        let (who, detail) = judge_a_line_after_a_shutdown(10, b"hi\n").unwrap_err();
        assert_eq!(who, "c");
        assert!(detail.contains("which the model never sent it"), "{detail}");
    }

    #[test]
    fn over_real_sockets_what_a_client_the_harness_cut_sent_may_never_have_been_read() {
        use crate::world::EventKind;
        let ms = |n: u64| Instant::from_nanos(n * 1_000_000);
        let judge = |unread: bool| {
            let mut clients: Vec<ClientReport> =
                ["a", "b", "c"].into_iter().map(ClientReport::new).collect();
            for c in &mut clients {
                c.record(ms(0), EventKind::Connected);
            }
            clients[2].record_sent(ms(100), b"hey\n");
            clients[0].record_received(ms(101), b"hey\n");
            clients[1].record_received(ms(101), b"hey\n");
            // a's line never reached the others: the harness aborted a's connection.
            clients[0].record_sent(ms(300), b"hi\n");
            clients[0].cut_unread_at = unread.then_some(Instant::ZERO);
            clients[0].disrupted = unread;
            judge_broadcast(&clients, &server_of_clients(&clients), false)
        };
        assert_eq!(judge(true), Ok(()));
        let (who, detail) = judge(false).unwrap_err();
        assert_eq!(who, "b");
        assert!(detail.contains("\"hi\\n\" never arrived"), "{detail}");
    }

    #[test]
    fn real_sockets_allow_what_two_clients_caused_to_interleave_either_way() {
        let mut b = ClientReport::new("b");
        b.received = b"z\nx\ny\n".to_vec();
        let owed = vec![
            Owed {
                bytes: b"x\n".to_vec(),
                maybe: false,
                cause: "a".into(),
                from: 0,
                extra: false,
            },
            Owed {
                bytes: b"y\n".to_vec(),
                maybe: false,
                cause: "a".into(),
                from: 0,
                extra: false,
            },
            Owed {
                bytes: b"z\n".to_vec(),
                maybe: false,
                cause: "c".into(),
                from: 2,
                extra: false,
            },
        ];
        let lines = Protocol::lines();
        assert!(compare(&lines, &b, &owed).is_err());
        assert_eq!(compare_per_sender(&lines, &b, &owed), Ok(()));
        // But one sender's messages keep their order.
        b.received = b"y\nx\nz\n".to_vec();
        assert!(compare_per_sender(&lines, &b, &owed).is_err());
    }
}
