package progress

import "time"

// Stream is one stream's state at one moment.
type Stream struct {
	Name      string
	Began     time.Time // the cursor when the run started; zero = not started
	Cursor    time.Time // the committed cursor: everything before it is in Kafka
	Target    time.Time // where the stream heads: the end of a bounded run, else now minus the settle time
	Published int64     // messages published so far in this run
	Requests  int64     // API requests so far in this run
}

// Sample is every stream at one moment.
type Sample struct {
	At      time.Time
	Streams []Stream
}

// Unknown is the ETA of a stream whose remaining range did not shrink over
// the meter's span.
const Unknown time.Duration = -1

// Status is one stream's progress.
type Status struct {
	Stream
	Done      float64       // share of [Began, Target) behind the cursor, 0..1
	Remaining time.Duration // Target - Cursor, never negative
	MsgRate   float64       // messages published per second over the span
	ReqRate   float64       // API requests per second over the span
	ETA       time.Duration // until Remaining is 0 at the span's pace; 0 when done, Unknown when not shrinking
}

// DefaultSpan is the Meter's span when Span is zero.
const DefaultSpan = time.Minute

// Meter derives rates and ETAs from successive samples. The zero value is
// ready to use; it is not safe for concurrent use.
type Meter struct {
	Span time.Duration // rates are measured over about this long; 0 = DefaultSpan
	hist []Sample
}

// Observe adds s and returns the status of each of its streams that has
// started. Rates compare s with the oldest kept sample, which is the latest
// one at least Span old (or the first one, early in a run).
func (m *Meter) Observe(s Sample) []Status {
	span := m.Span
	if span <= 0 {
		span = DefaultSpan
	}
	m.hist = append(m.hist, s)
	for len(m.hist) > 2 && !m.hist[1].At.After(s.At.Add(-span)) {
		m.hist = m.hist[1:]
	}
	base := m.hist[0]
	elapsed := s.At.Sub(base.At).Seconds()
	out := make([]Status, 0, len(s.Streams))
	for _, st := range s.Streams {
		if st.Began.IsZero() || st.Cursor.IsZero() {
			continue
		}
		out = append(out, status(st, find(base, st.Name), elapsed))
	}
	return out
}

// status compares st with its state then, elapsed seconds before.
func status(st Stream, then *Stream, elapsed float64) Status {
	out := Status{Stream: st, Remaining: max(0, st.Target.Sub(st.Cursor)), ETA: Unknown}
	total := st.Target.Sub(st.Began)
	switch {
	case total <= 0 || out.Remaining == 0:
		out.Done = 1
	default:
		out.Done = min(1, max(0, float64(st.Cursor.Sub(st.Began))/float64(total)))
	}
	if out.Remaining == 0 {
		out.ETA = 0
	}
	if then == nil || elapsed <= 0 {
		return out
	}
	out.MsgRate = float64(st.Published-then.Published) / elapsed
	out.ReqRate = float64(st.Requests-then.Requests) / elapsed
	if then.Cursor.IsZero() {
		return out // not started then: no pace yet
	}
	before := max(0, then.Target.Sub(then.Cursor))
	if closing := (before - out.Remaining).Seconds() / elapsed; out.Remaining > 0 && closing > 0 {
		out.ETA = time.Duration(out.Remaining.Seconds() / closing * float64(time.Second))
	}
	return out
}

func find(s Sample, name string) *Stream {
	for i := range s.Streams {
		if s.Streams[i].Name == name {
			return &s.Streams[i]
		}
	}
	return nil
}
