// Package state keeps imreport's state in Kafka: after every checkpoint
// commit a small snapshot (identity, cursors, the floor a read-back
// recovers the dedupe set from, the pruning horizon, the commit sequence
// and lineage) goes to a compacted state topic, keyed by app key; at start
// the checkpoint file is checked against the newest snapshot and, when it
// is missing, empty, corrupt or behind, restored from it (Open).
package state

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/imreport/imreport/pipeline"
)

// Version is the snapshot format this build writes and reads.
const Version = 1

// Snapshot is one record of the state topic (JSON). It holds no msgid: its
// size is bounded by the streams and partitions, not the history.
type Snapshot struct {
	Version int    `json:"version"`
	AppKey  string `json:"app_key"`
	Topic   string `json:"topic"`
	// Streams are the configured streams when it was written.
	Streams []string `json:"streams"`
	// Cursors are Unix seconds per stream.
	Cursors map[string]int64 `json:"cursors"`
	// Floor is topic -> partition -> offset: every record whose msgid the
	// dedupe set still held is at or above it.
	Floor        map[string]map[int]int64 `json:"floor"`
	PrunedBefore int64                    `json:"pruned_before"`
	Sequence     uint64                   `json:"sequence"`
	// Lineage names the history: a new one starts at every restore.
	Lineage string    `json:"lineage"`
	Written time.Time `json:"written"`
}

// FromPipeline returns the snapshot of a commit.
func FromPipeline(s pipeline.Snapshot, appKey, topic, lineage string, now time.Time) Snapshot {
	out := Snapshot{Version: Version, AppKey: appKey, Topic: topic, Cursors: make(map[string]int64, len(s.Cursors)),
		Floor: s.Floor, PrunedBefore: s.PrunedBefore, Sequence: s.Sequence, Lineage: lineage, Written: now.UTC()}
	for k, c := range s.Cursors {
		out.Cursors[k] = c.Unix()
		out.Streams = append(out.Streams, k)
	}
	slices.Sort(out.Streams)
	return out
}

// CursorTimes returns the cursors as times (UTC).
func (s Snapshot) CursorTimes() map[string]time.Time {
	out := make(map[string]time.Time, len(s.Cursors))
	for k, v := range s.Cursors {
		out[k] = time.Unix(v, 0).UTC()
	}
	return out
}

// Encode returns the snapshot's record value.
func (s Snapshot) Encode() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("state: encode snapshot: %w", err)
	}
	return b, nil
}

// Decode parses a record value; ErrFormat when it is not a snapshot this
// build reads.
func Decode(b []byte) (Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return Snapshot{}, fmt.Errorf("state: decode snapshot: %w: %w", ErrFormat, err)
	}
	if s.Version != Version {
		return Snapshot{}, fmt.Errorf("state: decode snapshot: %w: version %d, this build reads %d", ErrFormat, s.Version, Version)
	}
	if s.AppKey == "" || s.Topic == "" || s.Sequence == 0 || s.Lineage == "" {
		return Snapshot{}, fmt.Errorf("state: decode snapshot: %w: app key, topic, sequence or lineage missing", ErrFormat)
	}
	for _, ps := range s.Floor {
		for p, off := range ps {
			if p < 0 || off < 0 {
				return Snapshot{}, fmt.Errorf("state: decode snapshot: %w: negative floor", ErrFormat)
			}
		}
	}
	return s, nil
}

// clone returns a copy whose maps are the snapshot's own.
func (s Snapshot) clone() Snapshot {
	s.Cursors = maps.Clone(s.Cursors)
	s.Streams = slices.Clone(s.Streams)
	f := make(map[string]map[int]int64, len(s.Floor))
	for t, ps := range s.Floor {
		f[t] = maps.Clone(ps)
	}
	s.Floor = f
	return s
}
