#!/usr/bin/env bash
# A long fuzz campaign, for nightly jobs or a spare machine; not part of `cargo test`.
#
#   ci/fuzz.sh                 # 10,000 seeds per fixed service, every semantics and fault
#   SEEDS=100000 ci/fuzz.sh    # more
#   SHARD=1/4 ci/fuzz.sh       # one quarter of the seeds, for a matrix of 4 jobs
#
# Failures are shrunk to transcripts under fixtures/regressions/ and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${SEEDS:-10000}"
shard="${SHARD:-1/1}"
cargo build --release --quiet
status=0
for service in greet sink ack echo lines; do
  ./target/release/muxsim fuzz --service "$service" --seeds "$seeds" --shard "$shard" \
    --semantics all --faults all || status=1
done
exit "$status"
