package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

// rewindFixture writes a checkpoint with two streams and closes it.
func rewindFixture(t *testing.T, cursor time.Time) string {
	t.Helper()
	path := tempPath(t)
	s := openT(t, Options{Path: path})
	if err := s.Bind(testID); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, Commit{Cursors: map[string]time.Time{"messages": cursor, "users/alice": cursor.Add(time.Hour)}, Seen: map[int64]int64{7: cursor.Unix()}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRewind: the cursor moves back, nothing else changes; a time not
// before the cursor and an unknown stream are refused with what is there.
func TestRewind(t *testing.T) {
	cursor := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path := rewindFixture(t, cursor)
	to := cursor.Add(-6 * time.Hour)
	from, err := Rewind(path, "messages", to)
	if err != nil || !from.Equal(cursor) {
		t.Fatalf("Rewind = %v, %v; want %v", from, err, cursor)
	}
	sum, err := Describe(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []StreamCursor{{"messages", "2026-03-01T06:00:00Z"}, {"users/alice", "2026-03-01T13:00:00Z"}}
	if len(sum.Streams) != 2 || sum.Streams[0] != want[0] || sum.Streams[1] != want[1] {
		t.Errorf("streams after rewind: %+v, want %+v", sum.Streams, want)
	}
	if sum.Seen != 1 || sum.Commits != 2 || sum.AppKey != testID.AppKey || sum.Topic != testID.Topic || sum.Path != path {
		t.Errorf("summary after rewind: %+v", sum)
	}

	if _, err := Rewind(path, "messages", to); err == nil || !strings.Contains(err.Error(), "is not before the cursor of messages (2026-03-01T06:00:00Z)") {
		t.Errorf("rewind to the cursor: %v", err)
	}
	if _, err := Rewind(path, "groups/1", to); err == nil || !strings.Contains(err.Error(), `no stream "groups/1" (it has [messages users/alice])`) {
		t.Errorf("rewind of an unknown stream: %v", err)
	}
}

// TestDescribeMissingFile: a read-only open of no file fails, and creates
// nothing.
func TestDescribeMissingFile(t *testing.T) {
	path := tempPath(t)
	if _, err := Describe(path); err == nil {
		t.Fatal("Describe of a missing file succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Describe left a file at %s: %v", path, err)
	}
}
