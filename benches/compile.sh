#!/usr/bin/env bash
# Whole-process benchmark of `wh compile specs/prod.yaml` (release build): median wall time
# over repeated runs (hyperfine) and peak resident memory (GNU time). Targets: median under
# 20 ms, peak under 20 MB. Numbers go in the README; nothing here is a test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wh/target}

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need hyperfine hyperfine
[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

cargo build --release --quiet --bin wh
wh="$CARGO_TARGET_DIR/release/wh"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

hyperfine --warmup 20 --runs 200 --export-json "$out/h.json" -N \
  "$wh compile --quiet --out-dir $out specs/prod.yaml" >/dev/null
median_ms=$(python3 -c "import json,sys; r=json.load(open('$out/h.json'))['results'][0]; print(f\"{r['median']*1000:.2f}\")")
peak_kb=$(/usr/bin/time -f %M "$wh" compile --quiet --out-dir "$out" specs/prod.yaml 2>&1 >/dev/null | tail -1)
echo "wh compile specs/prod.yaml: median ${median_ms} ms over 200 runs, peak RSS $((peak_kb / 1024)).$(( (peak_kb % 1024) * 10 / 1024 )) MiB"
