package sink

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

// A Publish whose context is canceled while a produce request is held in
// the broker does not return until that request is finished: once it has
// returned its error, the topics' end offsets no longer move, and a
// read-back from the marks before it tells exactly what landed.
func TestPublishFencesOnCancel(t *testing.T) {
	for _, tc := range []struct {
		name string
		recs func() []Record
	}{
		{"main", func() []Record { return records(100, 30, keyList(9), 40) }},
		{"dead letters", func() []Record { return deadLetters(100, 12) }},
		{"mixed", func() []Record { return append(records(100, 30, keyList(9), 40), deadLetters(500, 12)...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, w := clusterWriter(t, "fence")
			publish(t, w, append(records(1, 20, keyList(9), 40), deadLetters(50, 4)...)) // warm connections
			before := mustMarks(t, w)

			hold := holdFirstProduce(c)
			defer hold.release()
			recs := tc.recs()
			err := publishCancelledWhileHeld(t, w, hold, recs)
			we := asWriteError(t, err)
			if !errors.Is(err, context.Canceled) || retry.Temporary(err) {
				t.Errorf("Publish = %v, want context.Canceled, not temporary", err)
			}
			checkFailedUnacknowledged(t, tc.name == "mixed", recs, we.Failed)

			after := clusterMarks(t, c, "fence", "fence.dlq")
			time.Sleep(500 * time.Millisecond)
			if now := clusterMarks(t, c, "fence", "fence.dlq"); !maps.EqualFunc(now, after, maps.Equal) {
				t.Fatalf("end offsets moved after Publish returned: %v -> %v", after, now)
			}
			// What landed did so before Publish returned (the marks above
			// stand still), the held request included, each record at most
			// once. Requests that kafka-go had not sent when the context
			// ended (the other group's, in "mixed") may never land: Publish
			// promises only that nothing lands after it returns.
			found, ends := readBack(t, w, before)
			got, want := foundIDs(found), recordIDs(recs)
			if len(got) == 0 {
				t.Errorf("read-back found nothing; the held request should have landed")
			}
			if len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("read-back found a record twice: %v", got)
			}
			for _, id := range got {
				if _, ok := slices.BinarySearch(want, id); !ok {
					t.Errorf("read-back found msgid %d, which was not published", id)
				}
			}
			equalMarks(t, ends, after)

			// The writer was replaced and works.
			publish(t, w, records(9000, 5, keyList(3), 10))
		})
	}
}

// checkFailedUnacknowledged checks a canceled Publish's Failed: every
// record, when one group was written (kafka-go returns the context's error
// for the whole call). In a mixed Publish the group whose request was not
// held may have been acknowledged before the cancellation: there Failed must
// not be empty, and every record it leaves out must have been acknowledged
// (its landing place set).
func checkFailedUnacknowledged(t *testing.T, mixed bool, recs []Record, failed []int) {
	t.Helper()
	if !mixed {
		if !slices.Equal(failed, allIndexes(len(recs))) {
			t.Errorf("Failed = %v, want every record (their fate is unknown to kafka-go)", failed)
		}
		return
	}
	if len(failed) == 0 {
		t.Errorf("Failed is empty, want at least the held request's records")
	}
	for i, r := range recs {
		if _, ok := slices.BinarySearch(failed, i); !ok && r.Topic == "" {
			t.Errorf("record %d is neither in Failed nor acknowledged", i)
		}
	}
}

func TestPublishAfterClose(t *testing.T) {
	_, w := clusterWriter(t, "closed")
	publish(t, w, records(1, 5, keyList(3), 10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	err := w.Publish(context.Background(), records(10, 3, keyList(3), 10))
	we := asWriteError(t, err)
	if !errors.Is(err, ErrClosed) || retry.Temporary(err) || !slices.Equal(we.Failed, []int{0, 1, 2}) {
		t.Errorf("Publish after Close = %v (Failed %v): want ErrClosed for all, not temporary", err, we.Failed)
	}
	// Reading still works.
	if m := mustMarks(t, w); m["closed"] == nil {
		t.Errorf("Marks after Close = %v", m)
	}
	if n := len(scanAll(t, w)); n != 5 {
		t.Errorf("Scan after Close: %d records, want 5", n)
	}
}

// Marks, ReadBack and Scan run while Publish does, and while it fences
// (the race detector checks the writer's state).
func TestReadWhilePublishing(t *testing.T) {
	_, w := clusterWriter(t, "busy")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	stop := make(chan struct{})
	readers := make(chan error, 1)
	go func() {
		defer close(readers)
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, err := w.Marks(ctx, time.Time{})
			if err == nil {
				_, err = w.ReadBack(ctx, m, func(Found) error { return nil })
			}
			if err == nil {
				err = w.Scan(ctx, func(Message) error { return nil })
			}
			if err != nil {
				readers <- err
				return
			}
		}
	}()
	for i := range 10 {
		recs := append(records(int64(i*100), 20, keyList(5), 20), deadLetters(int64(i*100+50), 2)...)
		if i%3 == 2 { // a canceled Publish, fenced
			cctx, ccancel := context.WithCancel(ctx)
			ccancel()
			_ = w.Publish(cctx, recs)
			continue
		}
		publish(t, w, recs)
	}
	close(stop)
	if err := <-readers; err != nil {
		t.Fatalf("reader: %v", err)
	}
}

func TestMergeErrors(t *testing.T) {
	e1, e2, e3 := errors.New("a"), errors.New("b"), errors.New("c")
	got := mergeErrors(&WriteError{Failed: []int{0, 4}, Errs: []error{e1, e1}}, &WriteError{Failed: []int{1, 3}, Errs: []error{e2, e3}})
	if !slices.Equal(got.Failed, []int{0, 1, 3, 4}) || !slices.Equal(got.Errs, []error{e1, e2, e3, e1}) {
		t.Errorf("record by record: %v %v", got.Failed, got.Errs)
	}
	got = mergeErrors(&WriteError{Failed: []int{0, 2, 5}, Errs: []error{e1}}, &WriteError{Failed: []int{1, 4}, Errs: []error{e2, e3}})
	if !slices.Equal(got.Failed, []int{0, 1, 2, 4, 5}) || !slices.Equal(got.Errs, []error{e1, e2, e3}) {
		t.Errorf("whole group: %v %v", got.Failed, got.Errs)
	}
}
