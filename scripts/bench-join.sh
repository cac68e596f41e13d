#!/usr/bin/env bash
# Join throughput over HTTP on loopback, next to a bare net/http handler answering a fixed body
# of the same size and a handler that only signs (the Ed25519 floor), loaded by wrk in the
# same run (docs/benchmarks.md, "Join throughput"), and the same directory with the evidence
# log on (docs/benchmarks.md, "Evidence log").
# Usage: scripts/bench-join.sh [DURATION] [CONNECTIONS] [STORE]   (STORE: memory, the default, or etcd)
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
conns=${2:-32}
store=${3:-memory}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bin=$(mktemp)
go build -o "$bin" ./internal/benchserver
out=$(mktemp)
"$bin" -store "$store" >"$out" &
pid=$!
# A file of this run's own: another checkout may run the same script at the same time.
lua=$(mktemp --suffix=.lua)
trap 'kill $pid 2>/dev/null; rm -f "$out" "$lua" "$bin"' EXIT
for _ in $(seq 50); do grep -q body_bytes "$out" && break; sleep 0.1; done
dir=$(sed -n 's/^directory=//p' "$out"); bare=$(sed -n 's/^bare=//p' "$out"); signonly=$(sed -n 's/^signonly=//p' "$out"); meeting=$(sed -n 's/^meeting=//p' "$out")
audit=$(sed -n 's/^audit=//p' "$out"); audit_meeting=$(sed -n 's/^audit_meeting=//p' "$out")
cat >"$lua" <<LUA
wrk.method = "POST"
wrk.body = '{"account":"acme"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Forwarded-For"] = "203.0.113.7"
LUA
echo "== bare net/http handler (fixed $(sed -n 's/^body_bytes=//p' "$out")-byte JSON body)"
wrk -t2 -c"$conns" -d"$dur" --latency -s "$lua" "$bare/v1/meetings/$meeting/join"
echo "== sign-only handler (ed25519.Sign of the sample ticket, then the fixed body): the floor"
wrk -t2 -c"$conns" -d"$dur" --latency -s "$lua" "$signonly/v1/meetings/$meeting/join"
echo "== directory join (store: $store)"
wrk -t2 -c"$conns" -d"$dur" --latency -s "$lua" "$dir/v1/meetings/$meeting/join"
echo "== directory join, evidence log on (asynchronous, batched)"
wrk -t2 -c"$conns" -d"$dur" --latency -s "$lua" "$audit/v1/meetings/$audit_meeting/join"
echo "== directory join, evidence log off, again (the machine has not drifted)"
wrk -t2 -c"$conns" -d"$dur" --latency -s "$lua" "$dir/v1/meetings/$meeting/join"
