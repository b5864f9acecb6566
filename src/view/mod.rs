//! Views of a run for people: a timeline page (`page`), a Mermaid sequence diagram for a pull
//! request, and a trace in the Trace Event Format that Perfetto and `chrome://tracing` open.
//!
//! Both read one [`Timeline`]: a lane per connection, one for the server's event loop and one
//! for faults, every event at its virtual time, and the failure, if the run failed.

mod page;

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::script::Step;
use crate::text::{quote, quote_short, shorten};
use crate::time::Instant;
use crate::world::{ClientReport, EventKind, Failure, Run, TraceKind};

pub(crate) use page::page;

/// Where an event happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Client(usize),
    Server,
    Faults,
}

/// What happens.
#[derive(Clone, Debug, PartialEq, Eq)]
enum What {
    /// The client connected.
    Connect,
    /// The client sent these bytes.
    Send(Vec<u8>),
    /// The client received bytes (quoted), or what an expectation of them says.
    Receive(String),
    /// The client saw the server close its side.
    Eof,
    /// The client saw a reset.
    Reset,
    /// The client ended or stopped something itself (close, reset, shutdown, pause...).
    Act(String),
    /// A fault fired, as its transcript line.
    Fault(String),
    /// A server call or a log line.
    Server(String),
}

#[derive(Clone, Debug)]
struct Mark {
    at: Instant,
    lane: Lane,
    what: What,
}

/// A run as lanes of events, for the views.
#[derive(Clone, Debug)]
pub(crate) struct Timeline {
    clients: Vec<String>,
    marks: Vec<Mark>,
    failure: Option<String>,
}

impl Timeline {
    /// The timeline of a recorded run (server calls too when it was recorded with detail),
    /// with the failure it was judged to have.
    pub(crate) fn of_run(run: &Run, failure: Option<&Failure>) -> Self {
        let clients: Vec<String> = run.clients.iter().map(|c| c.name.clone()).collect();
        let name = |c: crate::script::ClientId| {
            clients
                .get(c.index())
                .cloned()
                .unwrap_or_else(|| c.to_string())
        };
        let mut marks = Vec::new();
        for event in &run.trace {
            let (lane, what) = match &event.kind {
                TraceKind::Client { client, step } => {
                    (Lane::Client(client.index()), client_event(step))
                }
                TraceKind::Fault { client, spec, at } => {
                    let who = client.map(|c| format!("{} ", name(c))).unwrap_or_default();
                    (Lane::Faults, What::Fault(format!("! {who}{spec} at {at}")))
                }
                TraceKind::Server(line) | TraceKind::Log(line) => {
                    (Lane::Server, What::Server(line.clone()))
                }
            };
            marks.push(Mark {
                at: event.at,
                lane,
                what,
            });
        }
        Timeline {
            clients,
            marks,
            failure: failure.map(|f| f.to_string()),
        }
    }
}

impl Timeline {
    /// Whether the run failed.
    pub(crate) fn failed(&self) -> bool {
        self.failure.is_some()
    }

    /// The timeline of clients over real sockets, from their reports (what they did and saw,
    /// with times since the run began); the server's side is not seen from there.
    pub(crate) fn of_clients(clients: &[ClientReport], failure: Option<&str>) -> Self {
        let mut marks = Vec::new();
        for (i, client) in clients.iter().enumerate() {
            for event in &client.timeline {
                let what = match &event.kind {
                    EventKind::Connected => What::Connect,
                    EventKind::Sent(range) => What::Send(client.sent[range.clone()].to_vec()),
                    EventKind::Received(range) => {
                        What::Receive(quote(&client.received[range.clone()]))
                    }
                    EventKind::Eof => What::Eof,
                    EventKind::Reset => What::Reset,
                    EventKind::Shutdown => What::Act("shutdown".to_string()),
                    EventKind::Closed => What::Act("close".to_string()),
                    EventKind::Aborted => What::Act("reset".to_string()),
                    EventKind::Paused => What::Act("pause".to_string()),
                    EventKind::Resumed => What::Act("resume".to_string()),
                };
                marks.push(Mark {
                    at: event.at,
                    lane: Lane::Client(i),
                    what,
                });
            }
        }
        // One order for the whole run; a client's own events keep theirs.
        marks.sort_by_key(|m| m.at);
        Timeline {
            clients: clients.iter().map(|c| c.name.clone()).collect(),
            marks,
            failure: failure.map(str::to_string),
        }
    }
}

impl Timeline {
    /// The timeline a transcript describes: its steps in file order, at the times its `@`
    /// lines give; for a repro of a server muxsim cannot see into (`muxsim run`).
    pub(crate) fn of_transcript(t: &crate::transcript::Transcript, failure: Option<&str>) -> Self {
        use crate::transcript::Item;
        let clients = t.clients();
        let mut at = Instant::ZERO;
        let mut marks = Vec::new();
        for line in &t.lines {
            let (lane, what) = match &line.item {
                Item::At(d) => {
                    at = Instant::ZERO + *d;
                    continue;
                }
                Item::Step { client, step } => {
                    let i = clients.iter().position(|c| c == client).unwrap_or(0);
                    (Lane::Client(i), client_event(step))
                }
                Item::Fault(_) => (
                    Lane::Faults,
                    What::Fault(crate::transcript::render_item(&line.item)),
                ),
                _ => continue,
            };
            marks.push(Mark { at, lane, what });
        }
        Timeline {
            clients,
            marks,
            failure: failure.map(str::to_string),
        }
    }
}

fn client_event(step: &Step) -> What {
    match step {
        Step::Connect => What::Connect,
        Step::Send(bytes) => What::Send(bytes.clone()),
        Step::Got(bytes) | Step::Recv(bytes) => What::Receive(quote(bytes)),
        Step::GotEof | Step::RecvEof => What::Eof,
        Step::GotReset | Step::RecvReset => What::Reset,
        Step::RecvUntil(_) | Step::RecvLen(_) | Step::RecvLine(_) | Step::RecvSet(_) => {
            What::Receive(step.to_string())
        }
        other => What::Act(other.to_string()),
    }
}

/// The longest Mermaid diagram, in lines: one that fits a pull request comment.
const MERMAID_LINES: usize = 40;

/// Mermaid's text: no `;` (a statement separator), `#` (an entity's start) or angle brackets.
fn mermaid_text(text: &str) -> String {
    text.replace('#', "#35;")
        .replace(';', "#59;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// The timeline as a Mermaid `sequenceDiagram`: a participant per client and one for the
/// server; sends and receives as arrows, closes and resets as crossed arrows, faults and the
/// failure as notes. At most [`MERMAID_LINES`] lines: a long run keeps its last events.
pub(crate) fn mermaid(timeline: &Timeline) -> String {
    let client = |i: usize| format!("C{i}");
    let mut body: Vec<String> = Vec::new();
    for mark in &timeline.marks {
        // The arrow, and its text (which alone is escaped).
        let (arrow, text) = match (&mark.lane, &mark.what) {
            (Lane::Client(i), What::Connect) => (format!("{}->>S", client(*i)), "connect".into()),
            (Lane::Client(i), What::Send(bytes)) => (
                format!("{}->>S", client(*i)),
                format!("send {}", quote_short(bytes)),
            ),
            (Lane::Client(i), What::Receive(text)) => {
                (format!("S->>{}", client(*i)), shorten(text))
            }
            (Lane::Client(i), What::Eof) => (format!("S--x{}", client(*i)), "EOF".into()),
            (Lane::Client(i), What::Reset) => (format!("S--x{}", client(*i)), "reset".into()),
            (Lane::Client(i), What::Act(act))
                if act == "close" || act == "reset" || act == "shutdown" =>
            {
                (format!("{}-xS", client(*i)), act.clone())
            }
            (Lane::Client(i), What::Act(act)) => (format!("Note over {}", client(*i)), act.clone()),
            (_, What::Fault(text)) => ("Note over S".to_string(), text.clone()),
            // Server calls are too many for a diagram; the trace has them.
            _ => continue,
        };
        body.push(format!("{arrow}: {}", mermaid_text(&text)));
    }
    let mut out = String::from("sequenceDiagram\n    participant S as server\n");
    for (i, name) in timeline.clients.iter().enumerate() {
        let _ = writeln!(
            out,
            "    participant {} as {}",
            client(i),
            mermaid_text(name)
        );
    }
    let header = 2 + timeline.clients.len();
    let footer = usize::from(timeline.failure.is_some());
    let room = MERMAID_LINES.saturating_sub(header + footer + 1).max(1);
    if body.len() > room {
        let left_out = body.len() - room + 1;
        body.drain(..left_out);
        body.insert(
            0,
            format!("Note over S: ... {left_out} earlier events left out ..."),
        );
    }
    for line in body {
        let _ = writeln!(out, "    {line}");
    }
    if let Some(failure) = &timeline.failure {
        let first = failure.lines().next().unwrap_or_default();
        let _ = writeln!(
            out,
            "    Note over S: FAIL {}",
            mermaid_text(&shorten(first))
        );
    }
    out
}

/// Process ids of the trace: the server and the clients.
const SERVER_PID: u64 = 1;
const CLIENTS_PID: u64 = 2;
/// Thread ids in the server's process: its event loop and the faults.
const LOOP_TID: u64 = 1;
const FAULTS_TID: u64 = 2;
/// The length given to a call or a step, in microseconds: virtual time stands still while the
/// server works, so each slice gets a nanosecond, laid after the one before on its track.
const SLICE_US: f64 = 0.001;

/// The timeline as Trace Event Format JSON for Perfetto or `chrome://tracing`: a process for
/// the server (its event loop, its faults) and one for the clients (a thread each); server
/// calls, sends and receives as slices that never overlap on a track; connects, EOFs, resets,
/// faults and the failure as instant events; each answer tied to the send before it by a
/// flow. Timestamps are the virtual clock's, in microseconds.
pub(crate) fn chrome_trace(timeline: &Timeline) -> String {
    let mut events: Vec<Value> = Vec::new();
    let meta = |pid: u64, tid: Option<u64>, name: &str| {
        let (kind, tid) = match tid {
            Some(tid) => ("thread_name", tid),
            None => ("process_name", 0),
        };
        json!({"ph": "M", "name": kind, "pid": pid, "tid": tid, "ts": 0, "args": {"name": name}})
    };
    events.push(meta(SERVER_PID, None, "server"));
    events.push(meta(SERVER_PID, Some(LOOP_TID), "event loop"));
    events.push(meta(SERVER_PID, Some(FAULTS_TID), "faults"));
    events.push(meta(CLIENTS_PID, None, "clients"));
    for (i, name) in timeline.clients.iter().enumerate() {
        events.push(meta(CLIENTS_PID, Some(i as u64 + 1), name));
    }
    // Per track, where the next slice may start; per client, the send an answer flows from.
    let mut free: std::collections::HashMap<(u64, u64), f64> = Default::default();
    let mut pending_send: Vec<Option<Value>> = vec![None; timeline.clients.len()];
    let mut flow = 0u64;
    for mark in &timeline.marks {
        let ts = mark.at.as_nanos() as f64 / 1000.0;
        let (pid, tid) = match mark.lane {
            Lane::Client(i) => (CLIENTS_PID, i as u64 + 1),
            Lane::Server => (SERVER_PID, LOOP_TID),
            Lane::Faults => (SERVER_PID, FAULTS_TID),
        };
        let mut slice = |name: String, args: Value| {
            let start = free.get(&(pid, tid)).map_or(ts, |f| f.max(ts));
            free.insert((pid, tid), start + SLICE_US);
            json!({"ph": "X", "name": name, "pid": pid, "tid": tid, "ts": start, "dur": SLICE_US, "args": args})
        };
        let instant = |name: String, args: Value| json!({"ph": "i", "s": "t", "name": name, "pid": pid, "tid": tid, "ts": ts, "args": args});
        match (&mark.lane, &mark.what) {
            (Lane::Client(i), What::Send(bytes)) => {
                let event = slice("send".to_string(), json!({"bytes": quote(bytes)}));
                pending_send[*i] = Some(event["ts"].clone());
                events.push(event);
            }
            (Lane::Client(i), What::Receive(text)) => {
                let event = slice("receive".to_string(), json!({"bytes": text}));
                let start = event["ts"].clone();
                events.push(event);
                // The answer flows from the last send before it (each flow starts and ends).
                if let Some(sent) = pending_send[*i].take() {
                    flow += 1;
                    events.push(json!({"ph": "s", "id": flow, "name": "answer", "cat": "flow", "pid": pid, "tid": tid, "ts": sent}));
                    events.push(json!({"ph": "f", "bp": "e", "id": flow, "name": "answer", "cat": "flow", "pid": pid, "tid": tid, "ts": start}));
                }
            }
            (_, What::Server(line)) => {
                let name = line.split(':').next().unwrap_or(line).to_string();
                events.push(slice(name, json!({"call": line})));
            }
            (_, What::Connect) => events.push(instant("connect".to_string(), json!({}))),
            (_, What::Eof) => events.push(instant("EOF".to_string(), json!({}))),
            (_, What::Reset) => events.push(instant("reset".to_string(), json!({}))),
            (_, What::Act(act)) => events.push(instant(act.clone(), json!({}))),
            (_, What::Fault(text)) => events.push(instant(
                text.trim_start_matches("! ").to_string(),
                json!({"line": text}),
            )),
            // Sends and receives belong to clients.
            (_, What::Send(_) | What::Receive(..)) => {}
        }
    }
    if let Some(failure) = &timeline.failure {
        let end = timeline
            .marks
            .last()
            .map_or(0.0, |m| m.at.as_nanos() as f64 / 1000.0);
        events.push(json!({"ph": "i", "s": "g", "name": "FAIL", "pid": SERVER_PID, "tid": LOOP_TID, "ts": end, "args": {"failure": failure}}));
    }
    let doc = json!({"traceEvents": events, "displayTimeUnit": "ns"});
    serde_json::to_string(&doc).unwrap_or_default()
}

/// The Mermaid diagram and the timeline page of a repro transcript of `service`, run in the
/// simulator as a replay runs it (with every server call, for the page's event-loop lane);
/// `None` when it does not read as one.
pub(crate) fn repro_views(
    service: &crate::service::ServiceDescriptor,
    text: &str,
    title: &str,
) -> Option<(String, String)> {
    let t = crate::transcript::parse(text).ok()?;
    let mut scenario = crate::scenario::Scenario::from_transcript_as(&t, service).ok()?;
    scenario.config.sim.detail = true;
    let run = scenario.run();
    let verdict = scenario.judge(&run);
    let timeline = Timeline::of_run(&run, verdict.failure());
    Some((mermaid(&timeline), page(&timeline, title)))
}

/// Appends a section to the file GitHub Actions shows as the step's summary
/// (`$GITHUB_STEP_SUMMARY`), when that variable names one: the failure, its diagram and the
/// command that reproduces it.
pub(crate) fn summarize_for_ci(title: &str, diagram: &str, reproduce: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let section =
        format!("### {title}\n\n```mermaid\n{diagram}```\n\nReproduce: `{reproduce}`\n\n");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, section.as_bytes()));
    if let Err(e) = appended {
        eprintln!(
            "muxsim: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
            std::path::Path::new(&path).display()
        );
    }
}
