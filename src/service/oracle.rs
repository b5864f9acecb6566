//! Oracles: from what a client sent, and when, what it must have received.
//!
//! An [`Oracle`] judges one client's [`ClientReport`]: its bytes both ways and its timeline.
//! It must hold under any segmentation the network chooses. It judges in two strengths: what
//! a client received must always be a *prefix* of something the service could have sent; a
//! client that was *owed* everything ([`ClientReport::is_owed`]: it neither closed nor was cut
//! off, and was reading at the end) must have received all of it.
//!
//! [`RequestResponse`] is the ready-made oracle for request/response protocols: every complete
//! request is answered, in order, by the model's reply; a message over the protocol's declared
//! limit gets the declared reply and a close; and a close the server starts on its own must be
//! justified by a deadline the protocol declares, never earlier than it. The other oracles here
//! are the reference models of the seed's servers.

use std::fmt;
use std::sync::Arc;

use super::ServiceOptions;
use super::protocol::{DeadlineKind, Framing, Protocol};
use crate::core::{GREETING, RESPONSE};
use crate::fault::MAX_DRAWN_DELAY;
use crate::text::{first_difference, human_duration, quote_short};
use crate::time::Instant;
use crate::world::{ClientReport, EventKind, ServerEvent};

/// What an oracle may consult besides the client's report.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The protocol description, as built from the options of the run.
    pub protocol: &'a Protocol,
    /// The service's options for the run.
    pub options: &'a ServiceOptions,
}

/// A whole run as an oracle sees it: every client's report, and what the server saw.
#[derive(Clone, Copy, Debug)]
pub struct RunView<'a> {
    /// Every client, in the run's order.
    pub clients: &'a [ClientReport],
    /// What the service was told, in the order it was told ([`crate::world::Run::server`]);
    /// over real sockets, the clients' connects, sends and closes in time order.
    pub server: &'a [ServerEvent],
    /// Whether `server` is the server's own order (the simulator's journal), or only the
    /// clients' view of it (real sockets), in which a server may have read two clients'
    /// bytes in the other order than they were sent.
    pub exact: bool,
}

impl<'a> RunView<'a> {
    /// A simulated run: the server's journal is its exact order.
    pub(crate) fn of_run(run: &'a crate::world::Run) -> Self {
        RunView {
            clients: &run.clients,
            server: &run.server,
            exact: true,
        }
    }
}

/// Judges one client: `Ok(())`, or what is wrong with what it received; or the whole run.
///
/// Any `Fn(&ClientReport) -> Result<(), String>` is an oracle.
pub trait Oracle: Send + Sync {
    /// Judges `client`.
    fn judge(&self, client: &ClientReport, context: &Context<'_>) -> Result<(), String>;

    /// Judges the whole run: `Ok(())`, or the client something is wrong with and what. By
    /// default, [`Oracle::judge`] of each client in turn.
    fn judge_run(&self, run: &RunView<'_>, context: &Context<'_>) -> Result<(), (String, String)> {
        for client in run.clients {
            self.judge(client, context)
                .map_err(|detail| (client.name.clone(), detail))?;
        }
        Ok(())
    }

    /// Whether [`Oracle::judge_run`] reads [`RunView::server`], which the simulator then
    /// keeps (it costs a copy of every byte read).
    fn needs_server(&self) -> bool {
        false
    }

    /// For a campaign's reach: the messages one client caused for another in this run, and
    /// how many of them arrived (`None` for an oracle that judges clients alone).
    fn deliveries(&self, run: &RunView<'_>, context: &Context<'_>) -> Option<(u64, u64)> {
        let _ = (run, context);
        None
    }
}

impl<F> Oracle for F
where
    F: Fn(&ClientReport) -> Result<(), String> + Send + Sync,
{
    fn judge(&self, client: &ClientReport, _context: &Context<'_>) -> Result<(), String> {
        self(client)
    }
}

fn show(bytes: &[u8]) -> String {
    quote_short(bytes)
}

/// `received` is a prefix of `expected`, and all of it when `owed`.
pub fn prefix_check(expected: &[u8], received: &[u8], owed: bool) -> Result<(), String> {
    if !expected.starts_with(received) {
        let at = first_difference(received, expected);
        return Err(format!(
            "received {} but the model says {} (first difference at byte {at})",
            show(received),
            show(expected)
        ));
    }
    if owed && received.len() < expected.len() {
        return Err(format!(
            "received {} of {} bytes owed: missing {}",
            received.len(),
            expected.len(),
            show(&expected[received.len()..])
        ));
    }
    Ok(())
}

/// The oracle of a service that only greets: the client receives (a prefix of) the
/// greeting, all of it when owed.
#[derive(Clone, Debug)]
pub struct Greeting(pub Vec<u8>);

impl Oracle for Greeting {
    fn judge(&self, client: &ClientReport, _context: &Context<'_>) -> Result<(), String> {
        prefix_check(&self.0, &client.received, client.is_owed())
    }
}

/// Checks that the client's bytes start with (a prefix of) the greeting, all of it when
/// owed, and returns what follows it.
fn after_greeting(client: &ClientReport, owed: bool) -> Result<&[u8], String> {
    let got = &client.received;
    let greeting = &got[..got.len().min(GREETING.len())];
    if greeting != &GREETING[..greeting.len()] {
        return Err(format!(
            "expected the greeting first, received {}",
            show(got)
        ));
    }
    if owed && got.len() < GREETING.len() {
        return Err(format!("greeting missing: received {}", show(got)));
    }
    Ok(&got[greeting.len()..])
}

/// The model of seed server 3: the greeting, then `response` per chunk read, so at most one
/// answer per byte sent and at least one when anything was sent.
#[derive(Clone, Copy, Debug)]
pub struct AckModel;

impl Oracle for AckModel {
    fn judge(&self, client: &ClientReport, _context: &Context<'_>) -> Result<(), String> {
        let owed = client.is_owed();
        let rest = after_greeting(client, owed)?;
        let whole = rest.len() / RESPONSE.len();
        for (i, chunk) in rest.chunks(RESPONSE.len()).enumerate() {
            if chunk != &RESPONSE[..chunk.len()] {
                return Err(format!(
                    "answer {} is {} instead of {}",
                    i + 1,
                    show(chunk),
                    show(RESPONSE)
                ));
            }
        }
        if whole > client.sent.len() {
            return Err(format!(
                "{whole} answers for {} bytes sent: more answers than chunks",
                client.sent.len()
            ));
        }
        if owed && !client.sent.is_empty() && (whole == 0 || rest.len() % RESPONSE.len() != 0) {
            return Err(format!(
                "sent {} bytes but received {} after the greeting",
                client.sent.len(),
                show(rest)
            ));
        }
        Ok(())
    }
}

/// The model of seed server 4 (fixed): the greeting, then every chunk read echoed with
/// `response`, in order. Generated payloads never contain the letter `r`, so the markers in
/// the stream are unambiguous and the model can recover the chunks the server read.
#[derive(Clone, Copy, Debug)]
pub struct EchoModel;

impl Oracle for EchoModel {
    fn judge(&self, client: &ClientReport, _context: &Context<'_>) -> Result<(), String> {
        let owed = client.is_owed();
        let mut rest = after_greeting(client, owed)?;
        let sent = &client.sent;
        let mut consumed = 0;
        while !rest.is_empty() {
            match find(rest, RESPONSE) {
                Some(at) => {
                    let chunk = &rest[..at];
                    if chunk.is_empty() {
                        return Err(format!(
                            "an answer with no chunk before `response` after {consumed} echoed bytes"
                        ));
                    }
                    if !sent[consumed..].starts_with(chunk) {
                        return Err(format!(
                            "echoed {} where the stream sent continues with {} (after {consumed} bytes): answers out of order or altered",
                            show(chunk),
                            show(&sent[consumed..(consumed + chunk.len()).min(sent.len())])
                        ));
                    }
                    consumed += chunk.len();
                    rest = &rest[at + RESPONSE.len()..];
                }
                None => {
                    // A partial answer in flight when the client stopped: chunk and marker.
                    let (chunk, marker) = split_partial(rest);
                    if !sent[consumed..].starts_with(chunk) || !RESPONSE.starts_with(marker) {
                        return Err(format!(
                            "a partial answer {} does not fit the stream",
                            show(rest)
                        ));
                    }
                    if owed {
                        return Err(format!("answer cut short: {}", show(rest)));
                    }
                    consumed += chunk.len();
                    rest = &[];
                }
            }
        }
        if owed && consumed < sent.len() {
            return Err(format!(
                "{} of {} bytes sent were echoed: missing the answer to {}",
                consumed,
                sent.len(),
                show(&sent[consumed..])
            ));
        }
        Ok(())
    }
}

/// Splits a trailing partial answer into the echoed chunk and the start of `response`.
fn split_partial(rest: &[u8]) -> (&[u8], &[u8]) {
    for cut in (0..=rest.len()).rev() {
        let tail = &rest[cut..];
        if RESPONSE.starts_with(tail) && !tail.is_empty() && tail[0] == RESPONSE[0] {
            return (&rest[..cut], tail);
        }
    }
    (rest, &[])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What a request/response model says the service does with one complete request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Send these bytes (possibly none) and carry on.
    Answer(Vec<u8>),
    /// Send these bytes, then close the connection.
    Close(Vec<u8>),
}

impl Reply {
    /// Send `bytes` and carry on.
    pub fn answer(bytes: impl Into<Vec<u8>>) -> Self {
        Reply::Answer(bytes.into())
    }

    /// Send nothing and carry on.
    pub fn nothing() -> Self {
        Reply::Answer(Vec::new())
    }

    /// Send `bytes`, then close.
    pub fn close(bytes: impl Into<Vec<u8>>) -> Self {
        Reply::Close(bytes.into())
    }
}

type Answer = dyn Fn(&mut Box<dyn std::any::Any + Send>, &[u8]) -> Reply + Send + Sync;
type Init = dyn Fn() -> Box<dyn std::any::Any + Send> + Send + Sync;

/// The ready-made oracle for request/response protocols, over the service's
/// [`Protocol`]: framing, greeting, message limit and deadlines.
///
/// Per client, the model's replies to the complete requests the client sent, in order, after
/// the greeting, make the expected stream. What the client received must be a prefix of it
/// (all of it when owed); a message over the declared limit is answered with the declared
/// reply and must be followed by a close. When the server closes (or sends a deadline's reply)
/// on its own, some declared deadline must explain it at that moment on the client's
/// timeline: an idle timeout cannot fire sooner than its length after the last byte the client
/// sent (answered or not: output does not re-arm it), a request timeout sooner than its length after the first byte of an
/// incomplete request, a session limit sooner than its length after the connect.
///
/// The model gets each request's payload, framing removed (for line protocols, without the
/// `\n`; a `\r` before it stays).
#[derive(Clone)]
pub struct RequestResponse {
    init: Arc<Init>,
    answer: Arc<Answer>,
}

impl fmt::Debug for RequestResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestResponse")
    }
}

impl RequestResponse {
    /// A stateless model: each request's reply depends on the request alone.
    pub fn new(answer: impl Fn(&[u8]) -> Reply + Send + Sync + 'static) -> Self {
        RequestResponse {
            init: Arc::new(|| Box::new(())),
            answer: Arc::new(move |_, request| answer(request)),
        }
    }

    /// A model with per-connection state: `init` makes it for each client, `answer` replies
    /// to each request in order and may change it.
    pub fn stateful<T: Send + 'static>(
        init: impl Fn() -> T + Send + Sync + 'static,
        answer: impl Fn(&mut T, &[u8]) -> Reply + Send + Sync + 'static,
    ) -> Self {
        RequestResponse {
            init: Arc::new(move || Box::new(init())),
            answer: Arc::new(move |state, request| match state.downcast_mut::<T>() {
                Some(state) => answer(state, request),
                None => unreachable!("the state is made by `init` of the same model"),
            }),
        }
    }
}

/// The expected stream: its bytes, where each answered request's reply ends, and whether
/// the model closes after the last.
struct Expected {
    bytes: Vec<u8>,
    /// `(end of the reply in bytes, end of the request in the sent stream)`, from the
    /// greeting (request end 0) on.
    boundaries: Vec<(usize, usize)>,
    /// Whether the model (or the message limit) says the server closes after `bytes`.
    closes: bool,
}

impl RequestResponse {
    /// The expected stream; with `strip_endings`, the part of a longer ending that sits before
    /// the delimiter (the `\r` of `\r\n`) does not count toward the message limit.
    fn expected(
        &self,
        client: &ClientReport,
        protocol: &Protocol,
        strip_endings: bool,
    ) -> Expected {
        let mut state = (self.init)();
        let sent = &client.sent;
        let split = protocol.split(sent);
        let limit = protocol.get_max_message();
        let mut bytes = protocol.get_greeting().to_vec();
        let mut boundaries = vec![(bytes.len(), 0)];
        let mut closes = false;
        for message in &split.messages {
            let payload = &sent[message.payload.clone()];
            if let Some((max, reply)) = limit
                && counted(protocol, payload, strip_endings) > max
            {
                bytes.extend_from_slice(reply);
                closes = true;
                break;
            }
            match (self.answer)(&mut state, payload) {
                Reply::Answer(answer) => bytes.extend_from_slice(&answer),
                Reply::Close(answer) => {
                    bytes.extend_from_slice(&answer);
                    closes = true;
                }
            }
            boundaries.push((bytes.len(), message.end));
            if closes {
                break;
            }
        }
        if let Some(start) = split.partial.filter(|_| !closes) {
            let seen = protocol.partial_payload_len(sent, start);
            // What may be the start of an ending is not yet known to be content.
            let seen = seen - ending_prefix(protocol, &sent[start..], strip_endings);
            if let Some((max, reply)) = limit
                && seen > max
            {
                bytes.extend_from_slice(reply);
                closes = true;
            } else if protocol.get_answers_unterminated() && (client.shut || client.closed) {
                match (self.answer)(&mut state, &sent[start..]) {
                    Reply::Answer(answer) => bytes.extend_from_slice(&answer),
                    Reply::Close(answer) => {
                        bytes.extend_from_slice(&answer);
                        closes = true;
                    }
                }
                boundaries.push((bytes.len(), sent.len()));
            }
        }
        Expected {
            bytes,
            boundaries,
            closes,
        }
    }
}

/// Why the server may have closed on its own, with the client seeing the end at `end` and an
/// incomplete request starting at `partial`; `Err` names the deadlines that cannot explain it.
fn justify(
    client: &ClientReport,
    protocol: &Protocol,
    partial: Option<usize>,
    end: Instant,
    reply: Option<&[u8]>,
) -> Result<(), String> {
    let connected = client.connected_at().unwrap_or(Instant::ZERO);
    // What a client that had stopped reading reads when it resumes may have waited since it
    // stopped: the server may have decided that early, before bytes sent after then.
    let decided = {
        // The last pause before the end, if reading resumed right when the end was seen.
        let (mut pause, mut resumed) = (None, None);
        for e in client.timeline.iter().take_while(|e| e.at <= end) {
            match e.kind {
                EventKind::Paused => (pause, resumed) = (Some(e.at), None),
                EventKind::Resumed => resumed = Some(e.at),
                _ => {}
            }
        }
        match (pause, resumed) {
            (Some(p), Some(r)) if r == end => p,
            _ => end,
        }
    };
    let mut reasons = Vec::new();
    for deadline in protocol.get_deadlines() {
        if let Some(reply) = reply
            && deadline.get_reply() != reply
        {
            continue;
        }
        let after = deadline.after();
        let (from, what) = match deadline.kind() {
            DeadlineKind::Idle => {
                // Any byte received re-arms an idle timer, answered or not; output does not.
                // A byte sent at the server's decision, or up to the simulator's longest
                // delay before it, may still have been on its way: it re-armed nothing yet.
                let settled = |at: Instant| at + MAX_DRAWN_DELAY < decided;
                let last = client
                    .timeline
                    .iter()
                    .filter(|e| matches!(e.kind, EventKind::Sent(_)) && settled(e.at))
                    .map(|e| e.at)
                    .max()
                    .unwrap_or(connected)
                    .max(connected);
                (last, "the last byte the client sent")
            }
            DeadlineKind::Incomplete => match partial.and_then(|p| client.sent_at(p)) {
                Some(first) => (first, "the first byte of the incomplete request"),
                None => {
                    reasons.push(format!(
                        "no request was incomplete, so the request timeout ({}) cannot explain it",
                        human_duration(after)
                    ));
                    continue;
                }
            },
            DeadlineKind::Session => (connected, "the connect"),
        };
        if end.saturating_since(from) >= after {
            return Ok(());
        }
        reasons.push(format!(
            "{:?} deadline {}: only {} after {what}",
            deadline.kind(),
            human_duration(after),
            human_duration(end.saturating_since(from))
        ));
    }
    if reasons.is_empty() {
        reasons.push("the protocol declares no deadline".to_string());
    }
    Err(reasons.join("; "))
}

/// The bytes of a payload that count toward the message limit: all, or without the part of
/// a longer ending that stands before the delimiter (`\r` of `\r\n`) when `strip`.
fn counted(protocol: &Protocol, payload: &[u8], strip: bool) -> usize {
    payload.len() - ending_prefix(protocol, payload, strip)
}

/// How many bytes at the end of `bytes` are the part of one of the protocol's endings that
/// stands before its delimiter (0 unless `strip`).
fn ending_prefix(protocol: &Protocol, bytes: &[u8], strip: bool) -> usize {
    let Framing::Delimited(delimiter) = protocol.framing() else {
        return 0;
    };
    if !strip {
        return 0;
    }
    protocol
        .get_endings()
        .iter()
        .filter_map(|e| e.strip_suffix(delimiter.as_slice()))
        .filter(|head| !head.is_empty() && bytes.ends_with(head))
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

impl Oracle for RequestResponse {
    /// Judged as the limit counts the whole line; where an ending is longer than the
    /// delimiter (`\r\n` with `\n`), a service that leaves the `\r` out of its limit is as
    /// right, so that reading is tried too.
    fn judge(&self, client: &ClientReport, context: &Context<'_>) -> Result<(), String> {
        let first = self.judge_counting(client, context.protocol, false);
        if first.is_err()
            && context.protocol.get_max_message().is_some()
            && self.judge_counting(client, context.protocol, true).is_ok()
        {
            return Ok(());
        }
        first
    }
}

impl RequestResponse {
    fn judge_counting(
        &self,
        client: &ClientReport,
        protocol: &Protocol,
        strip_endings: bool,
    ) -> Result<(), String> {
        let expected = self.expected(client, protocol, strip_endings);
        let received = &client.received;
        let owed = client.is_owed();
        if expected.bytes.starts_with(received) {
            let answered = expected
                .boundaries
                .iter()
                .rev()
                .find(|(reply_end, _)| *reply_end <= received.len());
            if client.saw_eof {
                if received.len() == expected.bytes.len() && expected.closes {
                    return Ok(());
                }
                let end = client.ended_at().unwrap_or(Instant::ZERO);
                // The client's own FIN, sent before the close, explains it once every answer
                // owed has left; a close with answers still owed is one bug however far the
                // answers got, so it is worded once.
                let fin_first = client
                    .timeline
                    .iter()
                    .any(|e| e.kind == EventKind::Shutdown && e.at <= end);
                let unsent = || {
                    format!(
                        "the server closed the connection at {end} after the client shut down its side, without sending all it owed: missing {}",
                        show(&expected.bytes[received.len()..])
                    )
                };
                // The server closed on its own: it must be between answers, and a deadline
                // must explain it.
                let Some(&(reply_end, request_end)) =
                    answered.filter(|(reply_end, _)| *reply_end == received.len())
                else {
                    if fin_first {
                        return Err(unsent());
                    }
                    return Err(format!(
                        "the server closed in the middle of an answer: received {}, the model says {}",
                        show(received),
                        show(&expected.bytes)
                    ));
                };
                let owed_more = reply_end < expected.bytes.len();
                if fin_first && !owed_more {
                    return Ok(());
                }
                let unanswered = (request_end < client.sent.len()).then_some(request_end);
                justify(client, protocol, unanswered, end, None).map_err(|why| {
                    if fin_first {
                        return unsent();
                    }
                    let answers = expected
                        .boundaries
                        .iter()
                        .filter(|(r, _)| *r <= reply_end)
                        .count()
                        - 1;
                    format!(
                        "the server closed the connection at {end} after {answers} answers, before it had to: {why}"
                    )
                })?;
                return Ok(());
            }
            if owed && received.len() < expected.bytes.len() {
                return Err(format!(
                    "received {} of {} bytes owed: missing {}",
                    received.len(),
                    expected.bytes.len(),
                    show(&expected.bytes[received.len()..])
                ));
            }
            if owed && expected.closes && !client.saw_eof && !client.saw_reset {
                return Err(
                    "the server answered a message over the limit but did not close".to_string(),
                );
            }
            return Ok(());
        }
        // Not a prefix: a deadline's reply may stand at an answer boundary.
        for &(reply_end, request_end) in expected.boundaries.iter().rev() {
            if reply_end > received.len() || received[..reply_end] != expected.bytes[..reply_end] {
                continue;
            }
            let rest = &received[reply_end..];
            for deadline in protocol.get_deadlines() {
                let reply = deadline.get_reply();
                if reply.is_empty() || (!reply.starts_with(rest) && !rest.starts_with(reply)) {
                    continue;
                }
                if rest.len() > reply.len() {
                    return Err(format!(
                        "received {} after the deadline's reply {}",
                        show(&rest[reply.len()..]),
                        show(reply)
                    ));
                }
                let at = client.received_at(reply_end).unwrap_or(Instant::ZERO);
                let unanswered = (request_end < client.sent.len()).then_some(request_end);
                return justify(client, protocol, unanswered, at, Some(reply)).map_err(|why| {
                    format!(
                        "the server sent {} at {at}, before any deadline: {why}",
                        show(reply)
                    )
                });
            }
        }
        let at = first_difference(received, &expected.bytes);
        Err(format!(
            "received {} but the model says {} (first difference at byte {at})",
            show(received),
            show(&expected.bytes)
        ))
    }
}

/// The `lines` service's model: each line `L` answered with `Lresponse\n`.
pub fn lines_model() -> RequestResponse {
    RequestResponse::new(|line| {
        let mut answer = line.to_vec();
        answer.extend_from_slice(RESPONSE);
        answer.push(b'\n');
        Reply::answer(answer)
    })
}

/// Whether the client's timeline shows it idle (sending nothing) for at least `span` at
/// some point before `until`: a helper for oracles of services with idle timeouts.
pub fn was_idle_for(client: &ClientReport, span: std::time::Duration, until: Instant) -> bool {
    let mut last = client.connected_at().unwrap_or(Instant::ZERO);
    for event in &client.timeline {
        if event.at > until {
            break;
        }
        if let EventKind::Sent(_) = event.kind {
            if event.at.saturating_since(last) >= span {
                return true;
            }
            last = event.at;
        }
    }
    until.saturating_since(last) >= span
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::protocol::Deadline;
    use std::time::Duration;

    fn ms(n: u64) -> Instant {
        Instant::from_start(Duration::from_millis(n))
    }

    fn judge(
        oracle: &dyn Oracle,
        protocol: &Protocol,
        client: &ClientReport,
    ) -> Result<(), String> {
        let options = ServiceOptions::default();
        oracle.judge(
            client,
            &Context {
                protocol,
                options: &options,
            },
        )
    }

    fn report(sent: &[u8], received: &[u8]) -> ClientReport {
        ClientReport::exchange("a", sent, received)
    }

    #[test]
    fn echo_accepts_any_chunking_in_order_and_rejects_lifo_and_loss() {
        let p = Protocol::chunks();
        assert_eq!(
            judge(
                &EchoModel,
                &p,
                &report(b"abcd", b"helloabresponsecdresponse")
            ),
            Ok(())
        );
        assert_eq!(
            judge(&EchoModel, &p, &report(b"abcd", b"helloabcdresponse")),
            Ok(())
        );
        assert!(
            judge(
                &EchoModel,
                &p,
                &report(b"abcd", b"hellocdresponseabresponse")
            )
            .is_err()
        );
        assert!(judge(&EchoModel, &p, &report(b"abcd", b"helloabresponse")).is_err());
        let mut closed = report(b"abcd", b"helloabresponse");
        closed.closed = true;
        assert_eq!(judge(&EchoModel, &p, &closed), Ok(()));
    }

    #[test]
    fn ack_counts_answers_against_bytes() {
        let p = Protocol::chunks();
        assert_eq!(
            judge(&AckModel, &p, &report(b"ab", b"helloresponse")),
            Ok(())
        );
        assert!(judge(&AckModel, &p, &report(b"a", b"helloresponseresponse")).is_err());
        assert!(judge(&AckModel, &p, &report(b"a", b"hello")).is_err());
    }

    fn lines() -> Protocol {
        Protocol::lines()
            .greeting(b"hello\n".to_vec())
            .max_message(4, b"too long\n".to_vec())
            .deadline(Deadline::idle(Duration::from_millis(150)))
            .deadline(Deadline::incomplete(Duration::from_secs(1)).reply(b"timed out\n".to_vec()))
    }

    #[test]
    fn request_response_is_exact_and_owed_answers_must_arrive() {
        let p = lines();
        let model = lines_model();
        assert_eq!(
            judge(&model, &p, &report(b"ab\ncd", b"hello\nabresponse\n")),
            Ok(())
        );
        assert!(judge(&model, &p, &report(b"ab\n", b"hello\n")).is_err());
        assert!(judge(&model, &p, &report(b"ab\n", b"hello\nxx")).is_err());
    }

    #[test]
    fn a_message_over_the_limit_gets_its_reply_and_a_close() {
        let p = lines();
        let model = lines_model();
        let mut c = report(b"abcde\n", b"hello\ntoo long\n");
        c.record(ms(1), EventKind::Eof);
        assert_eq!(judge(&model, &p, &c), Ok(()));
        // At the limit: answered.
        assert!(judge(&model, &p, &report(b"abcd\n", b"hello\ntoo long\n")).is_err());
        // Over the limit but the server did not close.
        assert!(judge(&model, &p, &report(b"abcde\n", b"hello\ntoo long\n")).is_err());
    }

    #[test]
    fn an_idle_close_must_come_no_sooner_than_the_idle_timeout() {
        let p = lines();
        let model = lines_model();
        let mut c = ClientReport::new("a");
        c.record(ms(0), EventKind::Connected);
        c.record_sent(ms(10), b"ab\n");
        c.record_received(ms(11), b"hello\nabresponse\n");
        c.record_sent(ms(100), b"cd\n");
        // Closed at 150 ms from the connect: 140 ms after the last answered request's byte
        // and the answer to "cd" is missing.
        c.record(ms(150), EventKind::Eof);
        let e = judge(&model, &p, &c).unwrap_err();
        assert!(e.contains("before it had to"), "{e}");
        // The same close 150 ms after the last request: justified.
        let mut ok = ClientReport::new("a");
        ok.record(ms(0), EventKind::Connected);
        ok.record_sent(ms(10), b"ab\n");
        ok.record_received(ms(11), b"hello\nabresponse\n");
        ok.record(ms(160), EventKind::Eof);
        assert_eq!(judge(&model, &p, &ok), Ok(()));
    }

    #[test]
    fn a_deadline_reply_must_be_explained_by_its_deadline() {
        let p = lines();
        let model = lines_model();
        let mut c = ClientReport::new("a");
        c.record(ms(0), EventKind::Connected);
        c.record_sent(ms(0), b"slo");
        c.record_received(ms(1000), b"hello\ntimed out\n");
        c.record(ms(1000), EventKind::Eof);
        assert_eq!(judge(&model, &p, &c), Ok(()));
        let mut early = ClientReport::new("a");
        early.record(ms(0), EventKind::Connected);
        early.record_sent(ms(0), b"slo");
        early.record_received(ms(500), b"hello\ntimed out\n");
        early.record(ms(500), EventKind::Eof);
        assert!(judge(&model, &p, &early).is_err());
    }

    #[test]
    fn stateful_models_keep_state_per_client() {
        let model = RequestResponse::stateful(
            || 0u32,
            |count, _| {
                *count += 1;
                Reply::answer(count.to_string())
            },
        );
        let p = Protocol::lines();
        assert_eq!(judge(&model, &p, &report(b"a\nb\n", b"12")), Ok(()));
        assert_eq!(judge(&model, &p, &report(b"a\n", b"1")), Ok(()));
    }

    #[test]
    fn an_unterminated_last_message_is_owed_an_answer_where_the_protocol_says_so() {
        let p = Protocol::lines().answers_unterminated(true);
        let model = lines_model();
        let mut c = report(b"ab", b"");
        c.record(ms(0), EventKind::Shutdown);
        assert!(judge(&model, &p, &c).is_err());
        let mut c = report(b"ab", b"abresponse\n");
        c.record(ms(0), EventKind::Shutdown);
        c.record(ms(1), EventKind::Eof);
        assert_eq!(judge(&model, &p, &c), Ok(()));
    }

    #[test]
    fn idle_spans_come_from_the_timeline() {
        let mut c = ClientReport::new("a");
        c.record(ms(0), EventKind::Connected);
        c.record_sent(ms(50), b"x");
        c.record_sent(ms(120), b"y");
        assert!(!was_idle_for(&c, Duration::from_millis(100), ms(150)));
        assert!(was_idle_for(&c, Duration::from_millis(100), ms(220)));
    }
}
