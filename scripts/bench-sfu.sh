#!/usr/bin/env bash
# The media server next to LiveKit, under the same synthetic load in the same run
# (docs/benchmarks.md, "Media server"): for each scenario, a livekit-server (single node, dev
# keys, rtc.node_ip 127.0.0.1, congestion control off as the Geofence server has none) driven
# by scripts/bench-sfu/livekit, then `geofence dev` driven by `geofence loadtest`, with the
# same publishers, subscribers, bit rate and frame rate, simulcast off. For each server it
# reports the CPU time the server process used over the measured window (utime + stime of
# /proc/PID/stat, sampled when the load driver prints "measure start" and "measure end"),
# the forwarded Mbit/s (RTP bytes, header and payload, the participants received), the CPU per
# forwarded Mbit/s, the subscribed tracks per core and the loss, then the ratio geofence /
# LiveKit; "idle" is each server's cores over 3 s before the load (geofence dev also runs the
# directory, every DC's agent and the key servers in its process).
#
# Not part of the tests: it builds livekit-server (go install, pinned), takes minutes, and
# wants a quiet machine.
#
# Usage: scripts/bench-sfu.sh [DURATION] [BITRATE] [FPS] [SCENARIO...]
#   SCENARIO is PUBLISHERSxSUBSCRIBERS, default "1x50 8x0": one publisher to 50 subscribers,
#   and an 8-by-8 meeting (8 publishers, each receiving the 7 others: 56 subscribed tracks).
#   Publishers always receive each other's tracks, as in a meeting. "bridge" measures the
#   cost of a bridge hop on geofence alone.
#   LIVEKIT_VERSION (default v1.9.11), BENCH_BIN (default ~/.cache/geofence-bench-sfu) and
#   SERVERS ("livekit geofence") may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-30s}
bitrate=${2:-1M}
fps=${3:-30}
shift $(( $# < 3 ? $# : 3 ))
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(1x50 8x0)
lkver=${LIVEKIT_VERSION:-v1.9.11}
servers=${SERVERS:-livekit geofence}
bin=${BENCH_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/geofence-bench-sfu}/$lkver
mkdir -p "$bin"
command -v jq >/dev/null || { echo "bench-sfu: jq is required" >&2; exit 2; }

# Builds: LiveKit from its own module at the pinned version, the LiveKit load driver from its
# own module (LiveKit's dependencies never enter Geofence's go.mod), geofence from here.
if [ ! -x "$bin/server" ]; then
	echo "== building livekit-server $lkver (once; kept in $bin)" >&2
	GOBIN="$bin" go install "github.com/livekit/livekit-server/cmd/server@$lkver"
fi
(cd scripts/bench-sfu/livekit && go build -o "$bin/livekit-load" .)
work=$(mktemp -d)
go build -o "$work/geofence" ./cmd/geofence
srv_pid=""
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

hz=$(getconf CLK_TCK)
# cpu_ticks PID: utime + stime (fields 14 and 15 of /proc/PID/stat; the command name, field 2,
# may hold spaces, so count from the closing parenthesis).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

free_port() {
	local p
	while :; do
		p=$(( 20000 + RANDOM % 40000 ))
		if ! (ss -Htuln 2>/dev/null | awk '{print $5}' | grep -q ":$p\$"); then echo "$p"; return; fi
	done
}

# measure PID LOG: waits for the driver's "measure start" and "measure end" lines in LOG and
# prints the server's CPU seconds between them.
measure() {
	local pid=$1 log=$2 t0 t1
	until grep -q "measure start" "$log" 2>/dev/null; do
		kill -0 "$driver_pid" 2>/dev/null || { echo "bench-sfu: the load driver ended before measuring:" >&2; tail -20 "$log" >&2; return 1; }
		sleep 0.05
	done
	t0=$(cpu_ticks "$pid")
	until grep -q "measure end" "$log" 2>/dev/null; do
		kill -0 "$driver_pid" 2>/dev/null || { echo "bench-sfu: the load driver ended while measuring:" >&2; tail -20 "$log" >&2; return 1; }
		sleep 0.05
	done
	t1=$(cpu_ticks "$pid")
	echo "bench-sfu: server $pid used $t0 -> $t1 CPU ticks over the window" >&2
	awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz }'
}

# idle PID: the server's cores over 3 s before any load (its own timers, and for geofence dev
# the directory, agents and key servers that share its process).
idle() {
	local t0 t1
	t0=$(cpu_ticks "$1"); sleep 3; t1=$(cpu_ticks "$1")
	awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.4f", (b - a) / hz / 3 }'
}

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

bits=$(echo "$bitrate" | awk '/[kK]$/ {print ($0+0) * 1000; next} /M$/ {print ($0+0) * 1000000; next} {print $0+0}')

run_livekit() { # PUBLISHERS SUBSCRIBERS -> one JSON line
	local pubs=$1 subs=$2 http rtc tcp secret
	http=$(free_port); rtc=$(free_port); tcp=$(free_port)
	secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
	cat >"$work/livekit.yaml" <<YAML
port: $http
bind_addresses: ["127.0.0.1"]
rtc:
  node_ip: 127.0.0.1
  udp_port: $rtc
  tcp_port: $tcp
  use_external_ip: false
  congestion_control:
    enabled: false
keys:
  devkey: bench-$secret
logging:
  level: warn
YAML
	"$bin/server" --config "$work/livekit.yaml" >"$work/livekit.log" 2>&1 &
	srv_pid=$!
	wait_port "$http" || { echo "bench-sfu: livekit-server did not start:" >&2; tail "$work/livekit.log" >&2; exit 1; }
	idle_cores=$(idle "$srv_pid")
	rm -f "$work/lk.err" # measure must not read the previous scenario's lines
	"$bin/livekit-load" --url "ws://127.0.0.1:$http" --api-key devkey --api-secret "bench-$secret" \
		--publishers "$pubs" --subscribers "$subs" --bitrate "$bits" --fps "$fps" --duration "$dur" \
		>"$work/lk.json" 2>"$work/lk.err" &
	driver_pid=$!
	cpu=$(measure "$srv_pid" "$work/lk.err")
	wait "$driver_pid" || { echo "bench-sfu: livekit-load failed:" >&2; tail "$work/lk.err" >&2; }
	kill "$srv_pid"; wait "$srv_pid" 2>/dev/null || true; srv_pid=""
	jq -c --arg cpu "$cpu" '{server, tracks: .tracks_subscribed, seconds: .duration_s, mbps: .forwarded_mbps,
		loss: .loss, p50: .latency_p50_ms, p99: .latency_p99_ms, cpu: ($cpu|tonumber), idle: ($idle|tonumber)}' --arg idle "$idle_cores" "$work/lk.json"
}

run_geofence() { # PUBLISHERS SUBSCRIBERS [CONFIG] -> one JSON line
	local pubs=$1 subs=$2 dir cfg=()
	[ -n "${3:-}" ] && cfg=(--config "$3")
	"$work/geofence" dev --listen 127.0.0.1:0 "${cfg[@]}" >"$work/dev.out" 2>"$work/dev.err" &
	srv_pid=$!
	for _ in $(seq 100); do dir=$(sed -n 's/^  directory  \(http[^ ]*\).*/\1/p' "$work/dev.out" | head -1); [ -n "$dir" ] && break; sleep 0.1; done
	[ -n "$dir" ] || { echo "bench-sfu: geofence dev did not start:" >&2; tail "$work/dev.err" >&2; exit 1; }
	idle_cores=$(idle "$srv_pid")
	rm -f "$work/gf.err" # measure must not read the previous scenario's lines
	"$work/geofence" loadtest --directory "$dir" --publishers "$pubs" --subscribers "$subs" \
		--bitrate "$bitrate" --fps "$fps" --duration "$dur" --setup-timeout 120s --json \
		>"$work/gf.json" 2>"$work/gf.err" &
	driver_pid=$!
	cpu=$(measure "$srv_pid" "$work/gf.err")
	wait "$driver_pid" || { echo "bench-sfu: geofence loadtest failed:" >&2; tail "$work/gf.err" >&2; }
	kill "$srv_pid"; wait "$srv_pid" 2>/dev/null || true; srv_pid=""
	jq -c --arg cpu "$cpu" '{server: "geofence", datacenters, tracks: .tracks_received, seconds: .measured_s, mbps: .forwarded_mbps,
		loss: .loss, p50: .latency.p50_ms, p99: .latency.p99_ms, cpu: ($cpu|tonumber), idle: ($idle|tonumber)}' --arg idle "$idle_cores" "$work/gf.json"
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1); $(go version | cut -d' ' -f3); livekit-server $lkver"
echo "load: video ${bitrate}bit/s at ${fps} fps, simulcast off, measured $dur after setup and warm-up"
printf '\n%-9s %-9s %7s %10s %8s %8s %14s %13s %8s %8s\n' scenario server tracks "Mbit/s" cores idle "cores/Mbit/s" "tracks/core" loss "p99 ms"
for sc in "${scenarios[@]}"; do
	if [ "$sc" = bridge ]; then
		# The cost of a bridge hop (geofence only: LiveKit has no cascade in open source): 8
		# publishers and 1 subscriber on one DC, then the same with the subscriber alone at the
		# meeting's home (us-sjc, capacity 1 in a copy of the example world, so the directory
		# places the publishers at us-den, bridged to it): the 8 video tracks cross one bridge.
		sed '/^  us-sjc:/,/capacity:/ s/capacity: .*/capacity: 1/' examples/world.yaml >"$work/bridge.yaml"
		direct=$(run_geofence 8 1) && bridged=$(run_geofence 8 1 "$work/bridge.yaml") || continue
		for l in "$direct" "$bridged"; do echo "$l" >>"$work/results.jsonl"; echo "  $l"; done
		jq -rn --argjson d "$direct" --argjson b "$bridged" '
			def cores(x): x.cpu / x.seconds;
			"bridge: direct \(cores($d)*1000|round/1000) cores, bridged \(cores($b)*1000|round/1000) cores (datacenters \($b.datacenters|tostring)); " +
			(8 * $b.mbps / $b.tracks) as $x |
			"a bridge hop costs \(((cores($b) - cores($d)) / $x * 10000 | round) / 10000) cores per Mbit/s crossing it (\($x * 100 | round / 100) Mbit/s of the publishers cross to the subscriber)"'
		continue
	fi
	pubs=${sc%x*}; subs=${sc#*x}
	declare -A per=()
	for s in $servers; do
		line=$("run_$s" "$pubs" "$subs") || continue
		echo "$line" >>"$work/results.jsonl"
		per[$s]=$line
		echo "$line" | jq -r --arg sc "$sc" '(.cpu / .seconds) as $cores |
			[$sc, .server, .tracks, (.mbps*100|round/100), ($cores*1000|round/1000), (.idle*1000|round/1000),
			 (if .mbps > 0 then ($cores / .mbps * 10000 | round / 10000) else "-" end),
			 (if $cores > 0 then (.tracks / $cores | round) else "-" end),
			 ((.loss*100*1000|round/1000|tostring) + "%"), .p99] | @tsv' |
			awk -F'\t' '{printf "%-9s %-9s %7s %10s %8s %8s %14s %13s %8s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10}'
	done
	if [ -n "${per[livekit]:-}" ] && [ -n "${per[geofence]:-}" ]; then
		jq -rn --argjson g "${per[geofence]}" --argjson l "${per[livekit]}" --arg sc "$sc" '
			def cpm(x): (x.cpu / x.seconds) / x.mbps;
			def net(x): ((x.cpu / x.seconds) - x.idle) / x.mbps;
			"\($sc): geofence CPU/Mbit ÷ LiveKit CPU/Mbit = \(cpm($g) / cpm($l) * 1000 | round / 1000) (target <= 0.8); idle subtracted: \(if net($l) > 0 then (net($g) / net($l) * 1000 | round / 1000) else "-" end)"'
	fi
	unset per
done
