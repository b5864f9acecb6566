//! The transcript format: canonical rendering, round trips, and errors that name the line
//! and column, never a panic.

mod common;

use std::time::Duration;

use muxsim::Step;
use muxsim::fault::{Family, FaultFamilies, FaultKind, FaultSpec};
use muxsim::scenario::Scenario;
use muxsim::script::{LinePattern, StepKind};
use muxsim::semantics::Semantics;
use muxsim::service::Registry;
use muxsim::text::quote;
use muxsim::transcript::{Expect, FaultLine, Header, HeaderKind, Item, Line, Transcript, parse};
use muxsim::world::limits::LIMITS;
use proptest::prelude::*;

fn client_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]".prop_map(String::from),
        "c[0-9]{1,4}".prop_map(String::from),
        "[a-z][a-z0-9_-]{0,8}".prop_filter("not a keyword", |s| {
            parse(&format!("{s} connect\n")).is_ok()
        }),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..40)
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..100).prop_map(Duration::from_secs),
        (0u64..100_000).prop_map(Duration::from_millis),
        any::<u32>().prop_map(|n| Duration::from_nanos(u64::from(n))),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Connect),
        bytes().prop_map(Step::Send),
        bytes().prop_map(Step::Recv),
        bytes().prop_map(Step::Got),
        Just(Step::RecvEof),
        Just(Step::RecvReset),
        Just(Step::GotEof),
        Just(Step::GotReset),
        Just(Step::Shutdown),
        Just(Step::Close),
        Just(Step::Reset),
        Just(Step::Pause),
        Just(Step::Resume),
        duration().prop_map(Step::Wait),
        bytes().prop_map(Step::RecvUntil),
        any::<u64>().prop_map(Step::RecvLen),
        prop::collection::vec(bytes(), 1..4).prop_map(Step::RecvSet),
        "[a-z+.*]{1,8}".prop_filter_map("a valid pattern", |p| LinePattern::new(&p)
            .ok()
            .map(Step::RecvLine)),
    ]
}

fn fault_spec() -> impl Strategy<Value = FaultSpec> {
    prop_oneof![
        (1u32..5000).prop_map(FaultSpec::ShortRead),
        any::<u32>().prop_map(FaultSpec::ShortWrite),
        Just(FaultSpec::WriteBlock),
        Just(FaultSpec::ReadReset),
        Just(FaultSpec::WriteReset),
        Just(FaultSpec::ReadEintr),
        Just(FaultSpec::WriteEintr),
        Just(FaultSpec::PollEintr),
        Just(FaultSpec::AcceptEintr),
        (1u32..10).prop_map(FaultSpec::AcceptEmfile),
        Just(FaultSpec::AcceptAborted),
        Just(FaultSpec::Spurious),
        Just(FaultSpec::Stale),
        duration().prop_map(FaultSpec::Delay),
    ]
}

fn fault_line() -> impl Strategy<Value = FaultLine> {
    (
        fault_spec(),
        client_name(),
        prop::option::of(1u64..1_000_000),
    )
        .prop_map(|(spec, client, at)| {
            FaultLine::new(spec.needs_client().then_some(client), spec, at)
        })
}

fn families() -> impl Strategy<Value = FaultFamilies> {
    prop::collection::vec(prop::sample::select(Family::ALL.to_vec()), 0..5).prop_map(|list| {
        list.into_iter()
            .fold(FaultFamilies::NONE, |set, family| set.with(family))
    })
}

fn header() -> impl Strategy<Value = Header> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}".prop_map(Header::Service),
        prop::sample::select(Semantics::ALL.to_vec()).prop_map(Header::Semantics),
        any::<u64>().prop_map(Header::Seed),
        families().prop_map(Header::Faults),
        (
            prop::sample::select(
                LIMITS
                    .iter()
                    .map(|l| l.name().to_string())
                    .collect::<Vec<_>>()
            ),
            any::<u64>()
        )
            .prop_map(|(l, v)| Header::Limit(l, v)),
        prop::sample::select(vec![
            Expect::Pass,
            Expect::Panic,
            Expect::Mismatch,
            Expect::Stall
        ])
        .prop_map(Header::Expect),
        any::<bool>().prop_map(Header::Oracle),
        prop::collection::btree_set(client_name(), 1..4)
            .prop_map(|names| Header::Clients(names.into_iter().collect())),
    ]
}

fn comment_text() -> impl Strategy<Value = String> {
    "[^\n\r]{0,20}"
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        Just(Item::Blank),
        comment_text().prop_map(Item::Comment),
        duration().prop_map(Item::At),
        (client_name(), step()).prop_map(|(client, step)| Item::Step { client, step }),
        fault_line().prop_map(Item::Fault),
    ]
}

fn line() -> impl Strategy<Value = Line> {
    (item(), prop::option::of(comment_text())).prop_map(|(item, comment)| {
        let comment = match item {
            Item::Blank | Item::Comment(_) => None,
            _ => comment,
        };
        Line::new(item).with_comment(comment)
    })
}

fn transcript() -> impl Strategy<Value = Transcript> {
    (
        prop::collection::vec(header(), 0..4),
        prop::collection::vec(line(), 0..30),
    )
        .prop_map(|(headers, lines)| {
            // Each header at most once, as the parser requires.
            let mut t = Transcript::default();
            let mut seen: Vec<String> = Vec::new();
            for h in headers {
                let key = match &h {
                    Header::Limit(l, _) => format!("limit {l}"),
                    other => other.kind().name().to_string(),
                };
                if !seen.contains(&key) {
                    seen.push(key);
                    t.push(Item::Header(h));
                }
            }
            t.lines.extend(lines);
            t
        })
}

proptest! {
    #![proptest_config(common::proptest_config("proptest-regressions/transcript.txt", 512))]

    #[test]
    fn parse_of_render_is_identity(t in transcript()) {
        let text = t.to_string();
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &t);
        // Canonical: rendering again gives the same text.
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn quoting_round_trips_any_bytes(b in prop::collection::vec(any::<u8>(), 1..200)) {
        let t = parse(&format!("a send {}\n", quote(&b))).unwrap();
        prop_assert_eq!(t.lines[0].item(), &Item::Step { client: "a".into(), step: Step::Send(b) });
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..64,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..6),
    ) {
        let fixtures = common::fixtures();
        let path = &fixtures[which % fixtures.len()];
        let mut bytes = std::fs::read(path).unwrap();
        for (at, how, byte) in edits {
            let i = at.index(bytes.len().max(1));
            match how {
                0 if !bytes.is_empty() => { bytes.remove(i.min(bytes.len() - 1)); }
                1 => bytes.insert(i.min(bytes.len()), byte),
                _ if !bytes.is_empty() => { let n = bytes.len(); bytes[i.min(n - 1)] = byte; }
                _ => {}
            }
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Ok(t) = parse(text) {
                if let Ok(s) = Scenario::from_transcript(&t, &Registry::builtin()) {
                    // Bounded: a mutated fixture must end, whatever it says.
                    let mut s = s;
                    s.config.max_steps = 20_000;
                    let _ = s.run();
                }
            }
        }
    }
}

/// The words transcripts are made of: every header keyword, step, fault and limit name,
/// quoted strings with escapes, numbers, durations and odd characters.
fn vocabulary() -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    words.extend(HeaderKind::ALL.iter().map(|k| k.name().to_string()));
    words.extend(StepKind::ALL.iter().map(|k| k.name().to_string()));
    words.extend(FaultKind::ALL.iter().map(|k| k.name().to_string()));
    words.extend(LIMITS.iter().map(|l| l.name().to_string()));
    words.extend(Semantics::ALL.iter().map(|s| s.name().to_string()));
    for w in [
        "a",
        "b",
        "zz",
        "echo",
        "lines",
        "seed4-literal",
        "!",
        "@",
        "at",
        "all",
        "none",
        "on",
        "off",
        "pass",
        "panic",
        "mismatch",
        "stall",
        "max-line",
        "\"x\"",
        "\"\\n\"",
        "\"\\xff\"",
        "\"\\q\"",
        "\"unterminated",
        "\"\"",
        "0",
        "1",
        "3",
        "18446744073709551616",
        "5ms",
        "1.5s",
        "2m",
        "7ns",
        "1x",
        "#",
        "\t",
        "short-io,eintr",
    ] {
        words.push(w.to_string());
    }
    words
}

/// Token soup: lines of real words in random order. The parser and the scenario reader must
/// never panic, and enough of the soup must be valid that both are reached deep (a test that
/// fed them bytes a UTF-8 check rejects first would prove nothing).
#[test]
fn token_soup_never_panics_and_reaches_the_scenario() {
    use rand::{RngExt, SeedableRng};
    let words = vocabulary();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let registry = Registry::builtin();
    let (mut parsed, mut scenarios, mut ran) = (0, 0, 0);
    let total = 4_000;
    let pick = |rng: &mut rand_chacha::ChaCha8Rng, list: &[String]| -> String {
        list[rng.random_range(0..list.len())].clone()
    };
    // An argument of the right kind for a step, most of the time.
    let argument = |rng: &mut rand_chacha::ChaCha8Rng, kind: StepKind| -> String {
        if rng.random_bool(0.1) {
            return pick(rng, &words);
        }
        match kind.arg() {
            muxsim::script::StepArg::Bytes | muxsim::script::StepArg::Pattern => {
                ["\"ping\"", "\"x\\n\"", "\"\\xff\"", "\"hello\""][rng.random_range(0..4)]
                    .to_string()
            }
            muxsim::script::StepArg::ByteList => "\"a\" \"b\"".to_string(),
            muxsim::script::StepArg::Count => rng.random_range(0..10u32).to_string(),
            muxsim::script::StepArg::Duration => {
                ["1ms", "1.5s", "7ns"][rng.random_range(0..3)].to_string()
            }
            _ => String::new(),
        }
    };
    for _ in 0..total {
        let mut text = String::from("service echo\na connect\n");
        for _ in 0..rng.random_range(1..5) {
            let client = ["a", "b"][rng.random_range(0..2)];
            let line = match rng.random_range(0..10) {
                0 => format!("{client} connect"),
                1 => {
                    let fault = FaultKind::ALL[rng.random_range(0..FaultKind::ALL.len())];
                    let arg = ["", "1", "5ms", "at 2"][rng.random_range(0..4)];
                    format!("! {client} {} {arg}", fault.name())
                }
                2 => (0..rng.random_range(1..5))
                    .map(|_| pick(&mut rng, &words))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => {
                    let kind = StepKind::ALL[rng.random_range(0..StepKind::ALL.len())];
                    format!("{client} {} {}", kind.name(), argument(&mut rng, kind))
                }
            };
            text.push_str(&line);
            text.push('\n');
        }
        let Ok(t) = parse(&text) else { continue };
        parsed += 1;
        let Ok(mut s) = Scenario::from_transcript(&t, &registry) else {
            continue;
        };
        scenarios += 1;
        s.config.max_steps = 5_000;
        let _ = s.run();
        ran += 1;
    }
    assert!(parsed * 5 > total, "only {parsed} of {total} inputs parsed");
    assert!(
        scenarios * 20 > total,
        "only {scenarios} of {total} became scenarios"
    );
    assert_eq!(ran, scenarios);
}

#[track_caller]
fn error_at(text: &str) -> (usize, usize, String) {
    let e = parse(text).expect_err("malformed input is an error");
    (e.line(), e.column(), e.message().to_string())
}

#[test]
fn errors_name_line_and_column() {
    let (line, column, message) = error_at("service echo\n\na connect\na send ping\n");
    assert_eq!((line, column), (4, 8));
    assert!(message.contains("quoted string"), "{message}");

    let (line, column, message) = error_at("a send \"unterminated\n");
    assert_eq!((line, column), (1, 8));
    assert!(message.contains("closing"), "{message}");

    let (line, column, message) = error_at("a send \"bad \\q escape\"\n");
    assert_eq!((line, column), (1, 13));
    assert!(message.contains("unknown escape"), "{message}");

    let (line, column, message) = error_at("a fly\n");
    assert_eq!((line, column), (1, 3));
    assert!(message.contains("expected a step"), "{message}");

    let (line, column, _) = error_at("seed 1\nseed 2\n");
    assert_eq!((line, column), (2, 1));

    let (line, column, message) = error_at("! short-read 2\n");
    assert_eq!((line, column), (1, 3));
    assert!(message.contains("name the client"), "{message}");

    let (line, column, message) = error_at("semantics kqueue\n");
    assert_eq!((line, column), (1, 11));
    assert!(message.contains("epoll-et"), "{message}");

    let (line, column, message) = error_at("a wait 5 minutes\n");
    assert_eq!((line, column), (1, 8));
    assert!(message.contains("10ms"), "{message}");

    let (line, column, _) = error_at("a send \"x\" extra\n");
    assert_eq!((line, column), (1, 12));
}

#[track_caller]
fn scenario_error(text: &str) -> String {
    let t = parse(text).unwrap();
    Scenario::from_transcript(&t, &Registry::builtin())
        .unwrap_err()
        .to_string()
}

#[test]
fn scripts_that_cannot_run_are_rejected_with_their_line_and_column() {
    assert_eq!(
        scenario_error("service echo\na send \"x\"\n"),
        "2:1: client a must `connect` before `send \"x\"`"
    );
    let e = scenario_error("service nope\na connect\n");
    assert!(e.starts_with("1:9: unknown service `nope`"), "{e}");
    let e = scenario_error("service echo\na connect\n  a connect\n");
    assert!(e.starts_with("3:3: client a connects a second time"), "{e}");
    // A client listed but never stepping, and a fault for a client that does not exist, are
    // placed where they stand, not at 1:1.
    let e = scenario_error("service echo\n\na connect\nclients a b\n");
    assert!(
        e.starts_with("4:11: client b is listed but never connects"),
        "{e}"
    );
    let e = scenario_error("service echo\na connect\n! z short-read 1\n");
    assert!(e.starts_with("3:3: unknown client `z`"), "{e}");
    let e = scenario_error("\n");
    assert!(e.starts_with("1:1: no `service` line"), "{e}");
    let e = scenario_error("service echo\nlimit nope 3\na connect\n");
    assert!(e.starts_with("2:7: unknown limit `nope`"), "{e}");
    let e = scenario_error("service lines\nlimit buffer 0\na connect\n");
    assert!(
        e.starts_with("2:7: limit `buffer` must be at least 1"),
        "{e}"
    );
    // A service's own limits are limits too.
    assert!(
        Scenario::from_transcript(
            &parse("service lines\nlimit max-line 8\na connect\n").unwrap(),
            &Registry::builtin()
        )
        .is_ok()
    );
}

#[test]
fn every_fixture_parses_and_renders_canonically() {
    for path in common::fixtures() {
        let t = common::load(&path);
        let again = parse(&t.to_string()).unwrap();
        assert_eq!(again, t, "{}", path.display());
    }
}

#[test]
fn the_documented_examples_parse() {
    let doc = std::fs::read_to_string(common::root().join("docs/transcript.md")).unwrap();
    let mut blocks = 0;
    for block in doc.split("```txn").skip(1) {
        let body = block.split("```").next().unwrap();
        parse(body).unwrap_or_else(|e| panic!("docs/transcript.md example: {e}\n{body}"));
        blocks += 1;
    }
    assert!(blocks >= 3, "the format documentation shows examples");
}

#[test]
fn after_waits_for_another_clients_steps_and_a_bad_one_is_placed() {
    let registry = Registry::builtin();
    // Without a count, every step of the other client written above the line.
    let text = "service echo\n\na connect\na recv \"hello\"\nb after a\nb connect\nb after a 1\nb recv \"hello\"\n";
    let t = parse(text).unwrap();
    let s = Scenario::from_transcript(&t, &registry).unwrap();
    let b: Vec<&Step> = s.play.clients[1].steps().collect();
    let after = |n| Step::After {
        client: "a".to_string(),
        steps: Some(n),
    };
    assert_eq!(b[..3], [&after(2), &Step::Connect, &after(1)]);
    // Rendered with its count, it reads back the same.
    assert_eq!(after(2).to_string(), "after a 2");
    assert!(s.run().verdict().is_pass());
    for (text, line, column, wanted) in [
        (
            "a connect\na after zz\nzz_never connect\n",
            4,
            1,
            "there is no client",
        ),
        ("a connect\na after a\n", 4, 1, "cannot wait for itself"),
        (
            "a connect\nb connect\nb after a 9\n",
            5,
            1,
            "`a` has 1 step(s), never 9",
        ),
    ] {
        let text = format!("service echo\n\n{text}").replace("zz_never connect\n", "");
        let t = parse(&text).unwrap();
        let e = Scenario::from_transcript(&t, &registry).unwrap_err();
        assert_eq!((e.line(), e.column()), (line, column), "{e}");
        assert!(e.to_string().contains(wanted), "{e}");
    }
    // A missing name is a syntax error at its column.
    let e = parse("a after\n").unwrap_err();
    assert_eq!((e.line(), e.column()), (1, 8), "{e}");
    assert!(e.message().contains("the client to wait for"), "{e}");
}
