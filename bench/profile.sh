#!/usr/bin/env bash
# Profiles one benchmark workload with perf: a server child and a client child as in
# rpcnet-bench, `perf record` (cpu-clock, DWARF call graphs) on both, then a short report.
#
# Usage: bench/profile.sh KIND MODE SIZE CONCURRENCY [OUT_DIR]
#   KIND        rpcnet | tonic | quinn
#   MODE        unary | stream            (as `rpcnet-bench client --mode`)
#   SIZE        payload bytes (64, 65536, ...)
#   CONCURRENCY callers (unary) or 1 (stream)
#   OUT_DIR     where server.data, client.data and the reports go (default target/profile)
# Example: bench/profile.sh rpcnet unary 64 64
#
# Needs perf (Debian: linux-perf) and permission to profile (root, or
# kernel.perf_event_paranoid <= 1). Uses BENCH_BIN if set, else builds the release binary.
# Hardware counters are not needed: cpu-clock sampling works inside VMs that have none.
set -euo pipefail

if [[ $# -lt 4 ]]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
kind=$1 mode=$2 size=$3 concurrency=$4
out=${5:-target/profile}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }
if [[ -z ${BENCH_BIN:-} ]]; then
  (cd "$root" && cargo build --release --locked -p rpcnet-bench)
  BENCH_BIN="$root/${CARGO_TARGET_DIR:-target}/release/rpcnet-bench"
fi
mkdir -p "$out"

coproc SERVER { exec "$BENCH_BIN" server --kind "$kind" --certs "$root/certs"; }
server_pid=$SERVER_PID
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
read -r line <&"${SERVER[0]}"
addr=${line#listening }

# The server is sampled for 3 s inside the client's 5 s run (after its 0.5 s warm-up).
perf record -q -F 1000 --call-graph dwarf,16384 -e cpu-clock -p "$server_pid" \
  -o "$out/server.data" -- sleep 3 >/dev/null 2>&1 &
recorder=$!
perf record -q -F 1000 --call-graph dwarf,16384 -e cpu-clock -o "$out/client.data" -- \
  "$BENCH_BIN" client --kind "$kind" --mode "$mode" --addr "$addr" --server-pid "$server_pid" \
  --size "$size" --concurrency "$concurrency" --warmup-ms 500 --duration-ms 5000 \
  --certs "$root/certs" >"$out/client.json"
wait "$recorder"

for side in server client; do
  perf report -i "$out/$side.data" --no-children --sort dso,symbol --stdio -g none \
    2>/dev/null | grep -v '^#' | grep '%' | sed -n '1,40p' >"$out/$side.top.txt"
done
echo "profile.sh: $kind $mode size=$size c=$concurrency -> $out"
echo "client result: $(cat "$out/client.json")"
echo "server, top self time ($out/server.top.txt):"
sed -n '1,15p' "$out/server.top.txt" | cut -c1-140
echo "inclusive call graphs: perf report -i $out/server.data --children"
