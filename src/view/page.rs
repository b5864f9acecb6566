//! The timeline page: one self-contained HTML file (inline SVG, CSS and a little script; no
//! network, no external assets) with a lane for the server's event loop, one for faults and
//! one per connection. Events stand in the order they happened, one column each, with the
//! virtual time on an axis above (virtual time stands still while the server works, so a time
//! scale would pile a turn's calls on one point); a run of server calls between two client
//! events is one turn. Hovering an event shows it as the transcript writes it; an arrow runs
//! from the send that a receive answers; the failing step is marked with the check's message.
//! A time range can be zoomed to, lanes collapse on a click, and a box finds a client.

use std::fmt::Write as _;

use super::{Lane, Mark, Timeline, What};
use crate::text::{escape_markup, format_duration, quote, shorten};

/// Column width per event and lane height, in pixels.
const STEP: usize = 16;
const LANE: usize = 28;
/// Room above the lanes for the time axis and the failure's label.
const TOP: usize = 40;
/// Server calls (or faults) shown in one column's hover text, and the bytes of one line.
const TURN_LINES: usize = 12;
const HOVER_BYTES: usize = 240;

/// One column of the page: a client event, a fault, or a server turn (calls in a row).
struct Column<'a> {
    lane: Lane,
    at: crate::time::Instant,
    kind: &'static str,
    label: String,
    /// Server calls folded into this column, past the first.
    more: usize,
    mark: &'a Mark,
}

/// At most [`HOVER_BYTES`] of a line, saying how much was left out.
fn clip(text: String) -> String {
    if text.len() <= HOVER_BYTES {
        return text;
    }
    let mut end = HOVER_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// How a mark is written in the hover text and its CSS class.
fn describe(name: &str, what: &What) -> (&'static str, String) {
    let (kind, text) = describe_whole(name, what);
    (kind, clip(text))
}

fn describe_whole(name: &str, what: &What) -> (&'static str, String) {
    match what {
        What::Connect => ("connect", format!("{name} connect")),
        What::Send(bytes) => ("send", format!("{name} send {}", quote(bytes))),
        What::Receive(text) => ("recv", format!("{name} recv {text}")),
        What::Eof => ("eof", format!("{name} got EOF")),
        What::Reset => ("reset", format!("{name} got reset")),
        What::Act(act) => ("act", format!("{name} {act}")),
        What::Fault(text) => ("fault", text.clone()),
        What::Server(line) => ("server", line.clone()),
    }
}

/// The columns of a timeline: consecutive server calls fold into one turn, consecutive
/// faults into one column.
fn columns(timeline: &Timeline) -> Vec<Column<'_>> {
    let mut out: Vec<Column<'_>> = Vec::new();
    for mark in &timeline.marks {
        let name = match mark.lane {
            Lane::Client(i) => timeline.clients.get(i).map_or("?", String::as_str),
            Lane::Server => "server",
            Lane::Faults => "faults",
        };
        let (kind, label) = describe(name, &mark.what);
        if let Some(last) = out.last_mut()
            && matches!(mark.lane, Lane::Server | Lane::Faults)
            && last.lane == mark.lane
        {
            if last.more < TURN_LINES {
                last.label.push('\n');
                last.label.push_str(&label);
            }
            last.more += 1;
            continue;
        }
        out.push(Column {
            lane: mark.lane,
            at: mark.at,
            kind,
            label,
            more: 0,
            mark,
        });
    }
    out
}

/// The row of a lane: the event loop, the faults, then the clients in order.
fn row(lane: Lane) -> usize {
    match lane {
        Lane::Server => 0,
        Lane::Faults => 1,
        Lane::Client(i) => i + 2,
    }
}

/// The client a failure message is about: the one it names as `client NAME`.
fn failing_client(timeline: &Timeline) -> Option<usize> {
    let failure = timeline.failure.as_deref()?;
    timeline.clients.iter().position(|name| {
        let needle = format!("client {name}");
        failure.match_indices(&needle).any(|(i, _)| {
            failure[i + needle.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric() && c != '-' && c != '_')
        })
    })
}

/// The timeline page of a run, titled `title`.
pub(crate) fn page(timeline: &Timeline, title: &str) -> String {
    let cols = columns(timeline);
    let lanes = timeline.clients.len() + 2;
    // Room on the right for the failure's label.
    let width = cols.len().max(1) * STEP + STEP + if timeline.failure.is_some() { 480 } else { 0 };
    let height = TOP + lanes * LANE + 8;
    let y = |row: usize| TOP + row * LANE + LANE / 2;
    let x = |i: usize| i * STEP + STEP;

    // The failing step: the last event of the client the failure names, else the last event.
    let failing = timeline.failure.as_ref().and_then(|_| {
        let lane = failing_client(timeline).map(Lane::Client);
        cols.iter()
            .rposition(|c| lane.is_none_or(|l| c.lane == l))
            .or(cols.len().checked_sub(1))
    });

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" data-width="{width}">"#
    );
    svg.push_str(r#"<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" class="arrowhead"/></marker></defs>"#);
    // Lane backgrounds.
    for r in 0..lanes {
        let _ = write!(
            svg,
            r#"<rect class="lane-bg lane-{r}" x="0" y="{}" width="{width}" height="{LANE}"/>"#,
            TOP + r * LANE
        );
    }
    // The time axis: a tick where the clock moved, when there is room for its label.
    let mut last_label: Option<usize> = None;
    let mut last_at = None;
    for (i, col) in cols.iter().enumerate() {
        if last_at == Some(col.at) {
            continue;
        }
        last_at = Some(col.at);
        let cx = x(i);
        let _ = write!(
            svg,
            r#"<line class="tick" x1="{cx}" y1="{}" x2="{cx}" y2="{}"/>"#,
            TOP - 6,
            height - 8
        );
        if last_label.is_none_or(|l| cx >= l + 90) {
            last_label = Some(cx);
            let _ = write!(
                svg,
                r#"<text class="time" x="{cx}" y="{}">{}</text>"#,
                TOP - 10,
                escape_markup(&format_duration(col.at.since_start()))
            );
        }
    }
    // Arrows: from the send a receive answers (the client's last send before it).
    let mut pending: Vec<Option<usize>> = vec![None; timeline.clients.len()];
    for (i, col) in cols.iter().enumerate() {
        let Lane::Client(c) = col.lane else { continue };
        match &col.mark.what {
            What::Send(_) => pending[c] = Some(i),
            What::Receive(_) => {
                if let Some(from) = pending[c].take() {
                    let (x1, x2, yc) = (x(from), x(i), y(row(col.lane)));
                    let bend = yc.saturating_sub(LANE * 3 / 4);
                    let _ = write!(
                        svg,
                        r#"<path class="flow lane-{r}" d="M{x1},{yc} Q{},{bend} {x2},{yc}" marker-end="url(#arrow)"/>"#,
                        (x1 + x2) / 2,
                        r = row(col.lane)
                    );
                }
            }
            _ => {}
        }
    }
    // The events.
    for (i, col) in cols.iter().enumerate() {
        let r = row(col.lane);
        let (cx, cy) = (x(i), y(r));
        let mut hover = format!("{}\n{}", format_duration(col.at.since_start()), col.label);
        if col.more >= TURN_LINES {
            let what = if col.lane == Lane::Faults {
                "faults"
            } else {
                "calls"
            };
            let _ = write!(hover, "\n... {} more {what}", col.more + 1 - TURN_LINES);
        }
        let fail = if failing == Some(i) { " fail" } else { "" };
        let _ = write!(
            svg,
            r#"<g class="mark k-{kind} lane-{r}{fail}" data-i="{i}" data-at="{at}"><title>{hover}</title>"#,
            kind = col.kind,
            at = col.at.as_nanos(),
            hover = escape_markup(&hover)
        );
        match col.kind {
            "server" => {
                let w = if col.more > 0 { 10 } else { 6 };
                let _ = write!(
                    svg,
                    r#"<rect x="{}" y="{}" width="{w}" height="12"/>"#,
                    cx - w / 2,
                    cy - 6
                );
            }
            "fault" => {
                let _ = write!(
                    svg,
                    r#"<path d="M{cx},{} L{},{} L{},{} z"/>"#,
                    cy - 7,
                    cx + 6,
                    cy + 5,
                    cx - 6,
                    cy + 5
                );
            }
            "eof" | "reset" => {
                let _ = write!(
                    svg,
                    r#"<path d="M{},{} L{},{} M{},{} L{},{}"/>"#,
                    cx - 5,
                    cy - 5,
                    cx + 5,
                    cy + 5,
                    cx - 5,
                    cy + 5,
                    cx + 5,
                    cy - 5
                );
            }
            _ => {
                let _ = write!(svg, r#"<circle cx="{cx}" cy="{cy}" r="5"/>"#);
            }
        }
        svg.push_str("</g>");
    }
    if let (Some(i), Some(failure)) = (failing, &timeline.failure) {
        let cx = x(i);
        let first = failure.lines().next().unwrap_or_default();
        let _ = write!(
            svg,
            r#"<g id="failure-mark" data-i="{i}"><line class="fail-line" x1="{cx}" y1="{}" x2="{cx}" y2="{}"/><text class="fail-label" x="{}" y="{}">FAIL: {}</text><title>{}</title></g>"#,
            TOP - 4,
            height - 4,
            cx + 4,
            TOP - 24,
            escape_markup(&shorten(first)),
            escape_markup(failure)
        );
    }
    svg.push_str("</svg>");

    let mut labels = String::new();
    let names = ["event loop".to_string(), "faults".to_string()]
        .into_iter()
        .chain(timeline.clients.iter().cloned());
    for (r, name) in names.enumerate() {
        let kind = match r {
            0 => "server",
            1 => "faults",
            _ => "client",
        };
        let _ = write!(
            labels,
            r#"<div class="label {kind}" data-lane="{r}" title="click to collapse or expand">{}</div>"#,
            escape_markup(&name)
        );
    }
    let times: Vec<String> = cols.iter().map(|c| c.at.as_nanos().to_string()).collect();
    let failure_html = match &timeline.failure {
        Some(f) => format!(r#"<pre id="failure">FAIL: {}</pre>"#, escape_markup(f)),
        None => r#"<p id="verdict">pass</p>"#.to_string(),
    };
    let end = cols
        .last()
        .map_or_else(String::new, |c| format_duration(c.at.since_start()));
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{title}</h1>
{failure_html}
<p class="summary">{clients} connection(s), {events} event(s), {end} of virtual time. Hover an event for its bytes; click a lane's name to collapse it.</p>
<p class="legend"><span style="color:#2a2">&#9679;</span> connect <span style="color:#36c">&#9679;</span> send <span style="color:#a4c">&#9679;</span> receive (an arc from the send it answers) <span style="color:#e90">&#9679;</span> close, shutdown, reset, pause <span style="color:#555">&#10005;</span> EOF <span style="color:#d22">&#10005;</span> reset seen <span style="color:#e44">&#9650;</span> fault <span style="color:#999">&#9632;</span> server turn</p>
<form id="controls" onsubmit="return false">
<label>find a client <input id="find" type="search" placeholder="name"></label>
<label>from <input id="from" type="number" step="any" min="0" placeholder="ms"></label>
<label>to <input id="to" type="number" step="any" min="0" placeholder="ms"></label>
<button id="zoom" type="button">zoom</button>
<button id="all" type="button">whole run</button>
</form>
</header>
<main>
<div id="labels" style="padding-top:{TOP}px">{labels}</div>
<div id="scroll">{svg}</div>
</main>
<pre id="detail">&#8203;</pre>
<script>
const TIMES = [{times}];
const STEP = {STEP}, LANE = {LANE}, TOP = {TOP};
{SCRIPT}
</script>
</body>
</html>
"#,
        title = escape_markup(title),
        clients = timeline.clients.len(),
        events = cols.len(),
        times = times.join(","),
    )
}

const STYLE: &str = r#"
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; }
header { padding: 8px 12px; border-bottom: 1px solid #ddd; }
h1 { font-size: 16px; margin: 0 0 4px; }
#failure { color: #b00; white-space: pre-wrap; margin: 4px 0; font: 12px monospace; }
#verdict { color: #070; margin: 4px 0; }
.summary, .legend { margin: 4px 0; color: #555; }
#controls label { margin-right: 10px; }
#controls input[type=number] { width: 7em; }
main { display: flex; }
#labels { flex: none; width: 140px; border-right: 1px solid #ddd; }
.label { height: 28px; padding: 0 6px; overflow: hidden; white-space: nowrap;
  text-overflow: ellipsis; cursor: pointer; font: 12px/28px monospace; }
.label.collapsed { color: #aaa; text-decoration: line-through; }
.label.found { background: #ffe97a; }
#scroll { overflow-x: auto; flex: 1; }
#scroll svg { display: block; }
.lane-bg { fill: #fff; }
.lane-bg:nth-of-type(even) { fill: #f5f7fa; }
.lane-bg.found { fill: #fff6c0; }
.tick { stroke: #eee; }
.time { font: 10px monospace; fill: #888; }
.mark { cursor: pointer; }
.mark circle, .mark rect, .mark path { stroke-width: 1.5; }
.k-connect circle { fill: #2a2; stroke: #161; }
.k-send circle { fill: #36c; stroke: #124; }
.k-recv circle { fill: #a4c; stroke: #526; }
.k-act circle { fill: #e90; stroke: #850; }
.k-eof path { stroke: #555; stroke-width: 2.5; }
.k-reset path { stroke: #d22; stroke-width: 2.5; }
.k-fault path { fill: #e44; stroke: #900; }
.k-server rect { fill: #999; stroke: #666; }
.mark:hover circle, .mark:hover rect, .mark:hover path { stroke: #000; stroke-width: 3; }
.mark.fail circle, .mark.fail rect, .mark.fail path { stroke: #d00; stroke-width: 4; }
.flow { fill: none; stroke: #a4c; stroke-opacity: .5; }
.arrowhead { fill: #a4c; }
.fail-line { stroke: #d00; stroke-dasharray: 4 3; }
.fail-label { fill: #d00; font: bold 12px monospace; }
.hidden { display: none; }
#detail { position: sticky; bottom: 0; margin: 0; padding: 6px 12px; background: #fafafa;
  border-top: 1px solid #ddd; min-height: 3em; max-height: 12em; overflow: auto;
  white-space: pre-wrap; font: 12px monospace; }
"#;

const SCRIPT: &str = r#"
window.addEventListener("error", e => { document.body.dataset.error = String(e.message); });
const svg = document.getElementById("timeline");
const full = Number(svg.dataset.width), height = svg.height.baseVal.value;
const detail = document.getElementById("detail");
function show(g) {
  const t = g.querySelector("title");
  if (t) detail.textContent = t.textContent;
}
svg.addEventListener("mouseover", e => { const g = e.target.closest(".mark"); if (g) show(g); });
svg.addEventListener("click", e => { const g = e.target.closest(".mark"); if (g) show(g); });
function view(x0, x1) {
  const w = Math.max(x1 - x0, STEP);
  svg.setAttribute("viewBox", x0 + " 0 " + w + " " + height);
  const room = document.getElementById("scroll").clientWidth || w;
  svg.setAttribute("width", w === full ? full : Math.max(room, 200));
}
function column(ms, last) {
  const ns = ms * 1e6;
  let i = last ? TIMES.length - 1 : 0;
  if (last) { while (i > 0 && TIMES[i] > ns) i--; }
  else { while (i < TIMES.length - 1 && TIMES[i] < ns) i++; }
  return i;
}
document.getElementById("zoom").addEventListener("click", () => {
  const from = parseFloat(document.getElementById("from").value || "0");
  const toText = document.getElementById("to").value;
  const a = column(from, false);
  const b = toText === "" ? TIMES.length - 1 : column(parseFloat(toText), true);
  view(a * STEP, (Math.max(a, b) + 2) * STEP);
});
document.getElementById("all").addEventListener("click", () => view(0, full));
for (const label of document.querySelectorAll(".label")) {
  label.addEventListener("click", () => {
    const lane = label.dataset.lane;
    const collapsed = label.classList.toggle("collapsed");
    for (const el of svg.querySelectorAll(".mark.lane-" + lane + ", .flow.lane-" + lane)) {
      el.classList.toggle("hidden", collapsed);
    }
  });
}
document.getElementById("find").addEventListener("input", e => {
  const needle = e.target.value.trim().toLowerCase();
  let first = null;
  for (const label of document.querySelectorAll(".label.client")) {
    const hit = needle !== "" && label.textContent.toLowerCase().includes(needle);
    label.classList.toggle("found", hit);
    svg.querySelector(".lane-bg.lane-" + label.dataset.lane).classList.toggle("found", hit);
    if (hit && first === null) first = label;
  }
  if (first) first.scrollIntoView({block: "nearest"});
});
const failing = document.getElementById("failure-mark");
if (failing) {
  const i = Number(failing.dataset.i);
  const scroll = document.getElementById("scroll");
  const x = (i + 1) * STEP;
  if (x > scroll.clientWidth * 0.8) scroll.scrollLeft = x - scroll.clientWidth * 0.6;
  const g = svg.querySelector('.mark[data-i="' + i + '"]');
  if (g) show(g);
}
document.body.dataset.ready = "1";
"#;
