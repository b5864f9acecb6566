//! The one report every campaign prints, whatever played it: `fuzz` (generated and fixture
//! scenarios in the simulator), `run` (a server process under injected faults) and `replay`
//! (fixtures, in the simulator or over real sockets) fill the same shape, written as JSON with
//! a schema version; and the merging of a campaign's shards into one bucketed report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Reach, Report};

/// The version of the report's shape, the same for `fuzz`, `run` and `replay`. Version 1 was
/// `fuzz`'s alone (its version under the key `format`); 2 added what the three share.
pub const SCHEMA: u32 = 2;

fn fuzz() -> String {
    "fuzz".to_string()
}

/// A campaign's report: how many runs, how many failed, the failures bucketed by signature
/// with one example each (its shrunk transcript and the command that plays it again), and,
/// where scenarios were generated, what the generator reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFile {
    /// The shape's version ([`SCHEMA`]).
    #[serde(alias = "format")]
    pub(crate) schema: u32,
    /// The command that made it: `fuzz`, `run` or `replay`.
    #[serde(default = "fuzz")]
    pub(crate) report: String,
    /// What played the scenarios: `simulator`, a real backend, an address, or a process.
    #[serde(default)]
    pub(crate) target: String,
    /// The service the runs were judged as.
    pub(crate) service: String,
    /// The shards this report covers, as `I/N`.
    #[serde(default)]
    pub(crate) shards: Vec<String>,
    /// Runs made: seeds, or fixtures played.
    pub(crate) seeds_run: u64,
    /// Runs that failed.
    pub(crate) failed_seeds: u64,
    /// Whether any part stopped early.
    pub(crate) interrupted: bool,
    /// The failures, one bucket per signature.
    pub(crate) buckets: Vec<BucketFile>,
    /// What the generator tried, where scenarios were generated.
    #[serde(default)]
    pub(crate) reach: Option<Reach>,
}

impl ReportFile {
    /// The shape's version ([`SCHEMA`]).
    pub fn schema(&self) -> u32 {
        self.schema
    }

    /// The command that made it: `fuzz`, `run` or `replay`.
    pub fn report(&self) -> &str {
        &self.report
    }

    /// What played the scenarios: `simulator`, a real backend, an address, or a process.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The service the runs were judged as.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The shards this report covers, as `I/N`.
    pub fn shards(&self) -> &[String] {
        &self.shards
    }

    /// Runs made: seeds, or fixtures played.
    pub fn seeds_run(&self) -> u64 {
        self.seeds_run
    }

    /// Runs that failed.
    pub fn failed_seeds(&self) -> u64 {
        self.failed_seeds
    }

    /// Whether any part stopped early.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// The failures, one bucket per signature.
    pub fn buckets(&self) -> &[BucketFile] {
        &self.buckets
    }

    /// What the generator tried, where scenarios were generated.
    pub fn reach(&self) -> Option<&Reach> {
        self.reach.as_ref()
    }
}

/// One bucket of a report: one bug, however many runs showed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketFile {
    /// The signature: the failure's kind and message, names and numbers normalized.
    pub(crate) signature: String,
    /// The kind of check that fired.
    pub(crate) kind: String,
    /// Runs that failed this way.
    pub(crate) count: u64,
    /// The lowest of their seeds.
    pub(crate) seeds: Vec<u64>,
    /// The lowest seed's failure.
    pub(crate) example: ExampleFile,
    /// The command that plays the example again.
    #[serde(default)]
    pub(crate) reproduce: Option<String>,
}

impl BucketFile {
    /// The signature: the failure's kind and message, names and numbers normalized.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The kind of check that fired.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Runs that failed this way.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The lowest of their seeds.
    pub fn seeds(&self) -> &[u64] {
        &self.seeds
    }

    /// The lowest seed's failure.
    pub fn example(&self) -> &ExampleFile {
        &self.example
    }

    /// The command that plays the example again.
    pub fn reproduce(&self) -> Option<&str> {
        self.reproduce.as_deref()
    }
}

/// The example of a bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExampleFile {
    /// The seed.
    pub(crate) seed: u64,
    /// The fixture it played, when it played one.
    #[serde(default)]
    pub(crate) fixture: Option<String>,
    /// The kind of check that fired.
    #[serde(default)]
    pub(crate) kind: String,
    /// Its readiness semantics, in the simulator.
    #[serde(default)]
    pub(crate) semantics: Option<String>,
    /// What failed.
    pub(crate) message: String,
    /// The minimal transcript, when there is one.
    pub(crate) transcript: Option<String>,
    /// Where the transcript was written, if it was.
    pub(crate) path: Option<String>,
    /// The server's last words, when a process was run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) output: Vec<String>,
}

impl ExampleFile {
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The fixture it played, when it played one.
    pub fn fixture(&self) -> Option<&str> {
        self.fixture.as_deref()
    }

    /// The kind of check that fired.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Its readiness semantics, in the simulator.
    pub fn semantics(&self) -> Option<&str> {
        self.semantics.as_deref()
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The minimal transcript, when there is one.
    pub fn transcript(&self) -> Option<&str> {
        self.transcript.as_deref()
    }

    /// Where the transcript was written, if it was.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The server's last words, when a process was run.
    pub fn output(&self) -> &[String] {
        &self.output
    }
}

/// The kind a signature names (`kind: message`).
pub fn kind_of(signature: &str) -> &str {
    signature.split(':').next().unwrap_or_default()
}

impl Report {
    /// The report as a file, for the shard `shard` (`I/N`).
    pub fn to_file(&self, shard: (u64, u64)) -> ReportFile {
        ReportFile {
            schema: SCHEMA,
            report: fuzz(),
            target: "simulator".to_string(),
            service: self.service.clone(),
            shards: vec![format!("{}/{}", shard.0, shard.1)],
            seeds_run: self.seeds_run,
            failed_seeds: self.failed_seeds,
            interrupted: self.interrupted,
            buckets: self
                .buckets
                .iter()
                .map(|b| BucketFile {
                    signature: b.signature.clone(),
                    kind: b.example.failure.kind().to_string(),
                    count: b.count,
                    seeds: b.seeds.clone(),
                    example: ExampleFile {
                        seed: b.example.seed,
                        fixture: None,
                        kind: b.example.failure.kind().to_string(),
                        semantics: Some(b.example.semantics.name().to_string()),
                        message: b.example.failure.to_string(),
                        transcript: b.example.minimal.as_ref().map(ToString::to_string),
                        path: None,
                        output: Vec::new(),
                    },
                    reproduce: None,
                })
                .collect(),
            reach: Some(self.reach.clone()),
        }
    }
}

/// Why reports cannot be merged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// No report was given.
    #[error("no report to merge")]
    Empty,
    /// The reports are of different services.
    #[error("reports of different services: `{0}` and `{1}`")]
    Services(String, String),
    /// A report of a schema this version does not read.
    #[error("a report of schema {0}; this muxsim reads schemas 1 to {SCHEMA}")]
    Format(u32),
    /// A report of a command whose runs are not sharded.
    #[error("a report of `{0}`; only `fuzz` reports are merged")]
    Command(String),
    /// The same shard twice.
    #[error("shard {0} appears twice")]
    Duplicate(String),
}

/// Merges the reports of a campaign's shards: seeds and failures add up, buckets with one
/// signature become one, each keeping its lowest seed's example.
pub fn merge(files: &[ReportFile]) -> Result<ReportFile, MergeError> {
    let first = files.first().ok_or(MergeError::Empty)?;
    let mut merged = ReportFile {
        schema: SCHEMA,
        report: fuzz(),
        target: first.target.clone(),
        service: first.service.clone(),
        shards: Vec::new(),
        seeds_run: 0,
        failed_seeds: 0,
        interrupted: false,
        buckets: Vec::new(),
        reach: None,
    };
    let mut reach: Option<Reach> = None;
    let mut buckets: BTreeMap<String, BucketFile> = BTreeMap::new();
    for file in files {
        if !(1..=SCHEMA).contains(&file.schema) {
            return Err(MergeError::Format(file.schema));
        }
        if file.report != "fuzz" {
            return Err(MergeError::Command(file.report.clone()));
        }
        if file.service != merged.service {
            return Err(MergeError::Services(
                merged.service.clone(),
                file.service.clone(),
            ));
        }
        for shard in &file.shards {
            if merged.shards.contains(shard) {
                return Err(MergeError::Duplicate(shard.clone()));
            }
            merged.shards.push(shard.clone());
        }
        merged.seeds_run += file.seeds_run;
        merged.failed_seeds += file.failed_seeds;
        merged.interrupted |= file.interrupted;
        if let Some(r) = &file.reach {
            reach.get_or_insert_with(Reach::default).absorb(r);
        }
        for bucket in &file.buckets {
            match buckets.get_mut(&bucket.signature) {
                Some(existing) => {
                    existing.count += bucket.count;
                    existing.seeds.extend(&bucket.seeds);
                    existing.seeds.sort_unstable();
                    existing.seeds.dedup();
                    existing.seeds.truncate(super::sweep::SEEDS_LISTED);
                    if bucket.example.seed < existing.example.seed {
                        existing.example = bucket.example.clone();
                    }
                }
                None => {
                    buckets.insert(bucket.signature.clone(), bucket.clone());
                }
            }
        }
    }
    merged.shards.sort();
    merged.reach = reach;
    merged.buckets = buckets.into_values().collect();
    merged.buckets.sort_by_key(|b| b.example.seed);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(shard: &str, seeds: u64, buckets: Vec<(&str, u64, u64)>) -> ReportFile {
        ReportFile {
            schema: SCHEMA,
            report: fuzz(),
            target: "simulator".to_string(),
            service: "echo".to_string(),
            shards: vec![shard.to_string()],
            seeds_run: seeds,
            failed_seeds: buckets.iter().map(|b| b.1).sum(),
            interrupted: false,
            buckets: buckets
                .into_iter()
                .map(|(sig, count, seed)| BucketFile {
                    signature: sig.to_string(),
                    kind: "oracle".to_string(),
                    count,
                    seeds: vec![seed],
                    example: ExampleFile {
                        seed,
                        fixture: None,
                        kind: "oracle".to_string(),
                        semantics: Some("poll".to_string()),
                        message: sig.to_string(),
                        transcript: None,
                        path: None,
                        output: Vec::new(),
                    },
                    reproduce: None,
                })
                .collect(),
            reach: Some(Reach::default()),
        }
    }

    #[test]
    fn shards_merge_into_one_bucketed_report() {
        let merged = merge(&[
            file("2/2", 50, vec![("lifo", 3, 11), ("panic", 1, 7)]),
            file("1/2", 50, vec![("lifo", 2, 4)]),
        ])
        .unwrap();
        assert_eq!(merged.shards, vec!["1/2", "2/2"]);
        assert_eq!(merged.seeds_run, 100);
        assert_eq!(merged.failed_seeds, 6);
        assert_eq!(merged.buckets.len(), 2);
        let lifo = merged
            .buckets
            .iter()
            .find(|b| b.signature == "lifo")
            .unwrap();
        assert_eq!((lifo.count, lifo.example.seed), (5, 4));
        assert_eq!(lifo.seeds, vec![4, 11]);
        assert_eq!(merged.buckets[0].example.seed, 4, "ordered by lowest seed");
    }

    #[test]
    fn merging_refuses_what_does_not_belong_together() {
        let mut other = file("1/2", 1, vec![]);
        other.service = "lines".to_string();
        assert!(matches!(
            merge(&[file("2/2", 1, vec![]), other]),
            Err(MergeError::Services(..))
        ));
        assert_eq!(
            merge(&[file("1/2", 1, vec![]), file("1/2", 1, vec![])]),
            Err(MergeError::Duplicate("1/2".to_string()))
        );
        assert_eq!(merge(&[]), Err(MergeError::Empty));
    }
}
