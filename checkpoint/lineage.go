package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The meta keys below were added to layout 1 without a version change, like
// pruned_before: an older build ignores them, and a file without them
// reads as a file whose floor, sequence and lineage are unknown.
var (
	// keyFloor holds Commit.Floor: the Kafka offsets below every record
	// whose msgid is still in seen (encFloor).
	keyFloor = []byte("floor")
	// keySequence is the commit sequence of the last Commit that set one.
	keySequence = []byte("sequence")
	// keyLineage names the history the file continues (Commit.Lineage).
	keyLineage = []byte("lineage")
)

// encFloor encodes marks as a sequence of entries, each: the topic's length
// (2 bytes big-endian), the topic, the partition (4 bytes), the offset (8
// bytes); in topic, partition order.
func encFloor(m map[string]map[int]int64) ([]byte, error) {
	var out []byte
	topics := make([]string, 0, len(m))
	for t := range m {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, t := range topics {
		if t == "" || len(t) > math.MaxUint16 || strings.IndexByte(t, 0) >= 0 {
			return nil, fmt.Errorf("floor for an invalid topic name %q", t)
		}
		parts := make([]int, 0, len(m[t]))
		for p := range m[t] {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			off := m[t][p]
			if p < 0 || p > math.MaxInt32 || off < 0 {
				return nil, fmt.Errorf("floor for topic %q: partition %d or offset %d out of range", t, p, off)
			}
			out = binary.BigEndian.AppendUint16(out, uint16(len(t)))
			out = append(out, t...)
			out = binary.BigEndian.AppendUint32(out, uint32(p))
			out = binary.BigEndian.AppendUint64(out, uint64(off))
		}
	}
	return out, nil
}

// decFloor decodes encFloor's format; a malformed value is ErrCorrupt.
func decFloor(v []byte) (map[string]map[int]int64, error) {
	out := map[string]map[int]int64{}
	for len(v) > 0 {
		if len(v) < 2 {
			return nil, corruptf("floor: truncated entry")
		}
		n := int(binary.BigEndian.Uint16(v))
		v = v[2:]
		if n == 0 || len(v) < n+12 {
			return nil, corruptf("floor: truncated entry")
		}
		t := string(v[:n])
		p := int32(binary.BigEndian.Uint32(v[n:]))
		off := int64(binary.BigEndian.Uint64(v[n+4:]))
		v = v[n+12:]
		if p < 0 || off < 0 {
			return nil, corruptf("floor: negative partition or offset for topic %q", t)
		}
		if out[t] == nil {
			out[t] = map[int]int64{}
		}
		out[t][int(p)] = off
	}
	return out, nil
}

// putLineage stores the parts of c that name where the file stands in its
// history: floor, sequence and lineage, each only when set.
func putLineage(meta *bolt.Bucket, c Commit, floor []byte) error {
	if c.Floor != nil {
		if err := meta.Put(keyFloor, floor); err != nil {
			return err
		}
	}
	if c.Sequence > 0 {
		if err := meta.Put(keySequence, encUint(c.Sequence)); err != nil {
			return err
		}
	}
	if c.Lineage != "" {
		if err := meta.Put(keyLineage, []byte(c.Lineage)); err != nil {
			return err
		}
	}
	return nil
}

// readLineage fills st's Floor, Sequence and Lineage from meta.
func readLineage(meta *bolt.Bucket, st *State) error {
	if raw := meta.Get(keyFloor); raw != nil {
		f, err := decFloor(raw)
		if err != nil {
			return err
		}
		st.Floor = f
	}
	seq, _, err := getUint(meta, keySequence)
	if err != nil {
		return err
	}
	st.Sequence = seq
	st.Lineage = string(meta.Get(keyLineage))
	return nil
}
