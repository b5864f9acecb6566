#!/usr/bin/env bash
# Mutation testing of the event loop and the simulated backend with cargo-mutants: every
# mutant of src/driver.rs and src/backend/sim/ must be caught by the tests that exercise the
# driver (or be argued equivalent in a comment beside the code). Too slow for every push, so
# not part of .ci/run; see docs/mutants.md.
#
#   ci/mutants.sh            # every mutant (hours on 2 cores)
#   ci/mutants.sh 3/8        # shard 3 of 8, counting from 0 (one job of a CI matrix)
#
# Results go to target/mutants/mutants.out/ (caught.txt, missed.txt, timeout.txt, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
shard="${1:-${MUTANTS_SHARD:-0/1}}"
if ! command -v cargo-mutants >/dev/null 2>&1; then
  cargo install cargo-mutants --locked
fi
cargo mutants -p muxsim \
  --file src/driver.rs --file 'src/backend/sim/*.rs' \
  --shard "$shard" --sharding round-robin --profile mutants --timeout 90 -j 1 \
  -o target/mutants \
  -- --lib --test simulator --test robustness --test churn --test backends --test fuzz \
     --test fixtures --test real_tcp
