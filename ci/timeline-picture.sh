#!/usr/bin/env bash
# Draws the README's picture of a timeline page: a real failing run (seed server 4's LIFO
# answers and crash, found by `muxsim fuzz`), rendered by headless Chromium to
# docs/timeline.png. Needs `chromium-headless-shell` (or `chromium`) on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=""
for name in chromium-headless-shell chrome-headless-shell chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then browser="$name"; break; fi
done
if [ -z "$browser" ]; then
  echo "no headless Chromium on PATH: apt-get install chromium-headless-shell" >&2
  exit 2
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo build --release --quiet
# The run of one failing seed with four clients, every server call in the event loop's lane.
./target/release/muxsim sim --service seed4-literal --seed 9 --clients 4 \
  --timeline "$out/run.html" >/dev/null || true
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$out/profile" --window-size=1300,420 --virtual-time-budget=2000 \
  --screenshot="$PWD/docs/timeline.png" "file://$out/run.html" 2>/dev/null
echo "wrote docs/timeline.png"
