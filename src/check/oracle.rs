//! Reference models: from what a client sent, what it must have received.
//!
//! Each model holds under any segmentation the network chooses. It judges a client's bytes
//! in two strengths: every client's bytes must be a *prefix* of something the service could
//! have sent; a client that was *owed* everything (it neither closed nor was cut off by a
//! fault) must have received all of it by the end of the run.
//!
//! Generated payloads never contain the letter `r`, so `response` markers in an echo stream
//! are unambiguous and the echo model can recover the chunks the server read.

use crate::core::lines::{DEFAULT_MAX_LINE, Lines};
use crate::core::{GREETING, RESPONSE};
use crate::world::ClientReport;

/// What went wrong with a client's bytes.
pub type Violation = String;

/// Whether the client was owed every answer: it did not close or reset itself and no fault
/// cut it off.
pub fn is_owed(client: &ClientReport) -> bool {
    !client.closed && !client.disrupted && !client.saw_reset
}

/// Judges one client's bytes for the named service. `None` for a service without a model.
pub fn judge(
    service: &str,
    client: &ClientReport,
    max_line: Option<usize>,
) -> Option<Result<(), Violation>> {
    let owed = is_owed(client);
    Some(match service {
        "greet" | "sink" => fixed_answer(GREETING, client, owed),
        "ack" => ack(client, owed),
        "echo" | "seed4-literal" => echo(client, owed),
        "lines" => lines(client, owed, max_line.unwrap_or(DEFAULT_MAX_LINE)),
        _ => return None,
    })
}

fn show(bytes: &[u8]) -> String {
    crate::transcript::quote_short(bytes)
}

fn prefix_check(expected: &[u8], client: &ClientReport, owed: bool) -> Result<(), Violation> {
    let got = &client.received;
    if !expected.starts_with(got) {
        let at = got
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(got.len()));
        return Err(format!(
            "received {} but the reference model says {} (first difference at byte {at})",
            show(got),
            show(expected)
        ));
    }
    if owed && got.len() < expected.len() {
        return Err(format!(
            "received {} of {} bytes owed: missing {}",
            got.len(),
            expected.len(),
            show(&expected[got.len()..])
        ));
    }
    Ok(())
}

fn fixed_answer(answer: &[u8], client: &ClientReport, owed: bool) -> Result<(), Violation> {
    prefix_check(answer, client, owed)
}

/// Checks that the client's bytes start with (a prefix of) the greeting, all of it when
/// owed, and returns what follows it.
fn after_greeting(client: &ClientReport, owed: bool) -> Result<&[u8], Violation> {
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

fn ack(client: &ClientReport, owed: bool) -> Result<(), Violation> {
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

fn echo(client: &ClientReport, owed: bool) -> Result<(), Violation> {
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
                // A partial answer in flight when the client stopped: chunk and marker prefix.
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
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn lines(client: &ClientReport, owed: bool, max_line: usize) -> Result<(), Violation> {
    let mut expected = b"hello\n".to_vec();
    let mut line = Vec::new();
    for &b in &client.sent {
        if b == b'\n' {
            expected.extend_from_slice(&line);
            expected.extend_from_slice(RESPONSE);
            expected.push(b'\n');
            line.clear();
            continue;
        }
        line.push(b);
        if line.len() > max_line {
            expected.extend(Lines::too_long_message(max_line));
            break;
        }
    }
    prefix_check(&expected, client, owed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(sent: &[u8], received: &[u8]) -> ClientReport {
        ClientReport::new("a", sent, received)
    }

    #[test]
    fn echo_accepts_any_chunking_in_order() {
        let c = report(b"abcd", b"helloabresponsecdresponse");
        assert_eq!(judge("echo", &c, None), Some(Ok(())));
        let c = report(b"abcd", b"helloabcdresponse");
        assert_eq!(judge("echo", &c, None), Some(Ok(())));
    }

    #[test]
    fn echo_rejects_lifo_and_loss() {
        let lifo = report(b"abcd", b"hellocdresponseabresponse");
        assert!(judge("echo", &lifo, None).unwrap().is_err());
        let lost = report(b"abcd", b"helloabresponse");
        assert!(judge("echo", &lost, None).unwrap().is_err());
        let mut closed = report(b"abcd", b"helloabresponse");
        closed.closed = true;
        assert_eq!(judge("echo", &closed, None), Some(Ok(())));
    }

    #[test]
    fn ack_counts_answers_against_bytes() {
        assert_eq!(
            judge("ack", &report(b"ab", b"helloresponse"), None),
            Some(Ok(()))
        );
        assert!(
            judge("ack", &report(b"a", b"helloresponseresponse"), None)
                .unwrap()
                .is_err()
        );
        assert!(
            judge("ack", &report(b"a", b"hello"), None)
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn lines_is_exact() {
        let c = report(b"ab\ncd", b"hello\nabresponse\n");
        assert_eq!(judge("lines", &c, None), Some(Ok(())));
        let c = report(b"ab\n", b"hello\n");
        assert!(judge("lines", &c, None).unwrap().is_err());
    }
}
