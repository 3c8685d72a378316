package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/media/store"
	"github.com/imreport/imreport/internal/tools/doctor"
)

const doctorUsage = `imreport doctor

A preflight check with the configuration of "imreport run" (the same
IMREPORT_* variables): the Report API credentials and each configured
stream (one count=1 request each), Kafka, the topic and the dead-letter
topic (exist or can be created; cleanup.policy not compact; retention at
least 7 days), the Schema Registry when set, and the checkpoint (readable,
this app key's and topic's, not locked), and, when IMREPORT_MEDIA_URL is set,
imreport media's store (a probe object written, read back and deleted). It
prints a table of ok/fail with
the fix for each failure, changes nothing, and never prints a secret.

Exit codes: 0 every check passed, 1 a check failed, 2 bad configuration.
`

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	cfg, code, done := commandConfig(ctx, "doctor", doctorUsage, args, stdout, stderr, lookup)
	if done {
		return code
	}
	dc, closeDoctor, err := doctor.Setup(apiConfig(cfg, cfg.RateLimit, nil), sinkConfig(cfg, nil), cfg.Registry, cfg.Subject, configStreams(cfg), cfg.CheckpointPath)
	if err != nil {
		fmt.Fprintln(stderr, "imreport doctor:", err)
		return exitUsage
	}
	defer closeDoctor()
	if v, ok := lookup.Lookup("IMREPORT_MEDIA_URL"); ok && strings.TrimSpace(v) != "" {
		var st doctor.MediaStore
		st, err := store.Open(cfg.Media.StoreURL)
		if err != nil { // e.g. a directory that cannot be made: the check's failure
			st = unopened{err}
		}
		dc.MediaStore, dc.MediaURL = st, store.Display(cfg.Media.StoreURL)
	}
	rows := doctor.Run(ctx, dc)
	if err := doctor.Print(stdout, rows); err != nil {
		return exitFailed
	}
	if !doctor.Passed(rows) {
		return exitFailed
	}
	return exitOK
}

// unopened is a media store that could not be opened.
type unopened struct{ err error }

func (u unopened) Check(context.Context) error { return u.err }
