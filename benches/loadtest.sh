#!/usr/bin/env bash
# The full-size check (README numbers; not a test): `wh loadtest` against `wh dev` on
# specs/prod.yaml (1000/s, burst 2000, 10/s per IP over 60 s), load generator on the same
# machine. Bounded: about a minute and a half.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wh/target}
cargo build -q --release -p wh
wh="$CARGO_TARGET_DIR/release/wh"
work=$(mktemp -d)
trap 'kill -INT "$dev" 2>/dev/null || true; rm -rf "$work"' EXIT
cp specs/prod.yaml "$work/prod.yaml"
cd "$work"
"$wh" dev prod.yaml --port 0 --quiet > dev.out &
dev=$!
for _ in $(seq 50); do grep -q "listening on" dev.out 2>/dev/null && break; sleep 0.1; done
url=$(head -1 dev.out | sed 's/.*listening on //')
"$wh" loadtest prod.yaml --target "$url/live" --throttle-secs 20 | grep -E '^\| (burst|throttle|per-ip) '
