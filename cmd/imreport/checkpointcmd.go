package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/checkpoint"
)

const checkpointUsage = `imreport checkpoint show [--path FILE]

Prints a checkpoint as JSON: its identity (app key and topic), each stream's
cursor (everything sent before it is in Kafka), the number of commits and of
msgids kept for deduplication. The file defaults to IMREPORT_CHECKPOINT_PATH.
It opens the file read-only, which needs the running pipeline to be stopped
(the pipeline holds the file lock).
`

func cmdCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	if len(args) == 0 || args[0] != "show" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, checkpointUsage)
			return exitOK
		}
		fmt.Fprint(stderr, checkpointUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("checkpoint show", flag.ContinueOnError)
	def := "imreport.db"
	if v, ok := lookup.Lookup("IMREPORT_CHECKPOINT_PATH"); ok && v != "" {
		def = v
	}
	path := fs.String("path", def, "checkpoint file")
	if code, done := parseFlags(fs, checkpointUsage, args[1:], stdout, stderr); done {
		return code
	}
	s, err := checkpoint.Open(checkpoint.Options{Path: *path, ReadOnly: true})
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint:", err)
		return exitFailed
	}
	defer s.Close()
	st, err := s.Load()
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint:", err)
		return exitFailed
	}
	stats, err := s.Stats()
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint:", err)
		return exitFailed
	}
	type stream struct {
		Stream string `json:"stream"`
		Cursor string `json:"cursor"`
	}
	out := struct {
		Path      string   `json:"path"`
		AppKey    string   `json:"app_key"`
		Topic     string   `json:"topic"`
		Streams   []stream `json:"streams"`
		Commits   uint64   `json:"commits"`
		Updated   string   `json:"updated,omitempty"`
		Seen      int      `json:"dedupe_entries"`
		FileBytes int64    `json:"file_bytes"`
	}{Path: *path, AppKey: st.Identity.AppKey, Topic: st.Identity.Topic, Commits: st.Commits, Seen: stats.Seen, FileBytes: stats.FileSize}
	if !st.Updated.IsZero() {
		out.Updated = st.Updated.UTC().Format(time.RFC3339)
	}
	for k, c := range st.Cursors {
		out.Streams = append(out.Streams, stream{Stream: k, Cursor: c.UTC().Format(time.RFC3339)})
	}
	sort.Slice(out.Streams, func(i, j int) bool { return out.Streams[i].Stream < out.Streams[j].Stream })
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return exitFailed
	}
	return exitOK
}
