#!/usr/bin/env bash
# Handler benchmarks (README numbers; nothing here is a test):
#  - one webhook through each handler in process (criterion): receiver (verify + store +
#    enqueue of a signed 2 KB body), processor, audit logger, and the table stream's images;
#    allocations per stage;
#  - ARM64 build time (warm: nothing changed; the cold figure comes from an empty target dir),
#    and zip sizes (wh build);
#  - init time of the receiver bootstrap, process start to first response, against a local
#    Runtime API: native (x86_64 release) and the arm64 build under qemu-user.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wh/target}
eval "$(tools/install.sh)"

cargo bench -q -p wh-runtime --bench pipeline 2>&1 | grep -E -A1 '^(allocations|receiver|processor|audit)'
cargo build -q --release -p prod-receiver -p wh
arm64_target="$CARGO_TARGET_DIR-arm64"
start=$(date +%s.%N)
CARGO_TARGET_DIR="$arm64_target" "$CARGO_TARGET_DIR/release/wh" build specs/prod.yaml --out-dir "$arm64_target/dist" 2>/dev/null
echo "wh build specs/prod.yaml (warm): $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
WH_BOOTSTRAP="$CARGO_TARGET_DIR/release/prod-receiver" \
WH_BOOTSTRAP_ARM64="$arm64_target/lambda/prod-receiver/bootstrap" \
  cargo bench -q -p wh-runtime --bench init
