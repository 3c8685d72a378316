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
	out := make([]Status, 0, len(s.Streams))
	for _, st := range s.Streams {
		if st.Began.IsZero() || st.Cursor.IsZero() {
			continue
		}
		out = append(out, m.status(st, s.At))
	}
	return out
}

// status compares st, at at, with the oldest kept sample (rates) and the
// oldest kept sample in which the stream had started (the ETA).
func (m *Meter) status(st Stream, at time.Time) Status {
	out := m.position(st)
	base := m.hist[0]
	then := find(base, st.Name)
	elapsed := at.Sub(base.At).Seconds()
	if then == nil || elapsed <= 0 {
		return out
	}
	out.MsgRate = float64(st.Published-then.Published) / elapsed
	out.ReqRate = float64(st.Requests-then.Requests) / elapsed
	for _, h := range m.hist[:len(m.hist)-1] {
		if then := find(h, st.Name); then != nil && !then.Cursor.IsZero() {
			out.ETA = eta(out, then, at.Sub(h.At).Seconds())
			break
		}
	}
	return out
}

// position is where st stands: share done and range remaining; the ETA
// is 0 when done, else Unknown.
func (m *Meter) position(st Stream) Status {
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
	return out
}

// eta is the time until out.Remaining is 0 at the pace at which it shrank
// since then, elapsed seconds before; Unknown when it did not shrink.
func eta(out Status, then *Stream, elapsed float64) time.Duration {
	if out.Remaining == 0 {
		return 0
	}
	before := max(0, then.Target.Sub(then.Cursor))
	if closing := (before - out.Remaining).Seconds() / elapsed; elapsed > 0 && closing > 0 {
		return time.Duration(out.Remaining.Seconds() / closing * float64(time.Second))
	}
	return Unknown
}

func find(s Sample, name string) *Stream {
	for i := range s.Streams {
		if s.Streams[i].Name == name {
			return &s.Streams[i]
		}
	}
	return nil
}
