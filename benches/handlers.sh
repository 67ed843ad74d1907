#!/usr/bin/env bash
# Handler benchmarks (README numbers; nothing here is a test):
#  - receiver CPU per request, verification + store + enqueue of a signed 2 KB body (criterion);
#  - init time of the native receiver bootstrap, process start to first response, against a
#    local Runtime API.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wh/target}

cargo bench -q -p wh-runtime --bench receiver 2>&1 | grep -A1 '^receiver:'
cargo build -q --release -p prod-receiver
WH_BOOTSTRAP="$CARGO_TARGET_DIR/release/prod-receiver" cargo bench -q -p wh-runtime --bench init
