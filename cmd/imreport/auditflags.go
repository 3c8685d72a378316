package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/imreport/imreport/internal/tools/audit"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/source"
)

// checkRange reads an audited range as imreport audit's flags give it
// (--from and --to as audit.ParseTime reads them, --bucket, --margin) and
// returns every problem with it at once, each naming its flag.
func checkRange(from, to string, bucket, margin time.Duration, now time.Time) (from0, to0 time.Time, problems []string) {
	parse := func(name, v string, dst *time.Time) {
		t, err := audit.ParseTime(v, bucket, now)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--%s: %v", name, err))
		}
		*dst = t
	}
	parse("from", from, &from0)
	parse("to", to, &to0)
	switch {
	case from0.IsZero() || to0.IsZero():
	case !to0.After(from0):
		problems = append(problems, "--to is not after --from")
	case to0.After(now):
		problems = append(problems, "--to is in the future")
	case from0.Before(now.Add(-pipeline.Retention)):
		problems = append(problems, fmt.Sprintf("--from is more than %s ago: the API no longer serves (nor counts) those messages", pipeline.Retention))
	}
	if bucket < time.Second || bucket > 24*time.Hour || bucket%time.Second != 0 {
		problems = append(problems, fmt.Sprintf("--bucket %s is not whole seconds from 1s to 24h", bucket))
	}
	if margin < 0 {
		problems = append(problems, "--margin is negative")
	}
	return from0, to0, problems
}

// auditStreams reads --stream: comma-separated stream names ("messages",
// "users/<name>", ...), each one apiVersion serves; empty = configured.
// It returns every problem at once, each naming the flag.
func auditStreams(names string, configured []source.Stream, apiVersion string) (streams []source.Stream, problems []string) {
	if names == "" {
		return configured, nil
	}
	for _, name := range strings.Split(names, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		s, err := source.ParseStream(name)
		if err == nil {
			err = s.Supported(apiVersion)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("--stream: %v", err))
			continue
		}
		streams = append(streams, s)
	}
	return streams, problems
}
