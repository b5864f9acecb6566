//! The canonical rendering of transcripts.

use std::fmt::Write as _;

use super::{FaultLine, Header, Item, Transcript};
use crate::text::format_duration;

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
    let key = header.kind().name();
    match header {
        Header::Service(name) => format!("{key} {name}"),
        Header::Semantics(s) => format!("{key} {s}"),
        Header::Seed(seed) => format!("{key} {seed}"),
        Header::Faults(f) => format!("{key} {f}"),
        Header::Limit(name, value) => format!("{key} {name} {value}"),
        Header::Expect(e) => format!("{key} {}", e.name()),
        Header::Clients(names) => format!("{key} {}", names.join(" ")),
        Header::Oracle(on) => format!("{key} {}", if *on { "on" } else { "off" }),
    }
}

/// Renders an item as its line, without a trailing comment.
pub fn render_item(item: &Item) -> String {
    match item {
        Item::Blank => String::new(),
        Item::Comment(text) => format!("#{text}"),
        Item::Header(h) => render_header(h),
        Item::At(d) => format!("@ {}", format_duration(*d)),
        Item::Step { client, step } => format!("{client} {step}"),
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
