//! Failure signatures: what makes two failing seeds the same bug.
//!
//! A signature is the kind of check that fired and its message with everything that varies
//! from seed to seed normalized: client names become `_`, quoted bytes `"…"`, numbers `N`,
//! and a quantity's unit goes with its number (`12 ns` and `1.500 ms` of CPU are one `N`).
//! The message already says at which kind of step the check fired (a `recv`, a `recv-eof`, the
//! end of the run), so two seeds with one signature failed the same way at the same kind of
//! step. A campaign keeps one minimal reproduction per signature.

use crate::failure::FailureKind;
use crate::world::Failure;

/// The signature of `failure`.
pub fn signature(failure: &Failure) -> String {
    let message = failure.to_string();
    // Where two runs diverge differs from seed to seed; that they diverge is the bug.
    let message = match failure {
        Failure::Nondeterministic { .. } => message.lines().next().unwrap_or_default(),
        _ => &message,
    };
    signature_of(failure.kind(), message)
}

/// The signature of a failure of `kind` worded `message`, whichever target saw it.
pub fn signature_of(kind: FailureKind, message: &str) -> String {
    // A list of the descriptors left open (`(fd 3 socket:[…], fd 6 …)`) is evidence, not
    // the failure: how many it shows must not split a bucket.
    let mut shown = String::new();
    let mut rest = message;
    while let Some(start) = rest.find("(fd ") {
        shown.push_str(&rest[..start]);
        shown.push_str("(fd …)");
        rest = rest[start..]
            .find(')')
            .map_or("", |i| &rest[start + i + 1..]);
    }
    shown.push_str(rest);
    if shown.starts_with(&format!("{kind}:")) {
        normalize(&shown)
    } else {
        normalize(&format!("{kind}: {shown}"))
    }
}

/// Units a measured quantity is printed in, whose choice depends on the quantity's size: a
/// number in one of them is one `N` whatever the unit, so a magnitude never splits a bucket.
const UNITS: [&str; 14] = [
    "ns", "us", "µs", "ms", "s", "m", "h", "B", "KB", "kB", "MB", "KiB", "MiB", "GiB",
];

/// Normalizes a failure message: `client NAME` to `client _`, quoted strings to `"…"`,
/// numbers (with their decimals, and with a unit of time or size that follows them) to `N`,
/// object descriptions in angle brackets (`<socket.socket fd=7, ...>`, as a server's error
/// message may print them) to `<…>`.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // Skip to the closing quote, honouring escapes.
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"…\"");
            }
            '<' if text.contains('>') => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
                out.push_str("<…>");
            }
            d if d.is_ascii_digit() => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                // Decimals: `1.500` is one number, a full stop after `3.` is not.
                let mut ahead = chars.clone();
                if ahead.next() == Some('.') && ahead.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                }
                // A unit right after it, with or without a space, is part of the quantity.
                let mut ahead = chars.clone();
                if ahead.peek() == Some(&' ') {
                    ahead.next();
                }
                let word: String = ahead
                    .clone()
                    .take_while(|c| c.is_alphanumeric() || *c == 'µ')
                    .collect();
                if UNITS.contains(&word.as_str()) {
                    for _ in 0..word.chars().count() {
                        ahead.next();
                    }
                    chars = ahead;
                }
                out.push('N');
            }
            _ => {
                out.push(c);
                if out.ends_with("client ") {
                    // The next word is a client's name.
                    let mut name = false;
                    while chars
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    {
                        chars.next();
                        name = true;
                    }
                    if name {
                        out.push('_');
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_of_one_bug_share_a_signature() {
        let a = Failure::Oracle {
            client: "a".into(),
            detail: "echoed \"cd\" where the stream sent continues with \"ab\" (after 12 bytes): answers out of order or altered".into(),
        };
        let b = Failure::Oracle {
            client: "storm17".into(),
            detail: "echoed \"x\\\"y\" where the stream sent continues with \"q\" (after 3 bytes): answers out of order or altered".into(),
        };
        assert_eq!(signature(&a), signature(&b));
        assert_eq!(
            signature(&a),
            "oracle: client _: echoed \"…\" where the stream sent continues with \"…\" (after N bytes): answers out of order or altered"
        );
        let panic = Failure::Panic {
            message: "KeyError: conn 3.0".into(),
        };
        assert_eq!(
            signature(&panic),
            "panic: the service panicked: KeyError: conn N"
        );
        assert_ne!(signature(&a), signature(&panic));
    }

    #[test]
    fn a_quantity_is_one_number_whatever_its_unit_and_magnitude() {
        let small =
            normalize("hang: client a: no answer (the server used 830 ns of CPU in 2.004 s)");
        let large =
            normalize("hang: client b: no answer (the server used 1.250 ms of CPU in 2.1s)");
        assert_eq!(small, large);
        assert_eq!(
            small,
            "hang: client _: no answer (the server used N of CPU in N)"
        );
        // A unit is a whole word: `7 sockets` keeps its word, a sentence keeps its full stop.
        assert_eq!(normalize("7 sockets left at 3."), "N sockets left at N.");
        assert_eq!(normalize("64 KiB over 3B"), "N over N");
    }

    #[test]
    fn how_many_open_descriptors_are_shown_does_not_split_a_bucket() {
        let few = "descriptor leak: 3 sockets open 2.000 s after every client left, 2 before the seed (fd 3 socket:[1364765], fd 6 socket:[1364751]); it is blocked in epoll_wait on fd 4 (anon_inode:[eventpoll])";
        let many = "descriptor leak: 145 sockets open 2.000 s after every client left, 138 before the seed (fd 100 socket:[1367646], fd 101 socket:[1367747], fd 102 socket:[1369165], fd 103 socket:[1], fd 104 socket:[2], fd 105 socket:[3], ...); it is blocked in epoll_wait on fd 4 (anon_inode:[eventpoll])";
        assert_eq!(
            signature_of(FailureKind::Leak, few),
            signature_of(FailureKind::Leak, many)
        );
        assert!(signature_of(FailureKind::Leak, few).contains("epoll_wait"));
        assert_ne!(
            signature_of(FailureKind::Leak, few),
            signature_of(FailureKind::Hang, few)
        );
    }
}
