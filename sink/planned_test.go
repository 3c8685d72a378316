package sink

import (
	"context"
	"testing"
)

// Consume tells Planned how many records it will pass on: what lies
// between the start and the end offsets, capped by Count; -1 following.
func TestConsumePlanned(t *testing.T) {
	c := newCluster(t)
	w := readyWriter(t, testConfig(c, "planned"), 3)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := w.Publish(ctx, records(1, 40, keyList(7), 50)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts ConsumeOptions
		want int64
	}{
		{"from the beginning", ConsumeOptions{Partition: -1, Start: FromBeginning}, 40},
		{"capped by count", ConsumeOptions{Partition: -1, Start: FromBeginning, Count: 5}, 5},
		{"from the end", ConsumeOptions{Partition: -1}, 0},
	} {
		planned, passed := int64(-2), int64(0)
		tc.opts.Planned = func(n int64) { planned = n }
		if err := w.Consume(ctx, tc.opts, func(Message) error { passed++; return nil }); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if planned != tc.want || passed != tc.want {
			t.Errorf("%s: planned %d, passed %d, want %d", tc.name, planned, passed, tc.want)
		}
	}
	fctx, fcancel := context.WithCancel(ctx)
	planned := int64(-2)
	opts := ConsumeOptions{Partition: -1, Start: FromBeginning, Follow: true, Count: 1, Planned: func(n int64) { planned = n }}
	if err := w.Consume(fctx, opts, func(Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	fcancel()
	if planned != -1 {
		t.Errorf("following: planned %d, want -1", planned)
	}
}
