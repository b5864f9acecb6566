//! Leaks found by the heap: with `CountingAllocator` installed, a service that keeps state for
//! connections that are gone is caught whatever its `tracked_connections()` says, and a
//! service that keeps capacity or shared state for good reasons is not.

use std::collections::HashMap;

use muxsim::core::{CloseReason, ConnId, Outbox, Output, Service};
use muxsim::scenario::Scenario;
use muxsim::service::ServiceDescriptor;
use muxsim::world::Failure;
use muxsim::{Campaign, Instant, transcript};

#[global_allocator]
static ALLOC: muxsim::CountingAllocator = muxsim::CountingAllocator;

/// How a test service keeps its books.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Books {
    /// Frees everything a connection made when it closes.
    Correct,
    /// Keeps each connection's name in a second map it never cleans, and counts the first map
    /// (which it does clean) as its tracked connections.
    SecondMap,
    /// Forgets to free a reset connection's buffer, and counts open connections on the side.
    LeakOnReset,
}

/// Echoes lines back; keeps the last line anybody said (state shared between connections,
/// which is no leak).
struct Lines {
    books: Books,
    buffers: HashMap<ConnId, Vec<u8>>,
    names: HashMap<ConnId, String>,
    last: Option<Vec<u8>>,
    open: usize,
    out: Outbox,
}

impl Service for Lines {
    fn handle_connected(&mut self, _now: Instant, conn: ConnId) {
        self.open += 1;
        self.buffers.insert(conn, Vec::new());
        self.names.insert(conn, format!("guest-{}", conn.to_raw()));
        self.out.send(conn, &b"hi\n"[..]);
    }
    fn handle_received(&mut self, _now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(buffer) = self.buffers.get_mut(&conn) else {
            return;
        };
        buffer.extend_from_slice(bytes);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            self.last = Some(line.clone());
            self.out.send(conn, line);
        }
    }
    fn handle_peer_closed(&mut self, _now: Instant, conn: ConnId) {
        self.out.close(conn);
    }
    fn handle_closed(&mut self, _now: Instant, conn: ConnId, reason: CloseReason) {
        self.open -= 1;
        if !(self.books == Books::LeakOnReset && reason == CloseReason::Reset) {
            self.buffers.remove(&conn);
        }
        if self.books != Books::SecondMap {
            self.names.remove(&conn);
        }
    }
    fn poll_output(&mut self, buf: &mut Vec<u8>) -> Option<Output> {
        self.out.poll(buf)
    }
    fn tracked_connections(&self) -> usize {
        match self.books {
            Books::LeakOnReset => self.open,
            _ => self.buffers.len(),
        }
    }
}

fn descriptor(books: Books) -> ServiceDescriptor {
    ServiceDescriptor::new("lines-books", move |_| Lines {
        books,
        buffers: HashMap::new(),
        names: HashMap::new(),
        last: None,
        open: 0,
        out: Outbox::default(),
    })
}

const THREE_CLIENTS: &str = "service lines-books\n\n\
a connect\nb connect\nc connect\n\
a recv \"hi\\n\"\nb recv \"hi\\n\"\nc recv \"hi\\n\"\n\
a send \"one\\n\"\na recv \"one\\n\"\nb send \"two\\n\"\nb recv \"two\\n\"\n\
a close\nb close\nc close\n";

fn heap_leak(report: &muxsim::Report) -> Option<&Failure> {
    report
        .buckets()
        .iter()
        .map(|b| b.example().failure())
        .find(|f| f.kind() == "heap-leak")
}

#[test]
fn a_second_map_never_cleaned_is_caught_though_tracked_connections_is_right() {
    let t = transcript::parse(THREE_CLIENTS).unwrap();
    let leaky = Scenario::from_transcript_with(&t, &descriptor(Books::SecondMap)).unwrap();
    let run = leaky.run();
    let failure = run.verdict().failure().expect("the names map leaks");
    assert_eq!(failure.kind(), "heap-leak", "{failure}");
    let text = failure.to_string();
    // The report names the call that allocated what stayed, and the client it was for.
    assert!(text.contains("handle_connected at"), "{text}");
    assert!(failure.client().is_some(), "{text}");
    assert!(text.contains("after its connection closed"), "{text}");
    let Failure::HeapLeak { blocks, bytes, .. } = failure else {
        unreachable!()
    };
    assert!(*blocks >= 1, "{text}");
    assert!(*bytes > "guest-".len() as u64, "{text}");

    // The same play against the service that cleans up: its maps keep their capacity and it
    // keeps a line from a gone connection, and it passes.
    let correct = Scenario::from_transcript_with(&t, &descriptor(Books::Correct)).unwrap();
    assert!(correct.run().verdict().is_pass());
}

#[test]
fn a_leak_on_reset_behind_a_lying_count_is_found_within_100_seeds() {
    let report = Campaign::new(descriptor(Books::LeakOnReset))
        .seeds(0, 100)
        .shrink(false)
        .run();
    let failure = heap_leak(&report).unwrap_or_else(|| panic!("{report}"));
    // The buffer a reset connection filled is what stays.
    assert!(failure.to_string().contains("handle_received"), "{failure}");
    // Nothing but the heap sees it (the count the driver checks is right), and one bug is one
    // bucket whichever connection a seed resets.
    assert_eq!(report.buckets().len(), 1, "{report}");
    // Switched off, nothing sees it.
    let unchecked = Campaign::new(descriptor(Books::LeakOnReset))
        .seeds(0, 100)
        .check_heap(false)
        .run();
    assert!(unchecked.is_clean(), "{unchecked}");
}

#[test]
fn services_that_keep_capacity_or_shared_state_pass() {
    let report = Campaign::new(descriptor(Books::Correct))
        .seeds(0, 300)
        .run();
    assert!(report.is_clean(), "{report}");
    for name in ["echo", "lines", "seed4"] {
        let Some(campaign) = Campaign::builtin(name) else {
            continue;
        };
        let report = campaign.seeds(0, 300).run();
        assert!(report.is_clean(), "{name}: {report}");
    }
}

#[test]
fn each_thread_keeps_its_own_books() {
    // `cargo test` runs tests on parallel threads: a leaky service on one thread must not
    // make a correct one on another fail, nor the other way round.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let books = if i % 2 == 0 {
                    Books::Correct
                } else {
                    Books::SecondMap
                };
                let t = transcript::parse(THREE_CLIENTS).unwrap();
                let s = Scenario::from_transcript_with(&t, &descriptor(books)).unwrap();
                (0..20)
                    .map(|_| s.run().verdict().is_pass())
                    .all(|pass| pass == (books == Books::Correct))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap());
    }
}
