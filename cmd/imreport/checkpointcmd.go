package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/source"
)

const checkpointUsage = `imreport checkpoint show [--path FILE]
imreport checkpoint rewind --stream STREAM --to TIME [--path FILE]

show prints a checkpoint as JSON: its identity (app key and topic), each
stream's cursor (everything sent before it is in Kafka), the Kafka offsets
below which everything is recorded, the number of commits and of msgids kept
for deduplication.

rewind moves one stream's cursor back to TIME (RFC 3339), so that the next
run fetches [TIME, cursor) again, for example to pick up messages the API
indexed later than IMREPORT_LOOKBACK. It is exactly once: the next run
reads back from Kafka what was published since TIME and publishes only what
is missing. STREAM is a stream name as show prints it ("messages",
"users/<name>", "groups/<gid>", "chatrooms/<id>").

The file defaults to IMREPORT_CHECKPOINT_PATH. Both need the pipeline to be
stopped: it holds the file lock.
`

func cmdCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, checkpointUsage)
		return exitOK
	}
	if len(args) == 0 || (args[0] != "show" && args[0] != "rewind") {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "imreport checkpoint: unknown subcommand %q\n\n", args[0])
		}
		fmt.Fprint(stderr, checkpointUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("checkpoint "+args[0], flag.ContinueOnError)
	def := "imreport.db"
	if v, ok := lookup.Lookup("IMREPORT_CHECKPOINT_PATH"); ok && v != "" {
		def = v
	}
	path := fs.String("path", def, "checkpoint file")
	streamFlag := fs.String("stream", "", "rewind: the stream to move back")
	to := fs.String("to", "", "rewind: the new cursor, RFC 3339")
	if code, done := parseFlags(fs, checkpointUsage, args[1:], stdout, stderr); done {
		return code
	}
	if args[0] == "rewind" {
		return rewindCheckpoint(*path, *streamFlag, *to, stdout, stderr)
	}
	out, err := checkpoint.Describe(*path)
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint:", err)
		return exitFailed
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return exitFailed
	}
	return exitOK
}

// rewindCheckpoint checks the flags and moves one stream's cursor back
// (checkpoint.Rewind).
func rewindCheckpoint(path, stream, to string, stdout, stderr io.Writer) int {
	var problems []string
	if stream == "" {
		problems = append(problems, "--stream is required")
	} else if _, err := source.ParseStream(stream); err != nil {
		problems = append(problems, fmt.Sprintf("--stream: %v", err))
	}
	at, err := time.Parse(time.RFC3339, to)
	if err != nil {
		problems = append(problems, fmt.Sprintf("--to: %q is not an RFC 3339 time like 2026-01-02T15:04:05Z", to))
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, "imreport checkpoint rewind:", strings.Join(problems, "; "))
		return exitUsage
	}
	cur, err := checkpoint.Rewind(path, stream, at)
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint rewind:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: cursor moved back from %s to %s; the next run fetches that range again and publishes only what Kafka does not hold yet\n",
		stream, cur.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	return exitOK
}
