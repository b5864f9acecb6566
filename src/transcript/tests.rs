//! Unit tests of the parser and the renderer; the property tests over arbitrary transcripts
//! are in `tests/transcript.rs`.

use std::time::Duration;

use super::*;
use crate::fault::FaultSpec;
use crate::script::{LinePattern, Step};

fn round_trip(text: &str) -> Transcript {
    let t = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(t.to_string(), text, "canonical text renders as it was read");
    assert_eq!(parse(&t.to_string()).unwrap(), t);
    t
}

#[test]
fn every_kind_of_line_round_trips() {
    let t = round_trip(
        "# a comment\nservice echo\nsemantics epoll-linux\nseed 7\nfaults short-io,eintr\nlimit buffer 16\nexpect mismatch\noracle on\nclients b a\n\n@ 1500ms\na connect\na send \"x\\n\\xff\"\na recv-until \"\\r\\n\"\na recv-len 3\na recv-line \"\\\\+OK.*\\n\"\na recv-set \"x\" \"y\"\na wait 2s # trailing\n! a short-read 2 at 3\n! poll-eintr\n",
    );
    assert_eq!(t.service(), Some("echo"));
    assert_eq!(t.semantics(), Some(crate::semantics::Semantics::EpollLinux));
    assert_eq!(t.seed(), Some(7));
    assert_eq!(t.expect(), Expect::Mismatch);
    assert!(t.oracle());
    assert_eq!(t.clients(), vec!["b".to_string(), "a".to_string()]);
    assert_eq!(t.limits().collect::<Vec<_>>(), vec![(6, "buffer", 16)]);
    let steps: Vec<&Step> = t
        .lines
        .iter()
        .filter_map(|l| match &l.item {
            Item::Step { step, .. } => Some(step),
            _ => None,
        })
        .collect();
    assert_eq!(steps[3], &Step::RecvLen(3));
    assert_eq!(
        steps[4],
        &Step::RecvLine(LinePattern::new("\\+OK.*\n").unwrap())
    );
    assert_eq!(steps[5], &Step::RecvSet(vec![b"x".to_vec(), b"y".to_vec()]));
    assert_eq!(steps[6], &Step::Wait(Duration::from_secs(2)));
}

#[test]
fn lines_remember_where_their_tokens_stood() {
    let t = parse("service   echo\n  a connect\n! zz short-read 1\n").unwrap();
    assert_eq!(t.lines[0].column(1), 11);
    assert_eq!(t.lines[1].column(0), 3);
    assert_eq!(t.lines[2].column(1), 3);
    assert_eq!(Line::new(Item::Blank).column(4), 1);
    let (line, _) = t.header_line(HeaderKind::Service).unwrap();
    assert_eq!(line, 1);
}

#[test]
fn a_byte_order_mark_is_skipped_and_durations_take_decimals() {
    let t = parse("\u{feff}service echo\na wait 1.5s\n").unwrap();
    assert_eq!(t.service(), Some("echo"));
    assert!(t.to_string().contains("a wait 1500ms"));
}

#[test]
fn headers_may_not_repeat_but_different_limits_may_stand_together() {
    let e = parse("limit buffer 1\nlimit buffer 2\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 1));
    assert!(
        e.message
            .contains("`limit buffer` is already set on line 1")
    );
    assert!(parse("limit buffer 1\nlimit backlog 2\n").is_ok());
}

#[test]
fn matchers_report_bad_arguments_where_they_stand() {
    let e = parse("a recv-line \"(\"\n").unwrap_err();
    assert_eq!((e.line, e.column), (1, 13));
    assert!(e.message.contains("bad pattern"), "{}", e.message);
    let e = parse("a recv-len x\n").unwrap_err();
    assert_eq!((e.line, e.column), (1, 12));
    let e = parse("a recv-set\n").unwrap_err();
    assert!(e.message.contains("any order"), "{}", e.message);
    let e = parse("a wait 99999999999999999999999h\n").unwrap_err();
    assert!(e.message.contains("too long"), "{}", e.message);
    let e = parse("seed 99999999999999999999\n").unwrap_err();
    assert!(e.message.contains("too large"), "{}", e.message);
}

#[test]
fn fault_lines_check_their_target_and_count() {
    assert_eq!(
        parse("! a short-write 0\n").unwrap().lines[0].item,
        Item::Fault(FaultLine {
            client: Some("a".to_string()),
            spec: FaultSpec::ShortWrite(0),
            at: None,
        })
    );
    let e = parse("! a short-read 0\n").unwrap_err();
    assert!(e.message.contains("at least 1"), "{}", e.message);
    let e = parse("! a poll-eintr\n").unwrap_err();
    assert!(e.message.contains("takes no client"), "{}", e.message);
    let e = parse("! a spurious at 0\n").unwrap_err();
    assert!(e.message.contains("counted from 1"), "{}", e.message);
}
