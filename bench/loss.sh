#!/usr/bin/env bash
# Scenario 7 of rpcnet-bench: unary echo (64 B, one connection) at concurrency 16 under random
# packet loss - rpcnet over HTTP/3, rpcnet over HTTP/2, rpcnet's Auto client (which must end on
# HTTP/3, or the run fails) and tonic - inside a network namespace this script creates and
# removes (loopback only: no traffic leaves the namespace). Loss comes from an iptables
# `statistic` rule on INPUT, so every packet, in either direction, is dropped with the given
# probability (this kernel has no netem). Needs root.
#
#   bench/loss.sh                      # 1 % and 3 %, 5 rounds of 5 s each
#   LOSSES="0 1 3" ROUNDS=3 bench/loss.sh
#
# Environment: LOSSES (percent, space-separated), ROUNDS, DURATION, WARMUP (seconds),
# BENCH_BIN (a built rpcnet-bench; otherwise it is built with cargo --release),
# OUT_DIR (JSON results, default target/rpcnet-bench).
set -euo pipefail
cd "$(dirname "$0")/.."

LOSSES=${LOSSES:-"1 3"}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
OUT_DIR=${OUT_DIR:-target/rpcnet-bench}
NS="rpcnet-bench-loss-$$"

if [[ $(id -u) != 0 ]]; then
  echo "loss.sh: needs root (it creates a network namespace and iptables rules)" >&2
  exit 2
fi
if ! command -v iptables > /dev/null; then
  if command -v apt-get > /dev/null; then
    echo "loss.sh: iptables is missing; installing the Debian package" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables > /dev/null
  else
    echo "loss.sh: iptables is missing" >&2
    exit 2
  fi
fi

if [[ -z ${BENCH_BIN:-} ]]; then
  cargo build --release --locked -p rpcnet-bench
  BENCH_BIN="${CARGO_TARGET_DIR:-target}/release/rpcnet-bench"
fi
BENCH_BIN=$(realpath "$BENCH_BIN")

cleanup() {
  # Rules live in the namespace and go with it.
  ip netns del "$NS" 2> /dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "$OUT_DIR"

status=0
for loss in $LOSSES; do
  ip netns exec "$NS" iptables -F INPUT
  probability=$(awk -v p="$loss" 'BEGIN { printf "%.4f", p / 100 }')
  if [[ $probability != "0.0000" ]]; then
    ip netns exec "$NS" iptables -A INPUT -m statistic --mode random \
      --probability "$probability" -j DROP
  fi
  goals=()
  [[ $loss == 3 ]] && goals=(--loss-goals)
  echo "== ${loss}% random packet loss (namespace $NS)"
  ip netns exec "$NS" "$BENCH_BIN" --scenario 7 --loss "$loss" \
    --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" \
    --label "loss ${loss}%" "${goals[@]}" --json "$OUT_DIR/loss-${loss}pct.json" || status=1
  ip netns exec "$NS" iptables -L INPUT -n -v -x | sed -n '3p' |
    awk '{ if ($1 != "") print "packets dropped by the loss rule: " $1 }'
done
exit $status
