//! Sessions recorded with `muxsim record` in front of real servers of the distribution (nginx
//! speaking HTTP, memcached's text protocol, redis's pipelined RESP) run as they are under
//! `muxsim run`'s default faults: no seed fails, and every fault family reaches each server.
//! A server that is not installed is skipped with a message, unless `MUXSIM_REQUIRE_SERVERS`
//! is set (`.ci/run` installs them and sets it). Seeds: `MUXSIM_SERVER_SEEDS`, 100 by default.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Reaped, muxsim, read_n, read_to_eof, send};
use serde_json::Value;

/// One client's conversation: requests, each with the exact answer it gets.
struct Client {
    exchanges: Vec<(Vec<u8>, Vec<u8>)>,
    /// The server closes after the last answer (HTTP/0.9), so the client reads to its EOF.
    server_closes: bool,
}

/// A real server: its command line, given a port it must listen on.
struct RealServer {
    program: &'static str,
    args: Vec<String>,
    addr: SocketAddr,
}

impl RealServer {
    /// `program` on a port free a moment ago, its command line made by `args` from that port;
    /// `None` (with a message) when it is not installed and the run does not require it.
    fn on_free_port(
        program: &'static str,
        args: impl FnOnce(u16) -> Vec<String>,
    ) -> Option<RealServer> {
        if !available(program) {
            return None;
        }
        let port = free_port();
        Some(RealServer {
            program,
            args: args(port),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }
}

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// A port that was free a moment ago: these servers cannot be told to take port 0 and say
/// which they got (memcached and redis read port 0 as "no TCP").
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// False (with a message) when the server is not installed and the run does not require it.
fn available(program: &str) -> bool {
    common::available(program, "MUXSIM_REQUIRE_SERVERS")
}

/// Waits (at most 10 s) until something accepts connections at `addr`.
fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens at {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the server on its own, records `clients` through `muxsim record` in front of it, and
/// returns the transcript written. The clients connect first, then take turns, one exchange
/// each, so the server holds them all at once.
fn record(server: &RealServer, clients: &[Client], output: &Path) -> String {
    let upstream = Reaped(
        Command::new(server.program)
            .args(&server.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(server.addr);
    let mut recorder = Reaped(
        Command::new(assert_cmd::cargo::cargo_bin("muxsim"))
            .args(["record", "--listen", "127.0.0.1:0", "--upstream"])
            .arg(server.addr.to_string())
            .arg("--output")
            .arg(output)
            .args(["--count", &clients.len().to_string(), "--color", "never"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(recorder.0.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let proxy: SocketAddr = first
        .split("recording on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));

    let within = Duration::from_secs(5);
    let mut streams: Vec<TcpStream> = clients.iter().map(|_| common::connect(proxy)).collect();
    let rounds = clients.iter().map(|c| c.exchanges.len()).max().unwrap_or(0);
    for round in 0..rounds {
        for (client, stream) in clients.iter().zip(&mut streams) {
            if let Some((request, answer)) = client.exchanges.get(round) {
                send(stream, request);
                let got = read_n(stream, answer.len(), within);
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(answer),
                    "{} answered differently while recording",
                    server.program
                );
            }
        }
    }
    for (client, mut stream) in clients.iter().zip(streams) {
        if client.server_closes {
            let (rest, eof) = read_to_eof(&mut stream, within);
            assert!(eof && rest.is_empty(), "{rest:?} before the close");
        }
    }
    // The recorder ends once every connection has ended on both sides.
    let deadline = Instant::now() + Duration::from_secs(10);
    while recorder.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the recorder did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(upstream);
    std::fs::read_to_string(output).unwrap()
}

/// The fault families of `muxsim run` and the faults of each, as the report tallies them.
const FAMILIES: &[(&str, &[&str])] = &[
    ("short-io", &["short-read", "short-write"]),
    ("would-block", &["read-block", "write-block"]),
    (
        "eintr",
        &["poll-eintr", "read-eintr", "write-eintr", "accept-eintr"],
    ),
    ("spurious", &["spurious"]),
    ("accept", &["accept-aborted", "accept-emfile"]),
    ("reset", &["read-reset", "write-reset"]),
];

fn seeds() -> String {
    common::count_from_env("MUXSIM_SERVER_SEEDS", 100).to_string()
}

/// Records the clients against the server, runs the recording under the default faults, and
/// asserts that every family fired and every seed passed, or failed only as `known` says (a
/// bucket's kind, and words of its message and of the server's output).
fn recorded_session_passes(server: RealServer, clients: &[Client], known: Option<[&str; 3]>) {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join(format!("{}.txn", server.program));
    let text = record(&server, clients, &fixture);
    assert!(!text.contains("\nservice "), "{text}");

    let out = muxsim()
        .arg("run")
        .arg(&fixture)
        .args(["--seeds", &seeds(), "--format", "json", "--out"])
        .arg(dir.path().join("failures"))
        .arg("--")
        .arg(server.program)
        .args(&server.args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    let buckets = report["buckets"].as_array().unwrap();
    let all_known = buckets.iter().all(|b| {
        known.is_some_and(|[kind, message, output]| {
            b["example"]["kind"] == kind
                && b["example"]["message"].as_str().unwrap().contains(message)
                && b["example"]["output"].to_string().contains(output)
        })
    });
    assert!(
        all_known && out.status.code() == Some(if buckets.is_empty() { 0 } else { 1 }),
        "{} failed under the default faults:\n{report:#}\n{stderr}\n{text}",
        server.program
    );
    let injected = report["injected"].as_object().unwrap();
    for (family, faults) in FAMILIES {
        assert!(
            faults.iter().any(|f| injected.get(*f).is_some()),
            "no {family} fault reached {}: {injected:?}",
            server.program
        );
    }
}

fn client(exchanges: &[(&[u8], &[u8])]) -> Client {
    Client {
        exchanges: exchanges
            .iter()
            .map(|(q, a)| (q.to_vec(), a.to_vec()))
            .collect(),
        server_closes: false,
    }
}

#[test]
fn a_recorded_http_session_with_nginx_passes_every_fault() {
    let _watchdog = common::watchdog("nginx", Duration::from_secs(240));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    // A body larger than a socket's buffer, from a file, written with writev (not sendfile,
    // which the library does not fault).
    let big = "x".repeat(300_000);
    let Some(server) = RealServer::on_free_port("nginx", |port| {
        std::fs::write(dir.path().join("big"), &big).unwrap();
        // One process (no master, one worker's loop): the one muxsim's library watches.
        let conf = format!(
            "daemon off; master_process off; worker_processes 1; error_log stderr; pid {root}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; server_tokens off; sendfile off;\n\
               client_body_temp_path {root}; proxy_temp_path {root}; fastcgi_temp_path {root};\n\
               uwsgi_temp_path {root}; scgi_temp_path {root};\n\
               server {{ listen 127.0.0.1:{port};\n\
                 location / {{ return 200 \"hello from nginx\\n\"; }}\n\
                 location /big {{ root {root}; }} }} }}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        words(&["-c", &conf_path.display().to_string(), "-p", &root])
    }) else {
        return;
    };
    // Simple requests (HTTP/0.9): the answer is the body alone, with no `Date` header that
    // would differ from the recording, and nginx closes after it.
    let mut clients = vec![
        client(&[(b"GET /\r\n", b"hello from nginx\n")]),
        client(&[(b"GET /big\r\n", big.as_bytes())]),
        client(&[(b"GET /other\r\n", b"hello from nginx\n")]),
    ];
    for c in &mut clients {
        c.server_closes = true;
    }
    recorded_session_passes(server, &clients, None);
}

#[test]
fn a_recorded_memcached_session_passes_every_fault() {
    let _watchdog = common::watchdog("memcached", Duration::from_secs(240));
    // `-u root`: memcached refuses to run as root without it, and ignores it otherwise.
    let Some(server) = RealServer::on_free_port("memcached", |port| {
        let port = port.to_string();
        words(&[
            "-l",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "0",
            "-t",
            "1",
            "-u",
            "root",
        ])
    }) else {
        return;
    };
    // Each client its own key, so the answers do not depend on how clients interleave.
    let clients: Vec<Client> = ["a", "b", "c"]
        .iter()
        .map(|k| {
            let set = format!("set {k} 0 0 5\r\nhello\r\n");
            let get = format!("get {k}\r\n");
            let value = format!("VALUE {k} 0 5\r\nhello\r\nEND\r\n");
            let delete = format!("delete {k}\r\n");
            client(&[
                (set.as_bytes(), b"STORED\r\n"),
                (get.as_bytes(), value.as_bytes()),
                (delete.as_bytes(), b"DELETED\r\n"),
                (get.as_bytes(), b"END\r\n"),
            ])
        })
        .collect();
    recorded_session_passes(server, &clients, None);
}

/// Redis retries `accept` at once when it fails with `EMFILE` (its listener stays readable),
/// so at its descriptor limit it spins, logging each failure; it guards against reaching the
/// limit with `maxclients`, below the limit it sets. That is the one alarm muxsim raises.
#[test]
fn a_recorded_pipelined_redis_session_passes_every_fault() {
    let _watchdog = common::watchdog("redis", Duration::from_secs(240));
    let Some(server) = RealServer::on_free_port("redis-server", |port| {
        let port = port.to_string();
        words(&[
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ])
    }) else {
        return;
    };
    fn command(words: &[&str]) -> String {
        let mut out = format!("*{}\r\n", words.len());
        for w in words {
            out += &format!("${}\r\n{w}\r\n", w.len());
        }
        out
    }
    // Three commands in one send (pipelined), then an inline one.
    let clients: Vec<Client> = ["ka", "kb", "kc"]
        .iter()
        .map(|k| {
            let pipelined =
                command(&["SET", k, "hello"]) + &command(&["GET", k]) + &command(&["DEL", k]);
            client(&[
                (pipelined.as_bytes(), b"+OK\r\n$5\r\nhello\r\n:1\r\n"),
                (b"PING\r\n", b"+PONG\r\n"),
            ])
        })
        .collect();
    recorded_session_passes(
        server,
        &clients,
        Some(["busy-loop", "failed accepts", "Too many open files"]),
    );
}
