package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/ownership"
	"github.com/imreport/imreport/internal/service/metrics"
	"github.com/imreport/imreport/internal/service/status"
	"github.com/imreport/imreport/internal/tools/audit"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/source"
)

const auditUsage = `imreport audit --from TIME --to TIME [--stream S,...] [--bucket 1h] [--statistics] [--repair] [--json]

TIME is RFC 3339, or "now" or a negative duration from now rounded down to
a whole bucket: --from -24h --to now --bucket 24h is yesterday (UTC).

Proves completeness: for each bucket of each stream it compares the Report
API's own total (one count=1 request, the poller's bounds) with the distinct
msgids the topic and the dead-letter topic hold with a create_time in it,
read from Kafka (from the first record whose timestamp is at or after
--from minus --margin), not from the checkpoint. Duplicates are reported.
It prints a table per stream and a summary (--json: one JSON object).

Read-only, it runs next to a live pipeline with its own request rate
(IMREPORT_AUDIT_RATE_LIMIT); configure it with the same IMREPORT_*
variables as run. Buckets the pipeline has not reached yet show as missing:
audit ranges behind its cursor.

--statistics also asks /v2/statistic/messages (VIP plans only; a 403 is
reported, not a failure) and compares its single and group counts per hour
of today, day and month with the topics, in the API's zone (assumed).

--repair publishes what the topics lack for the buckets found missing,
exactly once, the way "checkpoint rewind" does, then audits again. It needs
the checkpoint's lock: stop the pipeline first.

Exit codes: 0 every bucket matches, 1 not (or the audit failed), 2 bad
arguments or configuration.
`

type auditFlags struct {
	from, to, streams, http string
	bucket, margin          time.Duration
	statistics, repair      bool
	json                    bool
	from0, to0              time.Time
	streamList              []source.Stream
}

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	var f auditFlags
	fs.StringVar(&f.from, "from", "", "start of the audited range of send time: RFC 3339, or \"now\" or a negative duration (rounded down to a whole --bucket, UTC); required")
	fs.StringVar(&f.to, "to", "", "end of the range (exclusive), as --from; required")
	fs.StringVar(&f.streams, "stream", "", "comma-separated streams (\"messages\", \"users/<name>\", ...); empty = every configured stream")
	fs.DurationVar(&f.bucket, "bucket", time.Hour, "bucket size, 1s to 24h")
	fs.DurationVar(&f.margin, "margin", audit.DefaultMargin, "read Kafka from this long before --from, by record timestamp")
	fs.BoolVar(&f.statistics, "statistics", false, "also compare with /v2/statistic/messages")
	fs.BoolVar(&f.repair, "repair", false, "publish what the topics lack for the missing buckets (stop the pipeline first), then audit again")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of tables")
	fs.StringVar(&f.http, "http", "", "serve /metrics (imreport_audit_*) on this address while auditing; empty = none")
	if code, done := parseFlags(fs, auditUsage, args, stdout, stderr); done {
		return code
	}
	now := time.Now()
	cfg, err := loadConfig(ctx, lookup, now, true)
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	}
	problems = append(problems, f.check(cfg, now)...)
	if len(problems) > 0 {
		fmt.Fprintln(stderr, "imreport audit:", strings.Join(problems, "\n  "))
		return exitUsage
	}
	logger := newLogger(stderr, cfg.LogLevel)
	code, err := runAudit(ctx, cfg, f, logger, stdout)
	if err != nil {
		logger.Error("imreport audit failed", "error", err)
		fmt.Fprintln(stderr, "imreport audit:", err)
	}
	return code
}

// check validates the flags against the configuration.
func (f *auditFlags) check(cfg Config, now time.Time) (problems []string) {
	f.from0, f.to0, problems = checkRange(f.from, f.to, f.bucket, f.margin, now)
	var bad []string
	f.streamList, bad = auditStreams(f.streams, configStreams(cfg), cfg.APIVersion)
	problems = append(problems, bad...)
	return problems
}

// runAudit audits, repairs if asked and needed, and prints the reports.
func runAudit(ctx context.Context, cfg Config, f auditFlags, logger *slog.Logger, stdout io.Writer) (int, error) {
	api := apiConfig(cfg, cfg.AuditRate, logger)
	api.Retry.OnRetry = func(attempt int, err error, wait time.Duration) {
		logger.Warn("report api request failed, retrying", "attempt", attempt, "wait", wait, "error", err)
	}
	clients, err := audit.Open(api, sinkConfig(cfg, logger), cfg.Registry)
	if err != nil {
		return exitFailed, err
	}
	defer clients.Close()
	var onProgress func(audit.Progress)
	if f.http != "" {
		var srv *http.Server
		onProgress, srv, err = serveAudit(f.http, buildVersion(), logger)
		if err != nil {
			return exitFailed, err
		}
		defer srv.Close()
	}
	acfg := audit.Config{
		OnProgress: onProgress,
		Streams:    f.streamList, AppKey: cfg.AppKey, From: f.from0, To: f.to0, Bucket: f.bucket,
		Location: cfg.Location, Margin: f.margin, Topic: cfg.KafkaTopic, DLQTopic: cfg.KafkaDLQTopic,
		Statistics: f.statistics, Logger: logger,
	}
	var repair *audit.RepairJob
	if f.repair {
		repair = &audit.RepairJob{CheckpointPath: cfg.CheckpointPath, LockTimeout: cfg.CheckpointLock, Subject: cfg.Subject, ValueFormat: cfg.ValueFormat,
			Pipeline: pipeline.Config{AppKey: cfg.AppKey, Window: cfg.Window, Settle: cfg.Settle, ShutdownTimeout: cfg.ShutdownTimeout, Logger: logger}}
		if cfg.OwnerGroup {
			if repair.Owner, err = repairOwner(cfg, logger); err != nil {
				return exitFailed, err
			}
		}
	}
	o, err := clients.Run(ctx, acfg, repair)
	if rerr := (*audit.RepairError)(nil); errors.As(err, &rerr) {
		code, _ := printAudit(stdout, f.json, o)
		return code, rerr.Err
	}
	if err != nil {
		return exitFailed, err
	}
	return printAudit(stdout, f.json, o)
}

// repairOwner is the owner group a repair joins with IMREPORT_OWNER_GROUP
// (audit.RepairJob.Owner): the run's, so that the repair runs only as the
// owner.
func repairOwner(cfg Config, logger *slog.Logger) (*ownership.Config, error) {
	dialer, err := sinkConfig(cfg, logger).Dialer()
	if err != nil {
		return nil, fmt.Errorf("owner group: %w", err)
	}
	return &ownership.Config{GroupID: ownership.GroupID(cfg.AppKey, cfg.KafkaTopic), Brokers: cfg.KafkaBrokers, Dialer: dialer,
		SessionTimeout: cfg.OwnerSession, Logger: logger}, nil
}

// printAudit prints the outcome and returns the exit code: 0 when the
// last audit is clean.
func printAudit(w io.Writer, asJSON bool, o audit.Outcome) (int, error) {
	code := exitOK
	if !o.Clean() {
		code = exitFailed
	}
	if asJSON {
		return code, o.WriteJSON(w)
	}
	return code, o.WriteTable(w)
}

// serveAudit serves the series of `imreport audit --http`
// (audit.Collectors) on addr with metrics.Serve, ready while the audit runs,
// until the returned server is closed; it returns the progress hook that sets
// them.
func serveAudit(addr, version string, logger *slog.Logger) (func(audit.Progress), *http.Server, error) {
	reg := prometheus.NewRegistry()
	onProgress := audit.Collectors(reg)
	board := status.New(status.Config{Version: version})
	board.Running(nil) // ready while it runs
	srv, _, err := metrics.Serve(addr, reg, board, logger)
	if err != nil {
		return nil, nil, err
	}
	return onProgress, srv, nil
}
