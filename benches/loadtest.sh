#!/usr/bin/env bash
# The full-size checks (README numbers; not a test): `wh loadtest` against `wh dev` on
# specs/prod.yaml (1000/s, burst 2000, 10/s per IP over 60 s), load generator on the same
# machine, release build.
#   benches/loadtest.sh          # dev mode (burst, throttle, per-ip), then deployed mode against
#                                # wh dev --latency 80ms --waf-mode aws; about 5 minutes
#   benches/loadtest.sh soak     # a 10-minute soak at 1000/s; prints wh dev's peak RSS
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wh/target}
cargo build -q --release -p wh
wh="$CARGO_TARGET_DIR/release/wh"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cd "$work"

# serve NAME SPEC ARGS...: starts wh dev on a free port; sets $url and $pid.
serve() {
  local name=$1 spec=$2
  shift 2
  "$wh" dev "$spec" --port 0 --quiet "$@" > "$name.out" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do grep -q "listening on" "$name.out" 2>/dev/null && break; sleep 0.1; done
  url=$(head -1 "$name.out" | sed 's/.*listening on //')
}

# run SPEC SECRETS ARGS...: wh loadtest, printing the verdict rows and the parts.
run() {
  local spec=$1 secrets=$2
  shift 2
  "$wh" loadtest "$spec" --secrets-file "$secrets" --target "$url/live" "$@" \
    | grep -E '^\| (burst|throttle|per-ip|soak|accepted|excess|other|\(a\)|\(b\)|\(c\)|every|latency) |^Generator' || true
}

cp "$OLDPWD/specs/prod.yaml" prod.yaml
if [[ "${1:-}" == soak ]]; then
  # 1000/s for 10 minutes: the soak runs at a fraction of the API rate, so a copy at 2000/s.
  sed 's|api_rate: 1000/s|api_rate: 2000/s|; s|api_burst: 2000|api_burst: 4000|' prod.yaml > soak.yaml
  serve soak soak.yaml
  run soak.yaml .wh/dev-secrets/soak.json --checks soak --soak-fraction 0.5 --soak-secs 600
  grep -E 'VmHWM|VmRSS' "/proc/$pid/status"
  exit
fi

echo "== wh dev, exact bands"
serve dev prod.yaml
run prod.yaml .wh/dev-secrets/prod.json --checks burst,throttle,per-ip
kill -INT "$pid"

echo "== deployed mode: wh dev --latency 80ms --waf-mode aws"
# The runner exempt for burst and throttle, as the README advises for AWS; per-ip from a
# non-exempt address.
sed 's|^    - 203.0.113.0/24.*|    - 203.0.113.0/24\n    - 127.0.0.1/32|' prod.yaml > exempt.yaml
serve exempt exempt.yaml --latency 80ms --waf-mode aws
run exempt.yaml .wh/dev-secrets/exempt.json --deployed --checks burst,throttle
kill -INT "$pid"
serve aws prod.yaml --latency 80ms --waf-mode aws
run prod.yaml .wh/dev-secrets/prod.json --deployed --checks per-ip
