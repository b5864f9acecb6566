//! The transcript parser: line by line, never panicking, every error with its line and
//! column.

use std::fmt;
use std::time::Duration;

use super::{Expect, FaultLine, Header, Item, Limit, Line, Step, Transcript};
use crate::fault::{Arg, FaultFamilies, FaultSpec};
use crate::semantics::Semantics;

/// A syntax error: where it is and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub message: String,
}

/// Words that cannot be client names because they start other lines.
const KEYWORDS: &[&str] = &[
    "service",
    "semantics",
    "seed",
    "faults",
    "limit",
    "expect",
    "oracle",
    "clients",
];

#[derive(Debug)]
struct Token {
    /// 1-based column of the token's first character.
    column: usize,
    kind: TokenKind,
}

#[derive(Debug)]
enum TokenKind {
    Word(String),
    Str(Vec<u8>),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TokenKind::Word(w) => write!(f, "`{w}`"),
            TokenKind::Str(_) => f.write_str("a string"),
        }
    }
}

struct LineParser<'a> {
    line: usize,
    tokens: Vec<Token>,
    pos: usize,
    /// Column just past the last character of the item, for "expected ... at end" errors.
    end_column: usize,
    _text: &'a str,
}

fn err(line: usize, column: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        column,
        message: message.into(),
    }
}

/// Splits a line into tokens and a trailing comment.
fn tokenize(line_no: usize, text: &str) -> Result<(Vec<Token>, Option<String>, usize), ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut end_column = 1;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c == '#' {
            let comment: String = chars[i + 1..].iter().collect();
            return Ok((tokens, Some(comment), end_column));
        }
        let column = i + 1;
        if c == '"' {
            let mut bytes = Vec::new();
            i += 1;
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err(err(
                        line_no,
                        column,
                        "unterminated string: expected a closing `\"`",
                    ));
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err(err(line_no, i, "expected an escape after `\\`"));
                        };
                        i += 1;
                        match e {
                            'n' => bytes.push(b'\n'),
                            'r' => bytes.push(b'\r'),
                            't' => bytes.push(b'\t'),
                            '0' => bytes.push(0),
                            '\\' => bytes.push(b'\\'),
                            '"' => bytes.push(b'"'),
                            '\'' => bytes.push(b'\''),
                            'x' => {
                                let hex: String = chars.iter().skip(i).take(2).collect();
                                let value = (hex.len() == 2)
                                    .then(|| u8::from_str_radix(&hex, 16).ok())
                                    .flatten();
                                let Some(value) = value else {
                                    return Err(err(
                                        line_no,
                                        i - 1,
                                        "expected two hex digits after `\\x`",
                                    ));
                                };
                                bytes.push(value);
                                i += 2;
                            }
                            other => {
                                return Err(err(
                                    line_no,
                                    i - 1,
                                    format!(
                                        "unknown escape `\\{other}` (expected \\n, \\r, \\t, \\0, \\\\, \\\", \\' or \\xNN)"
                                    ),
                                ));
                            }
                        }
                    }
                    c => {
                        let mut buf = [0; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            tokens.push(Token {
                column,
                kind: TokenKind::Str(bytes),
            });
            end_column = i + 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '#' | '"') {
            i += 1;
        }
        tokens.push(Token {
            column,
            kind: TokenKind::Word(chars[start..i].iter().collect()),
        });
        end_column = i + 1;
    }
    Ok((tokens, None, end_column))
}

impl<'a> LineParser<'a> {
    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.pos);
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|t| t.column)
            .unwrap_or(self.end_column)
    }

    fn word(&mut self, what: &str) -> Result<(String, usize), ParseError> {
        let line = self.line;
        let column = self.column();
        match self.next() {
            Some(Token {
                kind: TokenKind::Word(w),
                column,
            }) => Ok((w.clone(), *column)),
            Some(t) => Err(err(line, t.column, format!("expected {what}, found {t}"))),
            None => Err(err(
                line,
                column,
                format!("expected {what} at the end of the line"),
            )),
        }
    }

    fn string(&mut self, what: &str) -> Result<Vec<u8>, ParseError> {
        let line = self.line;
        let column = self.column();
        match self.next() {
            Some(Token {
                kind: TokenKind::Str(bytes),
                column,
            }) => {
                if bytes.is_empty() {
                    return Err(err(
                        line,
                        *column,
                        format!("expected {what}, found an empty string"),
                    ));
                }
                Ok(bytes.clone())
            }
            Some(t) => Err(err(
                line,
                t.column,
                format!("expected {what} (a quoted string), found {t}"),
            )),
            None => Err(err(
                line,
                column,
                format!("expected {what} (a quoted string) at the end of the line"),
            )),
        }
    }

    fn number(&mut self, what: &str) -> Result<u64, ParseError> {
        let (word, column) = self.word(what)?;
        word.parse::<u64>().map_err(|_| {
            err(
                self.line,
                column,
                format!("expected {what}, found `{word}`"),
            )
        })
    }

    fn duration(&mut self, what: &str) -> Result<Duration, ParseError> {
        let (word, column) = self.word(what)?;
        parse_duration(&word).ok_or_else(|| {
            err(
                self.line,
                column,
                format!("expected {what} like 10ms, 2s, 50us or 7ns, found `{word}`"),
            )
        })
    }

    fn end(&mut self, after: &str) -> Result<(), ParseError> {
        let line = self.line;
        match self.next() {
            None => Ok(()),
            Some(t) => Err(err(
                line,
                t.column,
                format!("expected the end of the line after {after}, found {t}"),
            )),
        }
    }
}

/// Parses a duration such as `10ms`, `2s`, `50us`, `7ns`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().ok()?;
    match unit {
        "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "us" => Some(Duration::from_micros(n)),
        "ns" => Some(Duration::from_nanos(n)),
        _ => None,
    }
}

fn is_client_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !KEYWORDS.contains(&word)
        && !FaultSpec::NAMES.iter().any(|(n, _)| *n == word)
}

const STEPS: &str =
    "connect, send, recv, recv-eof, recv-reset, shutdown, close, reset, pause, resume or wait";

/// Parses a transcript.
pub fn parse(input: &str) -> Result<Transcript, ParseError> {
    let mut transcript = Transcript::default();
    if input.is_empty() {
        return Ok(transcript);
    }
    let mut seen_headers: Vec<(&'static str, usize)> = Vec::new();
    for (index, raw) in input.split('\n').enumerate() {
        let line_no = index + 1;
        // A final newline ends the last line; it does not start an empty one.
        if raw.is_empty() && index > 0 && index == input.split('\n').count() - 1 {
            break;
        }
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        let (tokens, comment, end_column) = tokenize(line_no, text)?;
        if tokens.is_empty() {
            let item = match comment {
                Some(c) => Item::Comment(c),
                None => Item::Blank,
            };
            transcript.lines.push(Line {
                item,
                comment: None,
            });
            continue;
        }
        let mut p = LineParser {
            line: line_no,
            tokens,
            pos: 0,
            end_column,
            _text: text,
        };
        let (first, first_column) = match p.next() {
            Some(Token {
                kind: TokenKind::Word(w),
                column,
            }) => (w.clone(), *column),
            Some(t) => {
                return Err(err(
                    line_no,
                    t.column,
                    format!(
                        "expected a header, a client name, `!` or `@` at the start of the line, found {t}"
                    ),
                ));
            }
            None => unreachable!("tokens is not empty"),
        };
        let item = match first.as_str() {
            "!" => Item::Fault(parse_fault(&mut p)?),
            "@" => {
                let d = p.duration("a time")?;
                p.end("the time")?;
                Item::At(d)
            }
            "service" | "semantics" | "seed" | "faults" | "limit" | "expect" | "oracle"
            | "clients" => {
                let key: &'static str = KEYWORDS
                    .iter()
                    .find(|k| **k == first)
                    .copied()
                    .unwrap_or("?");
                let header = parse_header(&mut p, key)?;
                let dup_key = match &header {
                    Header::Limit(limit, _) => limit.name(),
                    _ => key,
                };
                if let Some((_, at)) = seen_headers.iter().find(|(k, _)| *k == dup_key) {
                    return Err(err(
                        line_no,
                        first_column,
                        format!("`{dup_key}` is already set on line {at}"),
                    ));
                }
                seen_headers.push((dup_key, line_no));
                Item::Header(header)
            }
            name if is_client_name(name) => {
                let step = parse_step(&mut p)?;
                Item::Step {
                    client: name.to_string(),
                    step,
                }
            }
            other => {
                return Err(err(
                    line_no,
                    first_column,
                    format!(
                        "expected a header (service, semantics, seed, faults, limit, expect, oracle, clients), a client name, `!` or `@`, found `{other}`"
                    ),
                ));
            }
        };
        transcript.lines.push(Line { item, comment });
    }
    Ok(transcript)
}

fn parse_header(p: &mut LineParser, key: &str) -> Result<Header, ParseError> {
    let header = match key {
        "service" => Header::Service(p.word("a service name")?.0),
        "semantics" => {
            let (word, column) = p.word("select, poll, epoll-lt or epoll-et")?;
            Header::Semantics(
                word.parse::<Semantics>()
                    .map_err(|m| err(p.line, column, m))?,
            )
        }
        "seed" => Header::Seed(p.number("a seed (a whole number)")?),
        "faults" => {
            let (word, column) = p.word("fault families (none, all, or a comma-separated list)")?;
            Header::Faults(
                word.parse::<FaultFamilies>()
                    .map_err(|m| err(p.line, column, m))?,
            )
        }
        "limit" => {
            let (name, column) = p.word("a limit name")?;
            let Some(limit) = Limit::from_name(&name) else {
                let known: Vec<&str> = Limit::ALL.iter().map(|(_, n)| *n).collect();
                return Err(err(
                    p.line,
                    column,
                    format!(
                        "unknown limit `{name}` (expected one of {})",
                        known.join(", ")
                    ),
                ));
            };
            Header::Limit(limit, p.number("the limit's value (a whole number)")?)
        }
        "clients" => {
            let mut names: Vec<String> = Vec::new();
            while p.tokens.get(p.pos).is_some() {
                let (name, column) = p.word("a client name")?;
                if !is_client_name(&name) {
                    return Err(err(
                        p.line,
                        column,
                        format!("expected a client name, found `{name}`"),
                    ));
                }
                if names.contains(&name) {
                    return Err(err(
                        p.line,
                        column,
                        format!("client `{name}` is listed twice"),
                    ));
                }
                names.push(name);
            }
            if names.is_empty() {
                return Err(err(p.line, p.column(), "expected at least one client name"));
            }
            Header::Clients(names)
        }
        "oracle" => {
            let (word, column) = p.word("on or off")?;
            match word.as_str() {
                "on" => Header::Oracle(true),
                "off" => Header::Oracle(false),
                _ => {
                    return Err(err(
                        p.line,
                        column,
                        format!("expected on or off, found `{word}`"),
                    ));
                }
            }
        }
        _ => {
            let (word, column) = p.word("pass, panic, mismatch or stall")?;
            let expect = match word.as_str() {
                "pass" => Expect::Pass,
                "panic" => Expect::Panic,
                "mismatch" => Expect::Mismatch,
                "stall" => Expect::Stall,
                _ => {
                    return Err(err(
                        p.line,
                        column,
                        format!("expected pass, panic, mismatch or stall, found `{word}`"),
                    ));
                }
            };
            Header::Expect(expect)
        }
    };
    p.end(&format!("`{key}`"))?;
    Ok(header)
}

fn parse_step(p: &mut LineParser) -> Result<Step, ParseError> {
    let (word, column) = p.word(&format!("a step ({STEPS})"))?;
    let step = match word.as_str() {
        "connect" => Step::Connect,
        "send" => Step::Send(p.string("the bytes to send")?),
        "recv" => Step::Recv(p.string("the bytes expected")?),
        "recv-eof" => Step::RecvEof,
        "recv-reset" => Step::RecvReset,
        "got" => Step::Got(p.string("the bytes observed")?),
        "got-eof" => Step::GotEof,
        "got-reset" => Step::GotReset,
        "shutdown" => Step::Shutdown,
        "close" => Step::Close,
        "reset" => Step::Reset,
        "pause" => Step::Pause,
        "resume" => Step::Resume,
        "wait" => Step::Wait(p.duration("a duration")?),
        other => {
            return Err(err(
                p.line,
                column,
                format!("expected a step ({STEPS}), found `{other}`"),
            ));
        }
    };
    p.end(&format!("`{word}`"))?;
    Ok(step)
}

fn parse_fault(p: &mut LineParser) -> Result<FaultLine, ParseError> {
    let names: Vec<&str> = FaultSpec::NAMES.iter().map(|(n, _)| *n).collect();
    let (mut word, mut column) = p.word("a client name or a fault")?;
    let mut client = None;
    if !FaultSpec::NAMES.iter().any(|(n, _)| *n == word) {
        if !is_client_name(&word) {
            return Err(err(
                p.line,
                column,
                format!(
                    "expected a client name or a fault ({}), found `{word}`",
                    names.join(", ")
                ),
            ));
        }
        client = Some(word);
        (word, column) = p.word(&format!("a fault ({})", names.join(", ")))?;
    }
    let Some((_, arg)) = FaultSpec::NAMES.iter().find(|(n, _)| *n == word) else {
        return Err(err(
            p.line,
            column,
            format!("expected a fault ({}), found `{word}`", names.join(", ")),
        ));
    };
    let (count, duration) = match arg {
        Arg::None => (0, Duration::ZERO),
        Arg::Count => {
            let n = p.number("a count")?;
            let n = u32::try_from(n)
                .map_err(|_| err(p.line, column, "count too large (at most 4294967295)"))?;
            (n, Duration::ZERO)
        }
        Arg::Duration => (0, p.duration("a duration")?),
    };
    let spec = FaultSpec::build(&word, count, duration)
        .ok_or_else(|| err(p.line, column, format!("unknown fault `{word}`")))?;
    if matches!(spec, FaultSpec::ShortRead(0) | FaultSpec::AcceptEmfile(0)) {
        return Err(err(
            p.line,
            column,
            format!("`{word}` needs a count of at least 1"),
        ));
    }
    if spec.needs_client() && client.is_none() {
        return Err(err(
            p.line,
            column,
            format!("`{word}` hits one client's connection: name the client before it"),
        ));
    }
    if !spec.needs_client() && client.is_some() {
        return Err(err(
            p.line,
            column,
            format!("`{word}` hits the whole server: it takes no client name"),
        ));
    }
    let mut at = None;
    if p.tokens.get(p.pos).is_some() {
        let (kw, kw_column) = p.word("`at`")?;
        if kw != "at" {
            return Err(err(
                p.line,
                kw_column,
                format!("expected `at N` or the end of the line, found `{kw}`"),
            ));
        }
        let n = p.number("an operation number (from 1)")?;
        if n == 0 {
            return Err(err(p.line, kw_column, "operations are counted from 1"));
        }
        at = Some(n);
    }
    p.end("the fault")?;
    Ok(FaultLine { client, spec, at })
}
