package sink

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestStateTopic: EnsureTopic creates the state topic with one partition;
// LatestState finds the newest value of a key however far back it lies,
// and nothing for a key never written; HoldsRecords tells a topic this app
// wrote to.
func TestStateTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, kfake.NumBrokers(1))
	w := readyWriter(t, testConfig(c, "st"), 3)
	if w.StateTopic() != "st.state" {
		t.Fatalf("state topic %q, want st.state", w.StateTopic())
	}
	if pis := c.PartitionInfos("st.state"); len(pis) != 1 {
		t.Fatalf("state topic has %d partitions, want 1", len(pis))
	}
	if _, _, found, err := w.LatestState(ctx, "a"); err != nil || found {
		t.Fatalf("LatestState on an empty topic = found %v, %v; want nothing", found, err)
	}
	if held, err := w.HoldsRecords(ctx, 100); err != nil || held || !w.CreatedTopics() {
		t.Fatalf("HoldsRecords on topics it created = %v, %v (CreatedTopics %v); want false (true)", held, err, w.CreatedTopics())
	}
	other := readyWriter(t, testConfig(c, "st"), 3)
	if held, err := other.HoldsRecords(ctx, 100); err != nil || held || other.CreatedTopics() {
		t.Fatalf("HoldsRecords on empty topics it found = %v, %v (CreatedTopics %v); want false (false)", held, err, other.CreatedTopics())
	}
	for i := range 3 {
		if err := w.PutState(ctx, "a", fmt.Appendf(nil, "a%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// More than one step of other keys after a's newest value.
	for i := range 2*stateChunk + 10 {
		if err := w.PutState(ctx, "b", fmt.Appendf(nil, "b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	v, off, found, err := w.LatestState(ctx, "a")
	if err != nil || !found || string(v) != "a2" || off != 2 {
		t.Fatalf("LatestState(a) = %q at %d, found %v, %v; want a2 at 2", v, off, found, err)
	}
	v, _, found, err = w.LatestState(ctx, "b")
	if err != nil || !found || string(v) != fmt.Sprintf("b%d", 2*stateChunk+9) {
		t.Fatalf("LatestState(b) = %q, found %v, %v", v, found, err)
	}
	if _, _, found, err := w.LatestState(ctx, "c"); err != nil || found {
		t.Fatalf("LatestState(c) = found %v, %v; want nothing", found, err)
	}
	publish(t, w, records(1, 10, keyList(5), 10))
	for name, w := range map[string]*Writer{"the publishing writer": w, "another writer": other} {
		if held, err := w.HoldsRecords(ctx, 100); err != nil || !held {
			t.Fatalf("HoldsRecords of %s after a publish = %v, %v; want true", name, held, err)
		}
	}
}
