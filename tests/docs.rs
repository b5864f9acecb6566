//! The documentation and the command line agree: every `muxsim` command shown in the README
//! and the docs parses, with the flags and values it shows. The example crate's `kvsim` is
//! muxsim's command line with more services, so its commands are parsed the same way.

mod common;

use std::time::Duration;

use assert_cmd::Command as Cmd;

/// Splits a shell command line on whitespace, honouring simple single and double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// The commands of a markdown file's `sh` blocks that run `program`, without comments,
/// pipes and redirections.
fn commands(markdown: &str, program: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for block in markdown.split("```sh").skip(1) {
        let body = block.split("```").next().unwrap();
        for line in body.lines() {
            let line = line.split(" #").next().unwrap();
            let line = line.split(['|', '>', '&', ';']).next().unwrap();
            let mut w = words(line);
            // `cargo run [-p kvstore] [--bin kvsim] [--release] -- ARGS`
            if w.first().is_some_and(|p| p == "cargo")
                && let Some(dash) = w.iter().position(|a| a == "--")
            {
                let bin = w
                    .iter()
                    .position(|a| a == "--bin")
                    .map(|i| w[i + 1].clone())
                    .unwrap_or_else(|| "muxsim".to_string());
                if bin != program && !(program == "muxsim" && bin == "kvsim") {
                    continue;
                }
                w = std::iter::once(bin).chain(w.drain(dash + 1..)).collect();
            }
            let named = |p: &String| p == program || (program == "muxsim" && p == "kvsim");
            if w.first().is_some_and(named) && w.len() > 1 {
                found.push(w[1..].to_vec());
            }
        }
    }
    found
}

fn check(file: &str, program: &str) -> usize {
    let text = std::fs::read_to_string(common::root().join(file)).unwrap();
    let commands = commands(&text, program);
    for args in &commands {
        // `--help` goes before a `--` (after it, words belong to the server's command).
        let mut args = args.clone();
        let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
        args.insert(at, "--help".to_string());
        let out = Cmd::cargo_bin(program)
            .unwrap()
            .current_dir(common::root())
            .args(&args)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: `{program} {}` does not parse:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    commands.len()
}

#[test]
fn every_command_in_the_readme_parses() {
    assert!(check("README.md", "muxsim") >= 10);
}

#[test]
fn every_command_in_the_docs_parses() {
    let mut seen = 0;
    for entry in std::fs::read_dir(common::root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
            seen += check(&name, "muxsim");
        }
    }
    assert!(seen > 0);
}

#[test]
fn the_words_of_a_command_line() {
    assert_eq!(
        words(r#"replay 'a b.txn' --target "127.0.0.1:1" x"#),
        ["replay", "a b.txn", "--target", "127.0.0.1:1", "x"]
    );
    assert_eq!(
        commands(
            "```sh\ncargo run --release -- replay fixtures/  # all\n```\n",
            "muxsim"
        ),
        [vec!["replay".to_string(), "fixtures/".to_string()]]
    );
}
