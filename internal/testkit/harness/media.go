package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/media"
)

// MediaRecords is what CheckMediaRecords found in a media topic.
type MediaRecords struct {
	Seen     map[string]int // records per reference ("msgid/role")
	Statuses map[string]int // records per status
	// ArchivedBytes adds up the sizes of the archived records; Referenced
	// holds the SHA-256 (hex) of every object they name.
	ArchivedBytes int64
	Referenced    map[string]bool
}

// CheckMediaRecords checks every record of a media topic against want (the
// history's references by "msgid/role"): each is of a reference; one gone
// at the source (ms) is missing_at_source; any other is archived, the
// record's SHA-256 and size those of the simulator's bytes, and so is the
// object read returns for its URI.
func CheckMediaRecords(t *testing.T, recs []Record, want map[string]media.Ref, ms *simulator.MediaServer, read func(t *testing.T, uri string) []byte) MediaRecords {
	t.Helper()
	got := MediaRecords{Seen: map[string]int{}, Statuses: map[string]int{}, Referenced: map[string]bool{}}
	for _, r := range recs {
		v := r.Rec
		k := fmt.Sprint(v["msgid"]) + "/" + fmt.Sprint(v["role"])
		got.Seen[k]++
		st, _ := v["status"].(string)
		got.Statuses[st]++
		ref, ok := want[k]
		if !ok {
			t.Errorf("record of no reference: %s", k)
			continue
		}
		gone := ms.IsGone(ref.MediaID)
		switch {
		case gone && st != media.StatusMissing:
			t.Errorf("%s is gone at the source; status %s", k, st)
		case !gone && st != media.StatusArchived:
			t.Errorf("%s: status %s (%v)", k, st, v["reason"])
		case st == media.StatusArchived:
			uri, _ := Union(v["uri"]).(string)
			sum, _ := Union(v["sha256"]).(string)
			size, _ := Union(v["size"]).(int64)
			exp := sha256.New()
			n, _ := io.Copy(exp, simulator.MediaBytes(ref.MediaID, *ref.Size, uint32(*ref.CRC)))
			expSum := hex.EncodeToString(exp.Sum(nil))
			stored := read(t, uri)
			storedSum := sha256.Sum256(stored)
			if sum != expSum || size != n || hex.EncodeToString(storedSum[:]) != expSum || int64(len(stored)) != n {
				t.Errorf("%s: record sha256 %s size %d, stored %d bytes; the simulator's: %s, %d bytes", k, sum, size, len(stored), expSum, n)
			}
			got.ArchivedBytes += size
			got.Referenced[sum] = true
		}
	}
	return got
}

// ReadFileObject reads the object a file:// URI names.
func ReadFileObject(t *testing.T, uri string) []byte {
	t.Helper()
	b, err := os.ReadFile(strings.TrimPrefix(uri, "file://"))
	if err != nil {
		t.Errorf("%s: %v", uri, err)
	}
	return b
}
