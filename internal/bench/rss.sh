#!/usr/bin/env bash
# Peak RSS of "imreport run" over a bounded backfill, measured with
# /usr/bin/time -v, with the Report API simulator and the Kafka broker in
# processes of their own so that only imreport is measured.
#
#   bash internal/bench/rss.sh 100000 1000000     # one measurement per message count
#
# Each run backfills the simulator's whole history (24 hours) with the
# defaults (IMREPORT_RATE_LIMIT 8/s: 1,000,000 messages take about two
# minutes), except IMREPORT_KAFKA_REPLICATION_FACTOR=1 (one broker). Any
# IMREPORT_* variable in the environment is passed on (IMREPORT_RATE_LIMIT=1000
# measures a CPU-bound backfill).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || set -- 100000 1000000
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/imreport" ./cmd/imreport
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 1 600); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "port $1 did not open" >&2
	return 1
}
for n in "$@"; do
	api=$(free_port)
	kafka=$(free_port)
	"$work/imreport" simulate --addr "127.0.0.1:$api" --messages "$n" --bursts 0 --hours 24 --live-hours 0 >"$work/sim.log" 2>&1 &
	pids+=($!)
	"$work/imreport" bench --serve-kafka "127.0.0.1:$kafka" >"$work/kafka.log" 2>&1 &
	pids+=($!)
	wait_port "$api"
	wait_port "$kafka"
	end=$(date -u -d '-15 minutes' +%Y-%m-%dT%H:%M:%SZ) # END + the 10 m lookback is past: no wait for late arrivals
	rm -f "$work/imreport.db"
	IMREPORT_APP_KEY=4f7aef34fb361292c566a1cd IMREPORT_MASTER_SECRET=demo-master-secret \
		IMREPORT_API_URL="http://127.0.0.1:$api" IMREPORT_KAFKA_BROKERS="127.0.0.1:$kafka" \
		IMREPORT_KAFKA_REPLICATION_FACTOR=1 IMREPORT_RATE_LIMIT="${IMREPORT_RATE_LIMIT:-8}" IMREPORT_START=-25h IMREPORT_END="$end" \
		IMREPORT_CHECKPOINT_PATH="$work/imreport.db" IMREPORT_HTTP_ADDR= IMREPORT_LOG_LEVEL=warn \
		/usr/bin/time -v "$work/imreport" run 2>"$work/run.log"
	cp "$work/run.log" "${TMPDIR:-/tmp}/imreport-rss-run.log"
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/run.log")
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/run.log")
	printf 'messages %-9s peak RSS %6.1f MiB  wall %s\n' "$n" "$(echo "$rss/1024" | bc -l)" "$wall"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
done
