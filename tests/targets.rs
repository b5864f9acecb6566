//! Targets: one scenario played in the simulator and over real sockets, judged in one
//! vocabulary of failures, and shrunk by one shrinker whichever target plays it.

use std::net::TcpListener;
use std::time::Duration;

use muxsim::check::{Played, Simulator, Sockets, Target, shrink_on};
use muxsim::core::echo::Echo;
use muxsim::driver::Config;
use muxsim::tcp::ServerHandle;
use muxsim::world::Verdict;
use muxsim::{FailureKind, Registry, Scenario, transcript};

fn scenario(text: &str) -> Scenario {
    let parsed = transcript::parse(text).expect("the transcript parses");
    Scenario::from_transcript(&parsed, &Registry::builtin()).expect("the scenario builds")
}

fn echo_server() -> ServerHandle {
    ServerHandle::start(Echo::default(), Config::default()).expect("the server starts")
}

fn sockets(server: &ServerHandle) -> Sockets {
    Sockets::new(server.addr()).timeout(Duration::from_millis(500))
}

const GOOD: &str = "service echo

a connect
b connect
a recv \"hello\"
b recv \"hello\"
a send \"a1\"
b send \"b1\"
b recv \"b1response\"
a recv \"a1response\"
a close
b close
";

/// Client b expects a wrong answer; a and c are bystanders the shrinker can drop.
const WRONG: &str = "service echo

a connect
b connect
c connect
a recv \"hello\"
b recv \"hello\"
c recv \"hello\"
a send \"a1\"
a recv \"a1response\"
c send \"c1\"
c recv \"c1response\"
b send \"ping\"
b recv \"pingRESPONSE\"
a close
b close
c close
";

#[test]
fn a_correct_play_passes_in_the_simulator_and_over_real_sockets() {
    let s = scenario(GOOD);
    let sim = Simulator.play(&s).unwrap();
    assert!(sim.verdict().is_pass(), "{}", sim.verdict());
    assert_eq!(sim.clients().len(), 2);
    let server = echo_server();
    let real = sockets(&server).play(&s).unwrap();
    assert!(real.verdict().is_pass(), "{}", real.verdict());
    assert_eq!(real.clients().len(), 2);
    assert_eq!(
        real.clients()[0].received,
        b"helloa1response",
        "the timeline over real sockets keeps what arrived"
    );
}

#[test]
fn a_wrong_answer_is_a_mismatch_of_the_same_client_on_every_target() {
    let s = scenario(WRONG);
    let server = echo_server();
    let targets: [(&str, Box<dyn Target>); 2] = [
        ("simulator", Box::new(Simulator)),
        ("sockets", Box::new(sockets(&server))),
    ];
    for (name, mut target) in targets {
        let played = target.play(&s).unwrap();
        let failure = played.failure().unwrap_or_else(|| panic!("{name}: passed"));
        assert_eq!(failure.kind(), FailureKind::Mismatch, "{name}: {failure}");
        assert_eq!(failure.client(), Some("b"), "{name}: {failure}");
        assert!(played.signature().unwrap().starts_with("mismatch: "));
    }
}

#[test]
fn a_server_that_is_not_there_is_a_connect_failure() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let played = Sockets::new(addr)
        .timeout(Duration::from_millis(300))
        .play(&scenario(GOOD))
        .unwrap();
    let failure = played.failure().expect("nobody listens");
    assert_eq!(failure.kind(), FailureKind::Connect, "{failure}");
    assert_eq!(failure.kind().name(), "connect");
}

#[test]
fn one_shrinker_drops_the_bystanders_on_every_target_and_keeps_the_signature() {
    let s = scenario(WRONG);
    let server = echo_server();
    let targets: [(&str, Box<dyn Target>); 2] = [
        ("simulator", Box::new(Simulator)),
        ("sockets", Box::new(sockets(&server))),
    ];
    for (name, mut target) in targets {
        let wanted = target.play(&s).unwrap().signature().unwrap();
        let (small, played) = shrink_on(target.as_mut(), s.clone(), &wanted, 200).unwrap();
        let played = played.unwrap_or_else(|| panic!("{name}: nothing smaller failed"));
        assert_eq!(
            played.signature().as_deref(),
            Some(wanted.as_str()),
            "{name}"
        );
        let names: Vec<&str> = small.play.clients.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b"], "{name}: only the failing client is left");
        assert!(small.play.size() < s.play.size(), "{name}");
        // What the shrinker returns still fails the same way when played again.
        let again = target.play(&small).unwrap();
        assert_eq!(again.signature(), Some(wanted), "{name}");
    }
}

/// A target of the user's own: here one that counts plays and fails any play with more than
/// one client. The shrinker needs nothing else.
struct Crowded {
    plays: usize,
}

impl Target for Crowded {
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
        self.plays += 1;
        let n = scenario.play.clients.len();
        Ok(Played::new(if n > 1 {
            Verdict::Fail(muxsim::world::Failure::observed(
                FailureKind::Leak,
                None,
                "leak: more than one client",
            ))
        } else {
            Verdict::Pass
        }))
    }
}

#[test]
fn a_users_own_target_shrinks_within_its_budget() {
    let s = scenario(WRONG);
    let mut crowded = Crowded { plays: 0 };
    let wanted = crowded.play(&s).unwrap().signature().unwrap();
    assert_eq!(wanted, "leak: more than one client");
    let (small, played) = shrink_on(&mut crowded, s.clone(), &wanted, 1_000).unwrap();
    assert_eq!(
        small.play.clients.len(),
        2,
        "two clients is the least that fails"
    );
    assert!(played.is_some());
    let mut tight = Crowded { plays: 0 };
    let _ = shrink_on(&mut tight, s, &wanted, 3).unwrap();
    assert_eq!(tight.plays, 3, "the budget bounds the plays");
}

/// A target that cannot play at all stops the shrinker with its error.
struct Gone;

impl Target for Gone {
    fn play(&mut self, _: &Scenario) -> Result<Played, String> {
        Err("the server will not start".to_string())
    }
}

#[test]
fn a_target_that_cannot_play_stops_the_shrinker_with_its_error() {
    let err = shrink_on(&mut Gone, scenario(WRONG), "mismatch: x", 10).unwrap_err();
    assert_eq!(err, "the server will not start");
}

#[test]
fn the_simulator_reports_the_faults_that_fired_as_transcript_lines() {
    let s = scenario(
        "service lines\n\na connect\na recv \"hello\\n\"\n! a short-read 2\na send \"one\\n\"\na recv \"oneresponse\\n\"\na close\n",
    );
    let played = Simulator.play(&s).unwrap();
    assert!(played.verdict().is_pass(), "{}", played.verdict());
    let faults: Vec<(Option<&str>, &str)> = played
        .faults()
        .iter()
        .map(|f| (f.client(), f.spec().name()))
        .collect();
    assert_eq!(faults, [(Some("a"), "short-read")]);
}

#[test]
fn a_wait_longer_than_the_timeout_is_cut_and_said() {
    let s = scenario("service echo\n\na connect\na recv \"hello\"\na wait 10s\na close\n");
    let server = echo_server();
    let played = sockets(&server).play(&s).unwrap();
    assert!(played.verdict().is_pass(), "{}", played.verdict());
    assert_eq!(played.notes(), ["client a: `wait 10s` cut to 500ms"]);
}

#[test]
fn over_real_sockets_the_oracle_waits_for_what_is_owed_and_judges_it() {
    let server = echo_server();
    // No `recv` steps: only the oracle knows "pingresponse" is owed, and the play settles
    // once it has come.
    let owed = "service echo\noracle on\n\na connect\na send \"ping\"\n";
    let played = sockets(&server).play(&scenario(owed)).unwrap();
    assert!(played.verdict().is_pass(), "{}", played.verdict());
    assert_eq!(played.clients()[0].received, b"hellopingresponse");
    // The line service's oracle against an echo server: the answers are wrong, and the
    // oracle says so; without `oracle on` nothing is judged.
    let wrong = "service lines\noracle on\n\na connect\na send \"x\\n\"\n";
    let played = sockets(&server).play(&scenario(wrong)).unwrap();
    let failure = played.failure().expect("the oracle fails it");
    assert_eq!(failure.kind(), FailureKind::Oracle, "{failure}");
    let unjudged = wrong.replace("oracle on\n", "");
    let played = sockets(&server).play(&scenario(&unjudged)).unwrap();
    assert!(played.verdict().is_pass(), "{}", played.verdict());
}

/// Fails while client `b` is there, and, once `a` is gone, only if `b` is down to its
/// connect: dropping `a` needs a second pass, after `b`'s steps went.
struct Needy;

impl Target for Needy {
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
        let clients = &scenario.play.clients;
        let b = clients.iter().find(|c| c.name == "b");
        let a = clients.iter().any(|c| c.name == "a");
        let fails = b.is_some_and(|b| a || b.entries.len() <= 1);
        Ok(Played::new(if fails {
            Verdict::Fail(muxsim::world::Failure::observed(
                FailureKind::Hang,
                Some("b"),
                "hang: client b",
            ))
        } else {
            Verdict::Pass
        }))
    }
}

#[test]
fn shrinking_goes_on_while_a_pass_still_takes_something_away() {
    let s = scenario(WRONG);
    let wanted = Needy.play(&s).unwrap().signature().unwrap();
    assert_eq!(
        wanted, "hang: client _",
        "a client's name never splits a bucket"
    );
    let (small, _) = shrink_on(&mut Needy, s, &wanted, 1_000).unwrap();
    let names: Vec<&str> = small.play.clients.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["b"]);
    assert_eq!(small.play.clients[0].entries.len(), 1);
}

/// A fresh in-process echo server for every play, reached over real sockets.
struct FreshEcho;

impl Target for FreshEcho {
    fn play(&mut self, scenario: &Scenario) -> Result<Played, String> {
        let server = echo_server();
        Sockets::new(server.addr()).play(scenario)
    }
}

#[test]
fn a_campaign_runs_on_real_servers_and_a_correct_service_passes_there() {
    let report = muxsim::Campaign::builtin("echo")
        .unwrap()
        .seeds(0, 12)
        .faults(muxsim::FaultFamilies::NONE)
        .jobs(2)
        .run_on(|| FreshEcho);
    assert_eq!(report.seeds_run(), 12);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_campaign_on_a_users_target_buckets_and_shrinks_there() {
    let report = muxsim::Campaign::builtin("echo")
        .unwrap()
        .seeds(100, 8)
        .clients(3)
        .run_on(|| Crowded { plays: 0 });
    assert_eq!(report.seeds_run(), 8);
    assert_eq!(report.failed_seeds(), 8);
    assert_eq!(report.buckets().len(), 1, "{report}");
    let bucket = &report.buckets()[0];
    assert_eq!(bucket.signature(), "leak: more than one client");
    assert_eq!(bucket.count(), 8);
    assert_eq!(
        bucket.example().seed(),
        100,
        "the lowest seed is the example"
    );
    let minimal = bucket.example().minimal().expect("shrunk").to_string();
    let clients: std::collections::BTreeSet<&str> = minimal
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('!') && l.contains(' '))
        .filter_map(|l| l.split(' ').next())
        .filter(|w| w.len() == 1)
        .collect();
    assert_eq!(
        clients.len(),
        2,
        "two clients is the least that fails:\n{minimal}"
    );
    assert!(
        minimal.starts_with("# leak: more than one client\n"),
        "{minimal}"
    );
    assert!(minimal.contains("seed 100"), "{minimal}");
}

/// Under `oracle on`, the clients have no `recv` lines: what they are owed is the oracle's.
const OWED_BY_ORACLE: &str = "service echo
oracle on

a connect
a send \"ping\"
";

#[test]
fn a_file_order_replay_under_the_oracle_reads_what_is_owed_before_it_is_judged() {
    // The file ends before any answer came: the replay reads on until the server is quiet,
    // so that the oracle judged afterwards does not find the client short.
    let scenario = scenario(OWED_BY_ORACLE);
    let parsed = transcript::parse(OWED_BY_ORACLE).unwrap();
    let judge = Some((&scenario.service, &scenario.options));
    let server = echo_server();
    let options = muxsim::tcp::TcpReplayOptions::with_timeout(Duration::from_secs(2));
    let replayed = muxsim::tcp::replay_tcp(&parsed, server.addr(), &options);
    assert!(replayed.verdict(&parsed, judge, None).is_pass());
    assert_eq!(replayed.clients()[0].received, b"hellopingresponse");
}
