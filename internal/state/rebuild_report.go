package state

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// RebuildReport is what `imreport checkpoint rebuild` prints (--json: as
// is).
type RebuildReport struct {
	AppKey       string                   `json:"app_key"`
	Topic        string                   `json:"topic"`
	StateTopic   string                   `json:"state_topic"`
	Sequence     uint64                   `json:"sequence"`
	Lineage      string                   `json:"lineage"`
	Cursors      map[string]time.Time     `json:"cursors"`
	PrunedBefore time.Time                `json:"pruned_before"`
	FloorSince   time.Time                `json:"floor_since"`
	Floor        map[string]map[int]int64 `json:"floor"`
	Ends         map[string]map[int]int64 `json:"end_offsets"`
	ReadBack     int64                    `json:"read_back_at_most"`
	CorruptFile  bool                     `json:"corrupt_file,omitempty"`
}

// Report returns what Rebuild did, the snapshot written to stateTopic.
func (rb Rebuilt) Report(stateTopic string) RebuildReport {
	s := rb.Snapshot
	return RebuildReport{AppKey: s.AppKey, Topic: s.Topic, StateTopic: stateTopic, Sequence: s.Sequence, Lineage: s.Lineage,
		Cursors: s.CursorTimes(), PrunedBefore: time.Unix(s.PrunedBefore, 0).UTC(), FloorSince: rb.Since.UTC(),
		Floor: s.Floor, Ends: rb.Ends, ReadBack: rb.ReadBack, CorruptFile: rb.CorruptFile}
}

// WriteText prints the report for people.
func (r RebuildReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "rebuilt the state of app key %q, topic %q, in state topic %q (snapshot sequence %d, lineage %s)\n",
		r.AppKey, r.Topic, r.StateTopic, r.Sequence, r.Lineage)
	b.WriteString("cursors (where a run without a checkpoint starts; the next run walks from there again):\n")
	for _, k := range slices.Sorted(maps.Keys(r.Cursors)) {
		fmt.Fprintf(&b, "  %-20s %s\n", k, r.Cursors[k].Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "floor (per partition, the first record stamped at or after %s; end offset in brackets):\n", r.FloorSince.Format(time.RFC3339))
	for _, t := range slices.Sorted(maps.Keys(r.Floor)) {
		fmt.Fprintf(&b, "  %s:", t)
		for _, p := range slices.Sorted(maps.Keys(r.Floor[t])) {
			fmt.Fprintf(&b, " %d:%d (%d)", p, r.Floor[t][p], r.Ends[t][p])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "the next run restores from it and reads back at most %d records (the end offsets minus the floor), then publishes only what the topic lacks\n", r.ReadBack)
	if r.CorruptFile {
		b.WriteString("the checkpoint file is corrupt: the next run moves it aside and restores\n")
	}
	b.WriteString("next: imreport run, with the same configuration\n")
	_, err := io.WriteString(w, b.String())
	return err
}
