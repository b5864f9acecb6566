//! The transcript parser: line by line, never panicking, every error with its line and
//! column. It reads the step, fault and header tables; it does not know which services or
//! limits exist (the scenario resolves those, with the positions kept on each line).

use std::fmt;
use std::time::Duration;

use super::{Expect, FaultLine, Header, HeaderKind, Item, Line, Transcript};
use crate::fault::{Arg, FaultFamilies, FaultKind};
use crate::script::{LinePattern, StepArg, StepKind, StepValue};
use crate::semantics::Semantics;
use crate::text::{DurationError, parse_duration};

/// The largest transcript read: 64 MiB is a thousand times the largest fixture a person
/// writes, and small enough that a stray `/dev/zero` or a runaway recording cannot exhaust
/// memory.
pub const MAX_SIZE: u64 = 64 * 1024 * 1024;

/// A syntax error: where it is and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub(crate) line: usize,
    /// 1-based column, in characters.
    pub(crate) column: usize,
    /// What was expected there, and what was found.
    pub(crate) message: String,
}

impl ParseError {
    /// 1-based line number.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column, in characters.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What was expected there, and what was found.
    pub fn message(&self) -> &str {
        &self.message
    }
}

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

struct LineParser {
    line: usize,
    tokens: Vec<Token>,
    pos: usize,
    /// Column just past the last character of the item, for "expected ... at end" errors.
    end_column: usize,
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

impl LineParser {
    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.pos);
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn has_more(&self) -> bool {
        self.pos < self.tokens.len()
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

    fn string(&mut self, what: &str) -> Result<(Vec<u8>, usize), ParseError> {
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
                Ok((bytes.clone(), *column))
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
            let why = if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
                "too large (at most 18446744073709551615)".to_string()
            } else {
                format!("found `{word}`")
            };
            err(self.line, column, format!("expected {what}, {why}"))
        })
    }

    fn duration(&mut self, what: &str) -> Result<Duration, ParseError> {
        let (word, column) = self.word(what)?;
        parse_duration(&word).map_err(|e| {
            let message = match e {
                DurationError::Malformed => format!(
                    "expected {what} like 10ms, 1.5s, 2m or 7ns (units ns, us, ms, s, m, h), found `{word}`"
                ),
                other => format!("expected {what}: `{word}` is {other}"),
            };
            err(self.line, column, message)
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

fn is_client_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && HeaderKind::from_name(word).is_none()
        && FaultKind::from_name(word).is_none()
}

/// Parses a transcript. A UTF-8 byte-order mark at the start is skipped.
pub fn parse(input: &str) -> Result<Transcript, ParseError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut transcript = Transcript::default();
    if input.is_empty() {
        return Ok(transcript);
    }
    let mut seen_headers: Vec<(String, usize)> = Vec::new();
    let line_count = input.split('\n').count();
    for (index, raw) in input.split('\n').enumerate() {
        let line_no = index + 1;
        // A final newline ends the last line; it does not start an empty one.
        if raw.is_empty() && index > 0 && index == line_count - 1 {
            break;
        }
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        let (tokens, comment, end_column) = tokenize(line_no, text)?;
        let columns: Vec<usize> = tokens.iter().map(|t| t.column).collect();
        if tokens.is_empty() {
            let item = match comment {
                Some(c) => Item::Comment(c),
                None => Item::Blank,
            };
            transcript.lines.push(Line::new(item));
            continue;
        }
        let mut p = LineParser {
            line: line_no,
            tokens,
            pos: 0,
            end_column,
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
            word => match HeaderKind::from_name(word) {
                Some(kind) => {
                    let header = parse_header(&mut p, kind)?;
                    let key = match &header {
                        Header::Limit(name, _) => format!("limit {name}"),
                        _ => kind.name().to_string(),
                    };
                    if let Some((_, at)) = seen_headers.iter().find(|(k, _)| *k == key) {
                        return Err(err(
                            line_no,
                            first_column,
                            format!("`{key}` is already set on line {at}"),
                        ));
                    }
                    seen_headers.push((key, line_no));
                    Item::Header(header)
                }
                None if is_client_name(word) => Item::Step {
                    client: word.to_string(),
                    step: parse_step(&mut p)?,
                },
                None => {
                    return Err(err(
                        line_no,
                        first_column,
                        format!(
                            "expected a header ({}), a client name, `!` or `@`, found `{word}`",
                            HeaderKind::names()
                        ),
                    ));
                }
            },
        };
        transcript.lines.push(Line {
            item,
            comment,
            columns,
        });
    }
    Ok(transcript)
}

fn parse_header(p: &mut LineParser, kind: HeaderKind) -> Result<Header, ParseError> {
    let header = match kind {
        HeaderKind::Service => Header::Service(p.word("a service name")?.0),
        HeaderKind::Semantics => {
            let (word, column) = p.word(&Semantics::names())?;
            Header::Semantics(
                word.parse::<Semantics>()
                    .map_err(|m| err(p.line, column, m))?,
            )
        }
        HeaderKind::Seed => Header::Seed(p.number("a seed (a whole number)")?),
        HeaderKind::Faults => {
            let (word, column) = p.word("fault families (none, all, or a comma-separated list)")?;
            Header::Faults(
                word.parse::<FaultFamilies>()
                    .map_err(|m| err(p.line, column, m))?,
            )
        }
        HeaderKind::Limit => {
            let (name, column) = p.word("a limit name")?;
            let valid = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(err(
                    p.line,
                    column,
                    format!("expected a limit name (letters, digits, `-` and `_`), found `{name}`"),
                ));
            }
            Header::Limit(name, p.number("the limit's value (a whole number)")?)
        }
        HeaderKind::Clients => {
            let mut names: Vec<String> = Vec::new();
            while p.has_more() {
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
        HeaderKind::Oracle => {
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
        HeaderKind::Expect => {
            let names: Vec<&str> = Expect::ALL.iter().map(|e| e.name()).collect();
            let what = names.join(", ");
            let (word, column) = p.word(&what)?;
            Header::Expect(
                Expect::from_name(&word).ok_or_else(|| {
                    err(p.line, column, format!("expected {what}, found `{word}`"))
                })?,
            )
        }
    };
    p.end(&format!("`{}`", kind.name()))?;
    Ok(header)
}

fn parse_step(p: &mut LineParser) -> Result<crate::script::Step, ParseError> {
    let steps = StepKind::names();
    let (word, column) = p.word(&format!("a step ({steps})"))?;
    let Some(kind) = StepKind::from_name(&word) else {
        return Err(err(
            p.line,
            column,
            format!("expected a step ({steps}), found `{word}`"),
        ));
    };
    let what = kind.arg_description();
    let value = match kind.arg() {
        StepArg::None => StepValue::None,
        StepArg::Bytes => StepValue::Bytes(p.string(what)?.0),
        StepArg::ByteList => {
            let mut list = vec![p.string(what)?.0];
            while p.has_more() {
                list.push(p.string(what)?.0);
            }
            StepValue::ByteList(list)
        }
        StepArg::Pattern => {
            let (bytes, column) = p.string(what)?;
            let source = String::from_utf8(bytes)
                .map_err(|_| err(p.line, column, "a pattern must be UTF-8 text"))?;
            StepValue::Pattern(LinePattern::new(&source).map_err(|m| err(p.line, column, m))?)
        }
        StepArg::Count => StepValue::Count(p.number(what)?),
        StepArg::Duration => StepValue::Duration(p.duration(what)?),
        StepArg::Peer => {
            let (name, column) = p.word("the client to wait for")?;
            if !is_client_name(&name) {
                return Err(err(
                    p.line,
                    column,
                    format!("expected the name of the client to wait for, found `{name}`"),
                ));
            }
            let steps = if p.has_more() {
                Some(p.number("how many of its steps")?)
            } else {
                None
            };
            StepValue::Peer(name, steps)
        }
    };
    p.end(&format!("`{word}`"))?;
    kind.build(value).ok_or_else(|| {
        err(
            p.line,
            column,
            format!("`{word}` cannot take that argument"),
        )
    })
}

fn parse_fault(p: &mut LineParser) -> Result<FaultLine, ParseError> {
    let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
    let names = names.join(", ");
    let (mut word, mut column) = p.word("a client name or a fault")?;
    let mut client = None;
    if FaultKind::from_name(&word).is_none() {
        if !is_client_name(&word) {
            return Err(err(
                p.line,
                column,
                format!("expected a client name or a fault ({names}), found `{word}`"),
            ));
        }
        client = Some(word);
        (word, column) = p.word(&format!("a fault ({names})"))?;
    }
    let Some(kind) = FaultKind::from_name(&word) else {
        return Err(err(
            p.line,
            column,
            format!("expected a fault ({names}), found `{word}`"),
        ));
    };
    let (count, duration) = match kind.arg() {
        Arg::Count => {
            let n = p.number("a count")?;
            let n = u32::try_from(n)
                .map_err(|_| err(p.line, column, "count too large (at most 4294967295)"))?;
            if n < kind.min_count() {
                return Err(err(
                    p.line,
                    column,
                    format!("`{word}` needs a count of at least {}", kind.min_count()),
                ));
            }
            (n, Duration::ZERO)
        }
        Arg::Duration => (0, p.duration("a duration")?),
        _ => (0, Duration::ZERO),
    };
    let spec = kind.with(count, duration);
    if kind.needs_client() && client.is_none() {
        return Err(err(
            p.line,
            column,
            format!("`{word}` hits one client's connection: name the client before it"),
        ));
    }
    if !kind.needs_client() && client.is_some() {
        return Err(err(
            p.line,
            column,
            format!("`{word}` hits the whole server: it takes no client name"),
        ));
    }
    let mut at = None;
    if p.has_more() {
        let (keyword, keyword_column) = p.word("`at`")?;
        if keyword != "at" {
            return Err(err(
                p.line,
                keyword_column,
                format!("expected `at N` or the end of the line, found `{keyword}`"),
            ));
        }
        let n = p.number("an operation number (from 1)")?;
        if n == 0 {
            return Err(err(p.line, keyword_column, "operations are counted from 1"));
        }
        at = Some(n);
    }
    p.end("the fault")?;
    Ok(FaultLine { client, spec, at })
}
