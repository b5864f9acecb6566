//! The canonical rendering of transcripts.

use std::fmt::Write as _;
use std::time::Duration;

use super::{FaultLine, Header, Item, Step, Transcript};

/// Quotes bytes as a Rust-style string literal: printable ASCII as is, `\n`, `\r`, `\t`,
/// `\0`, `\\`, `\"`, and `\xNN` for every other byte, so any bytes round-trip.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// Quotes bytes like [`quote`], eliding the middle of anything longer than 120 bytes, for
/// messages meant to be read rather than parsed.
pub fn quote_short(bytes: &[u8]) -> String {
    const EDGE: usize = 50;
    if bytes.len() <= 120 {
        return quote(bytes);
    }
    let head = quote(&bytes[..EDGE]);
    let tail = quote(&bytes[bytes.len() - EDGE..]);
    format!(
        "{}...({} bytes)...{}",
        &head[..head.len() - 1],
        bytes.len() - 2 * EDGE,
        &tail[1..]
    )
}

/// Formats a duration in the largest unit that states it exactly: `2s`, `1500ms`, `20us`,
/// `7ns`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0s".to_string()
    } else if nanos % 1_000_000_000 == 0 {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

/// A step as it stands after the client's name.
pub fn render_step(step: &Step) -> String {
    match step {
        Step::Connect => "connect".to_string(),
        Step::Send(bytes) => format!("send {}", quote(bytes)),
        Step::Recv(bytes) => format!("recv {}", quote(bytes)),
        Step::RecvEof => "recv-eof".to_string(),
        Step::RecvReset => "recv-reset".to_string(),
        Step::Got(bytes) => format!("got {}", quote(bytes)),
        Step::GotEof => "got-eof".to_string(),
        Step::GotReset => "got-reset".to_string(),
        Step::Shutdown => "shutdown".to_string(),
        Step::Close => "close".to_string(),
        Step::Reset => "reset".to_string(),
        Step::Pause => "pause".to_string(),
        Step::Resume => "resume".to_string(),
        Step::Wait(d) => format!("wait {}", format_duration(*d)),
    }
}

fn render_fault(fault: &FaultLine) -> String {
    let mut out = String::from("!");
    if let Some(client) = &fault.client {
        out.push(' ');
        out.push_str(client);
    }
    let _ = write!(out, " {}", fault.spec);
    if let Some(at) = fault.at {
        let _ = write!(out, " at {at}");
    }
    out
}

fn render_header(header: &Header) -> String {
    match header {
        Header::Service(name) => format!("service {name}"),
        Header::Semantics(s) => format!("semantics {s}"),
        Header::Seed(seed) => format!("seed {seed}"),
        Header::Faults(f) => format!("faults {f}"),
        Header::Limit(limit, value) => format!("limit {} {value}", limit.name()),
        Header::Expect(e) => format!("expect {}", e.name()),
        Header::Clients(names) => format!("clients {}", names.join(" ")),
        Header::Oracle(on) => format!("oracle {}", if *on { "on" } else { "off" }),
    }
}

/// Renders an item as its line, without a trailing comment.
pub fn render_item(item: &Item) -> String {
    match item {
        Item::Blank => String::new(),
        Item::Comment(text) => format!("#{text}"),
        Item::Header(h) => render_header(h),
        Item::At(d) => format!("@ {}", format_duration(*d)),
        Item::Step { client, step } => format!("{client} {}", render_step(step)),
        Item::Fault(f) => render_fault(f),
    }
}

pub(super) fn render(t: &Transcript) -> String {
    let mut out = String::new();
    for line in &t.lines {
        out.push_str(&render_item(&line.item));
        if let Some(comment) = &line.comment {
            let _ = write!(out, " #{comment}");
        }
        out.push('\n');
    }
    out
}
