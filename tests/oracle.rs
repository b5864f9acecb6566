//! The ready-made `RequestResponse` oracle is exact: no false alarm on a correct line service
//! whose limit leaves the `\r` of `\r\n` out, and an idle timer that output re-arms is caught.
//! The protocol description they are judged by reads back each setting it was given.

use std::collections::BTreeMap;
use std::time::Duration;

use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::service::{Deadline, Protocol, Reply, RequestResponse, ServiceDescriptor};
use muxsim::{Campaign, Instant};

const LIMIT: usize = 32;
const IDLE: Duration = Duration::from_millis(150);
const TOO_LONG: &[u8] = b"ERR too long\r\n";
const BYE: &[u8] = b"ERR idle\r\n";

/// A line service: each line `L` (its `\r\n` or `\n` removed) is answered `L ok\r\n`; a line
/// of more than 32 bytes, not counting the `\r` of its `\r\n`, gets `ERR too long` and a close;
/// a connection idle for 150 ms gets `ERR idle` and a close.
struct Lines {
    /// The idle timer is re-armed only when an answer is sent (the bug), not on input.
    rearm_on_output: bool,
    conns: BTreeMap<ConnId, (Vec<u8>, Instant)>,
    out: Outbox,
}

impl Lines {
    fn refuse(&mut self, conn: ConnId) {
        self.out.send(conn, TOO_LONG);
        self.out.close(conn);
        self.conns.remove(&conn);
    }
}

impl Service for Lines {
    fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.conns.insert(conn, (Vec::new(), now + IDLE));
    }
    fn handle_received(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some((partial, due)) = self.conns.get_mut(&conn) else {
            return;
        };
        if !self.rearm_on_output {
            *due = now + IDLE;
        }
        partial.extend_from_slice(bytes);
        let mut answers = Vec::new();
        while let Some(at) = partial.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = partial.drain(..=at).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            answers.push(line);
        }
        let rest = partial.strip_suffix(b"\r").unwrap_or(partial).len();
        for line in answers {
            if line.len() > LIMIT {
                return self.refuse(conn);
            }
            self.out.send(conn, [&line[..], b" ok\r\n"].concat());
            if self.rearm_on_output
                && let Some((_, due)) = self.conns.get_mut(&conn)
            {
                *due = now + IDLE;
            }
        }
        if rest > LIMIT {
            self.refuse(conn);
        }
    }
    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        self.out.close(conn);
        self.conns.remove(&conn);
    }
    fn handle_closed(&mut self, _now: Instant, conn: ConnId, _reason: CloseReason) {
        self.conns.remove(&conn);
    }
    fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(c, _)| *c)
            .collect();
        for conn in due {
            self.out.send(conn, BYE);
            self.out.close(conn);
            self.conns.remove(&conn);
        }
    }
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.conns.values().map(|(_, at)| *at).min()
    }
    fn tracked_connections(&self) -> usize {
        self.conns.len()
    }
}

fn descriptor(rearm_on_output: bool) -> ServiceDescriptor {
    let protocol = Protocol::lines()
        .endings([&b"\r\n"[..]])
        .alphabet(b"ab ".to_vec())
        .max_message(LIMIT, TOO_LONG)
        .deadline(Deadline::idle(IDLE).reply(BYE))
        .clients(2);
    let model = RequestResponse::new(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Reply::answer([line, b" ok\r\n"].concat())
    });
    ServiceDescriptor::new("crlf-lines", move |_| Lines {
        rearm_on_output,
        conns: BTreeMap::new(),
        out: Outbox::default(),
    })
    .protocol(protocol)
    .oracle(model)
}

#[test]
fn a_limit_without_the_cr_of_crlf_raises_no_false_alarm() {
    let report = Campaign::new(descriptor(false))
        .seeds(0, 3_000)
        .jobs(2)
        .run();
    assert!(report.is_clean(), "{report}");
    // The campaign did send lines at the limit, where the two readings part.
    let reach = report.reach().to_string();
    assert!(
        reach.contains("limit 32:") && !reach.contains(" 0 at,"),
        "{reach}"
    );
}

#[test]
fn an_idle_timer_that_output_rearms_is_caught() {
    let report = Campaign::new(descriptor(true))
        .seeds(0, 3_000)
        .jobs(2)
        .run();
    assert!(!report.is_clean(), "{report}");
    let example = &report.buckets()[0].example();
    assert!(
        example
            .failure()
            .to_string()
            .contains("the last byte the client sent"),
        "{report}"
    );
}

#[test]
fn a_protocol_reads_back_each_setting_under_the_name_that_set_it() {
    let protocol = Protocol::lines()
        .greeting(&b"HELLO\r\n"[..])
        .alphabet(b"ab ".to_vec())
        .token(&b"GET "[..])
        .endings([&b"\r\n"[..]])
        .max_message(LIMIT, TOO_LONG)
        .deadline(Deadline::idle(IDLE).reply(BYE))
        .ends_mid_message(false)
        .answers_unterminated(true)
        .clients(5)
        .churn(2);
    assert_eq!(protocol.get_greeting(), b"HELLO\r\n");
    assert_eq!(protocol.get_alphabet(), b"ab ");
    assert_eq!(protocol.get_tokens(), [b"GET ".to_vec()]);
    assert_eq!(protocol.get_endings(), [b"\r\n".to_vec()]);
    assert_eq!(protocol.get_max_message(), Some((LIMIT, TOO_LONG)));
    let deadlines = protocol.get_deadlines();
    assert_eq!(deadlines.len(), 1);
    assert_eq!(
        (deadlines[0].after(), deadlines[0].get_reply()),
        (IDLE, BYE)
    );
    assert!(!protocol.get_ends_mid_message());
    assert!(protocol.get_answers_unterminated());
    assert_eq!((protocol.get_clients(), protocol.get_churn()), (5, 2));
    // Left unset, each reads back its default.
    let plain = Protocol::lines();
    assert_eq!(plain.get_greeting(), b"");
    assert_eq!(plain.get_max_message(), None);
    assert!(plain.get_ends_mid_message());
    assert!(!plain.get_answers_unterminated());
    assert_eq!((plain.get_clients(), plain.get_churn()), (3, 0));
}
