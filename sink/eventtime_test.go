package sink

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEventTime: every record's Kafka timestamp is its Record.Time (the
// message's msg_ctime), or the time of publishing when that is zero (dead
// letters that could not be decoded), and the content-type header is the
// record's own.
func TestEventTime(t *testing.T) {
	_, w := clusterWriter(t, "eventtime")
	base := time.Date(2026, 10, 3, 4, 5, 6, 789_000_000, time.UTC)
	recs := records(1, 30, keyList(7), 40)
	for i := range recs {
		recs[i].Time = base.Add(time.Duration((i*7919)%30) * time.Minute) // not monotonic
		if i%2 == 0 {
			recs[i].ContentType = "application/x-test; framing=" + itoa(int64(i))
		}
	}
	before := time.Now().Add(-time.Second)
	publish(t, w, append(recs, deadLetters(100, 4)...))
	after := time.Now().Add(time.Second)

	want := map[int64]Record{}
	for _, r := range recs {
		want[r.MsgID] = r
	}
	for _, m := range scanAll(t, w) {
		id := msgID(t, m)
		r := want[id]
		if !m.Time.Equal(r.Time) {
			t.Errorf("msgid %d: timestamp %v, want the event time %v", id, m.Time, r.Time)
		}
		ct := r.ContentType
		if ct == "" {
			ct = ContentType
		}
		if got := m.Headers[HeaderContentType]; got != ct {
			t.Errorf("msgid %d: content-type %q, want %q", id, got, ct)
		}
		delete(want, id)
	}
	if len(want) > 0 {
		t.Errorf("%d records not found", len(want))
	}
	for _, m := range scanTopic(t, w, w.DLQTopic()) {
		if m.Time.Before(before) || m.Time.After(after) {
			t.Errorf("dead letter %s: timestamp %v, want the publish time (%v..%v)", m.Headers[HeaderMsgID], m.Time, before, after)
		}
	}
}

// TestMarksAtNonMonotonic: with event-time timestamps out of order (late
// arrivals, rescans, a history published in any order), Marks(at) is, per
// partition, exactly the first offset whose timestamp is at or after at
// (what a real broker answers), so a ReadBack from there finds every record
// stamped at or after at. Checked for every timestamp present, the
// milliseconds around them, and times before and after all of them.
func TestMarksAtNonMonotonic(t *testing.T) {
	_, w := clusterWriter(t, "nonmono")
	rng := rand.New(rand.NewPCG(8, 8))
	base := time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC)
	var all []Record
	next := int64(1)
	for batch := range 6 {
		recs := records(next, 20+batch*5, keyList(5), 30)
		for i := range recs {
			// Each batch spans hours and overlaps the others; a few
			// timestamps repeat exactly.
			recs[i].Time = base.Add(time.Duration(rng.IntN(6*3600)) * time.Second).Add(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
		publish(t, w, recs)
		all = append(all, recs...)
		next += int64(len(recs))
	}
	stamp := map[int64]time.Time{}
	for _, r := range all {
		stamp[r.MsgID] = r.Time
	}

	// The broker's view: offsets and timestamps per partition.
	type rec struct {
		offset int64
		ts     time.Time
		id     int64
	}
	parts := map[int][]rec{}
	for _, m := range scanAll(t, w) {
		id := msgID(t, m)
		if !m.Time.Equal(stamp[id]) {
			t.Fatalf("msgid %d: timestamp %v, want %v", id, m.Time, stamp[id])
		}
		parts[m.Partition] = append(parts[m.Partition], rec{m.Offset, m.Time, id})
	}
	ends := mustMarks(t, w)

	probes := []time.Time{base.Add(-time.Hour), base.Add(7 * time.Hour)}
	for _, r := range all {
		probes = append(probes, r.Time, r.Time.Add(-time.Millisecond), r.Time.Add(time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	monotonic := true
	for i, at := range probes {
		got, err := w.Marks(ctx, at)
		if err != nil {
			t.Fatalf("Marks(%v): %v", at, err)
		}
		for p, rs := range parts {
			want := ends[w.Topic()][p]
			for _, r := range rs {
				if !r.ts.Before(at) {
					want = r.offset
					break
				}
			}
			if got[w.Topic()][p] != want {
				t.Fatalf("Marks(%v) partition %d: %d, want %d (the first offset stamped at or after it)", at, p, got[w.Topic()][p], want)
			}
		}
		if i%25 != 0 {
			continue // a read-back for some of the probes: enough to show the use
		}
		found, _ := readBack(t, w, got)
		have := map[int64]bool{}
		for _, f := range found {
			have[f.MsgID] = true
		}
		for _, r := range all {
			if !r.Time.Before(at) && !have[r.MsgID] {
				t.Fatalf("read back from Marks(%v): msgid %d stamped %v is missing", at, r.MsgID, r.Time)
			}
		}
	}
	for _, rs := range parts {
		for k := 1; k < len(rs); k++ {
			if rs[k].ts.Before(rs[k-1].ts) {
				monotonic = false
			}
		}
	}
	if monotonic {
		t.Fatal("the timestamps came out monotonic in every partition: the test proves nothing")
	}
}

// msgID reads a scanned record's msgid header.
func msgID(t testing.TB, m Message) int64 {
	t.Helper()
	id, err := strconv.ParseInt(m.Headers[HeaderMsgID], 10, 64)
	if err != nil {
		t.Fatalf("offset %d: msgid header %q: %v", m.Offset, m.Headers[HeaderMsgID], err)
	}
	return id
}

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

// TestTimeConfig reads retention.ms and message.timestamp.type as the broker
// has them, and warns only when they work against event times.
func TestTimeConfig(t *testing.T) {
	_, w := clusterWriter(t, "times")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tc, err := w.TimeConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Retention != 7*24*time.Hour || tc.TimestampType != "CreateTime" {
		t.Fatalf("defaults: %+v, want 7 days and CreateTime", tc)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if ws := tc.TimeWarnings(now.Add(-24*time.Hour), now); len(ws) != 0 {
		t.Errorf("a day of history in a week's retention: %v", ws)
	}
	if ws := tc.TimeWarnings(now.Add(-30*24*time.Hour), now); len(ws) != 1 || !strings.Contains(ws[0], "retention.ms (168h0m0s)") {
		t.Errorf("30 days in a week's retention: %v", ws)
	}
	forever := TimeConfig{Retention: -1, TimestampType: "LogAppendTime"}
	if ws := forever.TimeWarnings(now.Add(-60*24*time.Hour), now); len(ws) != 1 || !strings.Contains(ws[0], "LogAppendTime") {
		t.Errorf("kept forever, LogAppendTime: %v", ws)
	}
}
