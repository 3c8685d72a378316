package sink

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestMarksAt: Marks with a time gives, per partition, the first record
// produced at or after it, so a ReadBack from there finds exactly what was
// written since; a time after everything gives the end offsets.
func TestMarksAt(t *testing.T) {
	_, w := clusterWriter(t, "since")
	before := records(1, 40, keyList(9), 30)
	publish(t, w, before)
	// Record timestamps are milliseconds of the producer's clock: leave a
	// few between the batches and the boundary.
	time.Sleep(5 * time.Millisecond)
	at := time.Now()
	time.Sleep(5 * time.Millisecond)
	after := append(records(100, 25, keyList(9), 30), deadLetters(200, 5)...)
	publish(t, w, after)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	from, err := w.Marks(ctx, at)
	if err != nil {
		t.Fatalf("Marks(at): %v", err)
	}
	found, ends := readBack(t, w, from)
	if got, want := foundIDs(found), recordIDs(after); !slices.Equal(got, want) {
		t.Errorf("read back since %v: %v, want exactly the later batch %v", at, got, want)
	}
	equalMarks(t, ends, mustMarks(t, w))

	late, err := w.Marks(ctx, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("Marks(future): %v", err)
	}
	equalMarks(t, late, mustMarks(t, w))
}
