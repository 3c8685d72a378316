package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/schema"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the run failed
	exitUsage  = 2 // bad arguments or configuration
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

type command struct {
	name, summary, usage string
	run                  func(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int
}

func commands() []command {
	return []command{
		{"run", "run the pipeline (configured by IMREPORT_* variables)", runUsage, cmdRun},
		{"doctor", "check the configuration against the API, Kafka, the registry and the checkpoint", doctorUsage, cmdDoctor},
		{"demo", "run the whole pipeline against the built-in simulator and an embedded Kafka broker", demoUsage, cmdDemo},
		{"media", "archive the media of the topic's messages to object storage, one record per reference in <topic>.media", mediaUsage, cmdMedia},
		{"simulate", "serve the Report API simulator on an address", simulateUsage, cmdSimulate},
		{"bench", "measure the run path against the simulator (throughput, requests, rate-limit use)", benchUsage, cmdBench},
		{"checkpoint", "inspect a checkpoint file, move a cursor back, or rebuild the state from the topic", checkpointUsage, cmdCheckpoint},
		{"audit", "prove completeness: the API's counts against the topic, per bucket; --repair fills gaps", auditUsage, cmdAudit},
		{"read", "print the topic's records as JSON lines, decoding either value format", readUsage, cmdRead},
		{"schema", "print the Avro value schema", "imreport schema\n\nPrints the Avro schema (JSON) of the Kafka record values.\n", cmdSchema},
		{"version", "print the version", "imreport version\n", cmdVersion},
	}
}

// Main runs imreport with args (without the program name) and returns the
// exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		out := stderr
		code := exitUsage
		if len(args) > 0 {
			out, code = stdout, exitOK
		}
		fmt.Fprint(out, topUsage())
		return code
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr, lookup)
		}
	}
	fmt.Fprintf(stderr, "imreport: unknown command %q\n\n%s", args[0], topUsage())
	return exitUsage
}

func topUsage() string {
	var b strings.Builder
	b.WriteString("imreport copies JMessage chat history from the IM REST Report API into Kafka, as Avro, exactly once.\n\nUsage: imreport <command> [--help]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
	}
	return b.String()
}

// parseFlags parses a command's flags; done is true when the command should
// return code at once (--help, or a bad flag).
func parseFlags(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	// flag prints the usage itself on -h and on a bad flag; hold that back
	// so that --help prints once, on stdout, and a bad flag's message and
	// usage go to stderr.
	var held bytes.Buffer
	fs.SetOutput(&held)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK, true
	case err != nil:
		_, _ = stderr.Write(held.Bytes())
		return exitUsage, true
	}
	fs.SetOutput(stderr)
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "imreport %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return exitUsage, true
	}
	return 0, false
}

// commandConfig starts a command that takes no flag but --help and runs
// with run's configuration; done is true when the command should return
// code at once (--help, a bad flag, a bad configuration).
func commandConfig(ctx context.Context, name, usage string, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) (cfg Config, code int, done bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if code, done := parseFlags(fs, usage, args, stdout, stderr); done {
		return Config{}, code, true
	}
	cfg, err := loadConfig(ctx, lookup, time.Now(), true)
	if err != nil {
		fmt.Fprintf(stderr, "imreport %s: %v\n", name, err)
		return Config{}, exitUsage, true
	}
	return cfg, exitOK, false
}

func cmdSchema(_ context.Context, args []string, stdout, stderr io.Writer, _ envconfig.Lookuper) int {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	if code, done := parseFlags(fs, "imreport schema\n\nPrints the Avro schema (JSON) of the Kafka record values.\n", args, stdout, stderr); done {
		return code
	}
	fmt.Fprintln(stdout, strings.TrimSpace(schema.JSON()))
	return exitOK
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer, _ envconfig.Lookuper) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if code, done := parseFlags(fs, "imreport version\n\nPrints the version.\n", args, stdout, stderr); done {
		return code
	}
	fmt.Fprintln(stdout, "imreport", buildVersion())
	return exitOK
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		if v != "" {
			return v
		}
	}
	return "(devel)"
}

// newLogger logs JSON lines to w. Durations are written as Go writes them
// ("5m0s", "1.5s"), not as nanoseconds: people read these logs too.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: readableDurations}))
}

func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
