#!/usr/bin/env bash
# Peak RSS of "imreport media" archiving files of a fixed size, measured with
# /usr/bin/time -v, with the simulator (Report API and media) and the Kafka
# broker in processes of their own so that only imreport media is measured.
#
#   bash internal/bench/media-rss.sh 1048576 52428800   # one measurement per file size
#
# For each size: "imreport simulate --media-size SIZE" serves a history whose
# every media reference (image, voice, file, video, thumbnail) is SIZE bytes;
# "imreport run" fills the embedded broker; then "imreport media" (file://
# store, IMREPORT_MEDIA_CONCURRENCY downloads at once, default 4) runs under
# /usr/bin/time -v until it has published ITEMS records (default 12; all
# archived: no fault), and is stopped with SIGINT. Streamed downloads keep
# the peak flat: the issue asks for less than 10 MiB between 1 MiB and
# 50 MiB files. Any IMREPORT_* variable in the environment is passed on.
set -euo pipefail
[ $# -gt 0 ] || set -- 1048576 52428800
items=${ITEMS:-12}
source "$(dirname "$0")/rss-common.sh"
for size in "$@"; do
	start_services 1200 --messages 120 --bursts 0 --hours 2 --live-hours 0 --media-size "$size"
	rm -rf "$work/imreport.db" "$work/store" "$work/spool"
	mkdir -p "$work/spool"
	export IMREPORT_APP_KEY=4f7aef34fb361292c566a1cd IMREPORT_MASTER_SECRET=demo-master-secret \
		IMREPORT_API_URL="http://127.0.0.1:$api" IMREPORT_IM_API_URL="http://127.0.0.1:$api" IMREPORT_KAFKA_BROKERS="127.0.0.1:$kafka" \
		IMREPORT_KAFKA_REPLICATION_FACTOR=1 IMREPORT_START=-3h IMREPORT_END="$end" \
		IMREPORT_CHECKPOINT_PATH="$work/imreport.db" IMREPORT_HTTP_ADDR= IMREPORT_LOG_LEVEL=warn \
		IMREPORT_MEDIA_URL="file://$work/store" IMREPORT_MEDIA_SPOOL_DIR="$work/spool" \
		IMREPORT_MEDIA_RATE_LIMIT="${IMREPORT_MEDIA_RATE_LIMIT:-100}" IMREPORT_MEDIA_SESSION_TIMEOUT=6s
	"$work/imreport" run 2>"$work/run.log"
	IMREPORT_LOG_LEVEL=info IMREPORT_PROGRESS_INTERVAL=1s /usr/bin/time -v "$work/imreport" media 2>"$work/media.log" &
	timepid=$!
	published=0
	for _ in $(seq 1 1800); do
		published=$(grep -o '"msg":"media progress","published":[0-9]*' "$work/media.log" | tail -n 1 | grep -o '[0-9]*$' || echo 0)
		[ "${published:-0}" -ge "$items" ] && break
		kill -0 "$timepid" 2>/dev/null || break
		sleep 0.2
	done
	kill -INT "$(pgrep -P "$timepid")" 2>/dev/null || true
	wait "$timepid" || true
	cp "$work/media.log" "${TMPDIR:-/tmp}/imreport-media-rss-$size.log"
	stopped=$(grep '"imreport media stopped"' "$work/media.log" | grep -o '"published":[0-9]*,"archived":[0-9]*,"bytes":[0-9]*' || true)
	printf 'file size %-9s %s  (%s)\n' "$size" "$(peak_rss "$work/media.log")" "$stopped"
	stop_services
done
