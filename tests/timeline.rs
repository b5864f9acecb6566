//! The timeline page: one self-contained HTML file per run, pinned by golden tests and opened
//! in a real browser (headless Chromium) to check that it loads without an error, that every
//! connection has a lane, that the failing step is marked and that an event's hover text
//! holds its bytes.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::muxsim;

/// Writes the page of `args` (a `sim` or `replay` command) to a temporary file; the exit
/// code and the page.
fn page(args: &[&str]) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.html");
    let out = muxsim()
        .args(args)
        .arg("--timeline")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timeline: "), "{stderr}");
    let page = std::fs::read_to_string(&path).unwrap();
    (out.status.code(), page, dir)
}

/// The page without its style and script: its structure.
fn structure(page: &str) -> String {
    let start = page.find("<header>").unwrap();
    let end = page.find("</main>").unwrap() + "</main>".len();
    // One element per line, for readable diffs.
    page[start..end].replace("><", ">\n<")
}

fn count(page: &str, needle: &str) -> usize {
    page.matches(needle).count()
}

#[test]
fn pages_of_fixtures_are_pinned_and_self_contained() {
    for fixture in ["seed4-lifo", "echo-reset", "lines-too-long"] {
        let path = format!("fixtures/{fixture}.txn");
        let (code, page, _dir) = page(&["replay", &path]);
        assert_eq!(code, Some(0), "{page}");
        // Nothing from the network: no links, sources, imports or URLs but the SVG namespace
        // and the page's own arrow marker.
        for outside in ["<link", "src=", "href=", "@import", "https://"] {
            assert!(!page.contains(outside), "{fixture}: {outside}");
        }
        assert_eq!(
            count(&page, "http://"),
            1,
            "{fixture}: only the SVG namespace"
        );
        assert_eq!(count(&page, "url("), count(&page, "url(#arrow)"));
        let mut settings = common::snapshot_settings();
        settings.set_snapshot_path(common::root().join("snapshots/views"));
        settings.bind(|| {
            insta::assert_snapshot!(format!("page-{fixture}"), structure(&page));
        });
    }
}

#[test]
fn a_32_client_run_has_a_lane_each_and_its_failure_marked() {
    let (code, page, _dir) = page(&[
        "sim",
        "--service",
        "seed4-literal",
        "--seed",
        "3",
        "--clients",
        "32",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(count(&page, r#"class="label client""#), 32);
    assert_eq!(count(&page, r#"<g id="failure-mark""#), 1);
    assert_eq!(count(&page, " fail\""), 1, "one failing step");
    assert!(page.contains("FAIL: the service panicked"));
    // The event loop's lane has the server's turns, with the calls in their hover text.
    assert!(page.contains("k-server"));
    assert!(page.contains("poll:"));
}

#[test]
fn a_long_run_keeps_its_page_small() {
    // The longest runs the generator makes: many clients, every fault.
    let (_, page, _dir) = page(&[
        "sim",
        "--service",
        "lines",
        "--seed",
        "11",
        "--clients",
        "200",
    ]);
    let events = count(&page, "<g class=\"mark ");
    assert!(events > 2_000, "{events} events");
    assert!(page.len() < 4 << 20, "{} bytes", page.len());
}

/// A headless Chromium, if one is installed.
fn browser() -> Option<PathBuf> {
    let names = [
        "chromium-headless-shell",
        "chrome-headless-shell",
        "chromium",
        "chromium-browser",
        "google-chrome",
    ];
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Runs the browser on `page` with `args`; its standard output and error.
fn render(browser: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1400,1000",
            "--virtual-time-budget=3000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_page_of_a_failing_run_works_in_a_real_browser() {
    let Some(browser) = browser() else {
        // CI installs one (.ci/run) and says so: there the test must run.
        assert!(
            std::env::var_os("MUXSIM_REQUIRE_BROWSER").is_none(),
            "MUXSIM_REQUIRE_BROWSER is set but no headless Chromium was found"
        );
        eprintln!(
            "skipped: no headless Chromium on PATH (apt-get install chromium-headless-shell)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed4.html");
    let out = muxsim()
        .args([
            "sim",
            "--service",
            "seed4-literal",
            "--seed",
            "3",
            "--clients",
            "32",
            "--timeline",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    let (dom, log) = render(&browser, &path, &["--dump-dom"]);
    assert!(
        dom.contains(r#"data-ready="1""#),
        "the script did not finish: {log}"
    );
    assert!(!dom.contains("data-error"), "a script error: {dom}");
    for line in log.lines() {
        assert!(
            !(line.contains("Uncaught") || (line.contains("CONSOLE") && line.contains("rror"))),
            "console: {line}"
        );
    }
    // Every connection has a lane: the clients the page was written with are all in the
    // document the browser built.
    let page = std::fs::read_to_string(&path).unwrap();
    let names: Vec<&str> = page
        .split(r#"<div class="label client" "#)
        .skip(1)
        .filter_map(|rest| rest.split_once('>').and_then(|(_, r)| r.split_once('<')))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names.len(), 32);
    for (i, name) in names.iter().enumerate() {
        let label = format!(
            r#"data-lane="{}" title="click to collapse or expand">{name}<"#,
            i + 2
        );
        assert!(dom.contains(&label), "no lane for {name}");
    }
    // The failing step is marked, with the check's message.
    assert!(dom.contains(r#"id="failure-mark""#));
    assert!(dom.contains("FAIL: the service panicked"));
    // A send's hover text holds its bytes, quoted as the transcript quotes them; the detail
    // panel shows the failing step once the script ran.
    let hover = dom
        .split("<title>")
        .find(|t| t.contains(" send \""))
        .unwrap_or_else(|| panic!("no send in a hover text"));
    // The transcript's first send, as `sim` printed it, is in the page as the browser has it.
    let transcript = String::from_utf8_lossy(&out.stdout);
    let first_send = transcript
        .lines()
        .find(|l| l.contains(" send \""))
        .expect("the run sends something");
    let prefix: String = first_send.chars().take(40).collect();
    assert!(hover.contains(" send \""), "{hover}");
    assert!(dom.contains(&prefix), "{prefix}");
    let detail = dom.split(r#"<pre id="detail">"#).nth(1).unwrap_or_default();
    assert!(!detail.starts_with('\u{200b}'), "the detail panel is empty");

    let png = dir.path().join("seed4.png");
    let (_, log) = render(
        &browser,
        &path,
        &[&format!("--screenshot={}", png.display())],
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot ({e}): {log}"));
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000);
}
