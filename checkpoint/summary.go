package checkpoint

import (
	"sort"
	"time"
)

// Summary is what imreport checkpoint show prints of a checkpoint file, as
// JSON: its identity, each stream's cursor, the Kafka marks and counts.
type Summary struct {
	Path    string                   `json:"path"`
	AppKey  string                   `json:"app_key"`
	Topic   string                   `json:"topic"`
	Streams []StreamCursor           `json:"streams"` // by stream name
	Commits uint64                   `json:"commits"`
	Updated string                   `json:"updated,omitempty"` // RFC 3339, UTC
	Seen    int                      `json:"dedupe_entries"`
	Pruned  string                   `json:"dedupe_pruned_before,omitempty"` // RFC 3339, UTC
	Marks   map[string]map[int]int64 `json:"kafka_marks"`
	// Floor, Sequence and Lineage are what the snapshots in the state
	// topic carry (State.Floor, State.Sequence, State.Lineage).
	Floor     map[string]map[int]int64 `json:"floor,omitempty"`
	Sequence  uint64                   `json:"sequence,omitempty"`
	Lineage   string                   `json:"lineage,omitempty"`
	FileBytes int64                    `json:"file_bytes"`
}

// StreamCursor is one stream's cursor in a Summary.
type StreamCursor struct {
	Stream string `json:"stream"`
	Cursor string `json:"cursor"` // RFC 3339, UTC
}

// Describe opens the checkpoint at path read-only and summarizes it. It
// returns Open's, Load's and Stats' errors (ErrLocked while a pipeline
// holds the file, ErrCorrupt, ...).
func Describe(path string) (Summary, error) {
	s, err := Open(Options{Path: path, ReadOnly: true})
	if err != nil {
		return Summary{}, err
	}
	defer s.Close()
	st, err := s.Load()
	if err != nil {
		return Summary{}, err
	}
	stats, err := s.Stats()
	if err != nil {
		return Summary{}, err
	}
	out := Summary{Path: path, AppKey: st.Identity.AppKey, Topic: st.Identity.Topic, Commits: st.Commits, Seen: stats.Seen, Marks: st.Marks, FileBytes: stats.FileSize,
		Floor: st.Floor, Sequence: st.Sequence, Lineage: st.Lineage}
	if st.PrunedBefore > 0 {
		out.Pruned = time.Unix(st.PrunedBefore, 0).UTC().Format(time.RFC3339)
	}
	if !st.Updated.IsZero() {
		out.Updated = st.Updated.UTC().Format(time.RFC3339)
	}
	for k, c := range st.Cursors {
		out.Streams = append(out.Streams, StreamCursor{Stream: k, Cursor: c.UTC().Format(time.RFC3339)})
	}
	sort.Slice(out.Streams, func(i, j int) bool { return out.Streams[i].Stream < out.Streams[j].Stream })
	return out, nil
}
