//! The fixtures under `fixtures/` pass against kvstore, and each bug variant fails at least
//! the fixture written for it: the fixtures have teeth.

use std::path::Path;

use kvstore::{Bug, descriptor};
use muxsim::testing::{assert_fixtures, check_fixtures};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
fn every_fixture_passes_against_kvstore() {
    assert_fixtures(fixtures(), &descriptor(None));
}

/// The fixture that pins each bug.
fn fixture_for(bug: Bug) -> &'static str {
    match bug {
        Bug::CrlfSplit => "crlf-split.txn",
        Bug::OffByOne | Bug::NoCloseOnLimit => "line-limit.txn",
        Bug::IdleFromConnect => "idle-timeout.txn",
        Bug::DropsLastLine => "last-line-at-eof.txn",
        Bug::CrossTalk => "keys-per-connection.txn",
        Bug::FirstLineOnly | Bug::AnswersAfterQuit => "pipelined.txn",
        Bug::DelKeeps => "commands.txn",
        Bug::LeaksOnReset => "reset.txn",
    }
}

#[test]
fn each_bug_fails_its_fixture() {
    for bug in Bug::ALL {
        let path = fixtures().join(fixture_for(bug));
        let text = std::fs::read_to_string(&path).unwrap();
        // The same script, aimed at the variant.
        let text = text.replace(
            "service kvstore\n",
            &format!("service {}\n", bug.service_name()),
        );
        let replay = muxsim::scenario::replay_text(&text, &descriptor(Some(bug)))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            !replay.is_ok(),
            "{} passes against {}: {replay}",
            path.display(),
            bug.service_name()
        );
    }
}

#[test]
fn a_failing_fixture_is_reported_with_its_file_and_a_diff() {
    let results = check_fixtures(fixtures(), &descriptor(Some(Bug::DelKeeps)));
    // The variant is another service: every fixture names `kvstore`, so each is refused by
    // name, one result per file.
    assert_eq!(
        results.len(),
        std::fs::read_dir(fixtures()).unwrap().count()
    );
    for result in &results {
        let problem = result.problem().expect("refused");
        assert!(
            problem.contains("the transcript is for service `kvstore`, not `kvstore-del-keeps`"),
            "{problem}"
        );
    }
}
