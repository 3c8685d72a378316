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
[ $# -gt 0 ] || set -- 100000 1000000
source "$(dirname "$0")/rss-common.sh"
for n in "$@"; do
	start_services 600 --messages "$n" --bursts 0 --hours 24 --live-hours 0
	rm -f "$work/imreport.db"
	IMREPORT_APP_KEY=4f7aef34fb361292c566a1cd IMREPORT_MASTER_SECRET=demo-master-secret \
		IMREPORT_API_URL="http://127.0.0.1:$api" IMREPORT_KAFKA_BROKERS="127.0.0.1:$kafka" \
		IMREPORT_KAFKA_REPLICATION_FACTOR=1 IMREPORT_RATE_LIMIT="${IMREPORT_RATE_LIMIT:-8}" IMREPORT_START=-25h IMREPORT_END="$end" \
		IMREPORT_CHECKPOINT_PATH="$work/imreport.db" IMREPORT_HTTP_ADDR= IMREPORT_LOG_LEVEL=warn \
		/usr/bin/time -v "$work/imreport" run 2>"$work/run.log"
	cp "$work/run.log" "${TMPDIR:-/tmp}/imreport-rss-run.log"
	printf 'messages %-9s %s\n' "$n" "$(peak_rss "$work/run.log")"
	stop_services
done
