use muxsim::check::Campaign;
use muxsim::fault::FaultFamilies;
use muxsim::scenario::Scenario;
use muxsim::transcript::{Header, parse};

#[test]
fn replay_exact() {
    let c = Campaign::builtin(&std::env::var("SVC").unwrap_or("echo".into()))
        .unwrap()
        .clients(4);
    let mut bad = 0;
    for seed in 0..20000u64 {
        let s = c.scenario(seed);
        let (run, _) = c.check(&s);
        let header = vec![
            Header::Service(std::env::var("SVC").unwrap_or("echo".into())),
            Header::Semantics(run.semantics),
            Header::Seed(seed),
            Header::Faults(FaultFamilies::NONE),
        ];
        let t = run.transcript(header.clone(), false);
        let text = t.to_string();
        let t2 = parse(&text).unwrap();
        assert_eq!(t, t2);
        let s2 = Scenario::from_transcript(&t2, None).unwrap();
        let run2 = s2.run();
        let text2 = run2.transcript(header, false).to_string();
        if text != text2 {
            bad += 1;
            if bad < 4 && text.len() < 30000 {
                let a: Vec<&str> = text.lines().collect();
                let b: Vec<&str> = text2.lines().collect();
                let i = a
                    .iter()
                    .zip(&b)
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(b.len()));
                println!(
                    "seed {seed} differs at line {i}\n--- original\n{}\n--- replay\n{}\n",
                    a[..(i + 3).min(a.len())].join("\n"),
                    b[i.saturating_sub(3)..(i + 3).min(b.len())].join("\n")
                );
            }
        }
    }
    assert_eq!(bad, 0);
}
