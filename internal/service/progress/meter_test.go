package progress

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func stream(name string, began, cursor, target time.Time, published, requests int64) Stream {
	return Stream{Name: name, Began: began, Cursor: cursor, Target: target, Published: published, Requests: requests}
}

// A bounded backfill of 10 hours that covers one hour of history every 6
// minutes of wall time (10 s/s): after the first sample the rates and the
// ETA follow from the numbers.
func TestMeterBounded(t *testing.T) {
	var m Meter
	end := t0.Add(10 * time.Hour)
	wall := t0.Add(24 * time.Hour)
	first := m.Observe(Sample{At: wall, Streams: []Stream{stream("messages", t0, t0.Add(time.Hour), end, 1000, 10)}})
	if len(first) != 1 || first[0].ETA != Unknown || first[0].MsgRate != 0 {
		t.Fatalf("first sample: %+v (no rate yet)", first)
	}
	if d := first[0].Done; d != 0.1 {
		t.Errorf("done %v, want 0.1", d)
	}
	got := m.Observe(Sample{At: wall.Add(6 * time.Minute), Streams: []Stream{stream("messages", t0, t0.Add(2*time.Hour), end, 4600, 46)}})[0]
	want := Status{Done: 0.2, Remaining: 8 * time.Hour, MsgRate: 10, ReqRate: 0.1, ETA: 48 * time.Minute}
	if got.Done != want.Done || got.Remaining != want.Remaining || got.MsgRate != want.MsgRate || got.ReqRate != want.ReqRate || got.ETA != want.ETA {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// A tailing run's target moves with the clock: the ETA follows from how
// fast the gap closes (cursor speed minus one second per second), and a
// stream that keeps pace has no ETA.
func TestMeterTailMovingTarget(t *testing.T) {
	var m Meter
	wall := t0.Add(48 * time.Hour)
	began := wall.Add(-24 * time.Hour)
	m.Observe(Sample{At: wall, Streams: []Stream{
		stream("fast", began, began, wall, 0, 0),
		stream("even", began, began, wall, 0, 0),
	}})
	later := wall.Add(10 * time.Minute)
	st := m.Observe(Sample{At: later, Streams: []Stream{
		stream("fast", began, began.Add(70*time.Minute), later, 0, 0), // 7 s/s: the gap shrinks 6 s/s
		stream("even", began, began.Add(10*time.Minute), later, 0, 0), // 1 s/s: the gap stays
	}})
	if len(st) != 2 {
		t.Fatalf("%+v", st)
	}
	if st[0].Remaining != 24*time.Hour-60*time.Minute || st[0].ETA != (24*time.Hour-60*time.Minute)/6 {
		t.Errorf("fast: remaining %v eta %v", st[0].Remaining, st[0].ETA)
	}
	if st[1].ETA != Unknown {
		t.Errorf("even: eta %v, want unknown", st[1].ETA)
	}
}

// Rates cover about the span: samples older than the span are dropped,
// but the latest one at least a span old is kept as the base.
func TestMeterSpan(t *testing.T) {
	m := Meter{Span: 30 * time.Second}
	end := t0.Add(time.Hour)
	var last []Status
	// 10 s apart; published grows by 100 per sample until 60 s, then by 400.
	published := int64(0)
	for i := range 10 {
		if i > 0 {
			if i <= 6 {
				published += 100
			} else {
				published += 400
			}
		}
		cursor := t0.Add(time.Duration(i) * time.Minute)
		last = m.Observe(Sample{At: end.Add(time.Duration(i) * 10 * time.Second), Streams: []Stream{stream("s", t0, cursor, end, published, 0)}})
	}
	// The base is the sample at 60 s (30 s before 90 s): 3 x 400 over 30 s.
	if last[0].MsgRate != 40 {
		t.Errorf("rate %v over the span, want 40", last[0].MsgRate)
	}
	if len(m.hist) != 4 {
		t.Errorf("%d samples kept, want 4 (60 s .. 90 s)", len(m.hist))
	}
}

// Edge cases: a stream not started yet is left out; a finished one is
// 100% with ETA 0; a cursor past a moved target is never negative.
func TestMeterEdges(t *testing.T) {
	var m Meter
	st := m.Observe(Sample{At: t0, Streams: []Stream{
		{Name: "not started"},
		stream("done", t0.Add(-time.Hour), t0, t0, 5, 1),
		stream("ahead", t0.Add(-time.Hour), t0.Add(time.Second), t0, 5, 1),
		stream("empty range", t0, t0, t0, 0, 0),
	}})
	if len(st) != 3 {
		t.Fatalf("%+v", st)
	}
	for _, s := range st {
		if s.Done != 1 || s.Remaining != 0 || s.ETA != 0 {
			t.Errorf("%s: %+v", s.Name, s)
		}
	}
}

// A sample taken before the run started (no cursor yet) is a base for the
// rates, not for the ETA.
func TestMeterBaseBeforeStart(t *testing.T) {
	var m Meter
	end := t0.Add(time.Hour)
	m.Observe(Sample{At: end, Streams: []Stream{{Name: "s", Target: end}}})
	st := m.Observe(Sample{At: end.Add(10 * time.Second), Streams: []Stream{stream("s", t0, t0.Add(time.Minute), end, 500, 20)}})
	if len(st) != 1 || st[0].MsgRate != 50 || st[0].ReqRate != 2 || st[0].ETA != Unknown {
		t.Errorf("%+v", st)
	}
	// The next sample has a pace: since the first one with a cursor
	// (10 minutes of range in 10 s; 49 minutes left then take 49 s).
	st = m.Observe(Sample{At: end.Add(20 * time.Second), Streams: []Stream{stream("s", t0, t0.Add(11*time.Minute), end, 900, 40)}})
	if st[0].MsgRate != 45 || st[0].ETA != 49*time.Second {
		t.Errorf("%+v", st)
	}
}

func TestETAString(t *testing.T) {
	for d, want := range map[time.Duration]string{Unknown: "unknown", 0: "0s", 300 * time.Millisecond: "1s", 90*time.Second + 400*time.Millisecond: "1m30s"} {
		if got := ETAString(d); got != want {
			t.Errorf("ETAString(%v) = %q, want %q", d, got, want)
		}
	}
}

// More streams than bars: one status for all, at the slowest cursor, the
// counts summed, the ETA the longest (unknown if any is).
func TestSummarize(t *testing.T) {
	end := t0.Add(10 * time.Hour)
	st := []Status{
		{Stream: stream("a", t0, t0.Add(2*time.Hour), end, 10, 1), Done: 0.2, Remaining: 8 * time.Hour, MsgRate: 1, ETA: time.Hour},
		{Stream: stream("b", t0, t0.Add(6*time.Hour), end, 30, 3), Done: 0.6, Remaining: 4 * time.Hour, MsgRate: 3, ETA: 2 * time.Hour},
	}
	if got := Summarize(st, 2); len(got) != 2 {
		t.Fatalf("within the limit: %+v", got)
	}
	got := Summarize(st, 1)
	want := Status{Stream: Stream{Name: "2 streams", Began: t0, Cursor: t0.Add(2 * time.Hour), Target: end, Published: 40, Requests: 4},
		Done: 0.4, Remaining: 8 * time.Hour, MsgRate: 4, ETA: 2 * time.Hour}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	st[0].ETA = Unknown
	if got := Summarize(st, 1); got[0].ETA != Unknown {
		t.Errorf("ETA %v, want unknown", got[0].ETA)
	}
}
