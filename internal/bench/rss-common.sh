# Sourced by rss.sh and media-rss.sh: the set-up they share. It moves to the
# repository's root, builds imreport into $work (removed on exit), and
# defines the helpers below. Not to be run on its own.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
work=$(mktemp -d)
pids=()
# stop_services stops the processes start_services started.
stop_services() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}
cleanup() {
	stop_services
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/imreport" ./cmd/imreport
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_port PORT [TRIES]: waits until PORT accepts connections, TRIES times
# 0.1 s (default 600).
wait_port() {
	for _ in $(seq 1 "${2:-600}"); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "port $1 did not open" >&2
	return 1
}
# start_services TRIES SIMULATE-FLAGS...: the simulator (on $api, with the
# flags) and the Kafka broker (on $kafka) in processes of their own, waited
# for with wait_port PORT TRIES; sets $api, $kafka and $end (an END whose 10 m
# lookback is past: no wait for late arrivals).
start_services() {
	local tries=$1
	shift
	api=$(free_port)
	kafka=$(free_port)
	"$work/imreport" simulate --addr "127.0.0.1:$api" "$@" >"$work/sim.log" 2>&1 &
	pids+=($!)
	"$work/imreport" bench --serve-kafka "127.0.0.1:$kafka" >"$work/kafka.log" 2>&1 &
	pids+=($!)
	wait_port "$api" "$tries"
	wait_port "$kafka" "$tries"
	end=$(date -u -d '-15 minutes' +%Y-%m-%dT%H:%M:%SZ)
}
# peak_rss LOG: the peak RSS in MiB and the wall time /usr/bin/time -v wrote
# to LOG, as "peak RSS  12.3 MiB  wall 0:01.23".
peak_rss() {
	local rss wall
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$1")
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$1")
	printf 'peak RSS %6.1f MiB  wall %s' "$(echo "$rss/1024" | bc -l)" "$wall"
}
