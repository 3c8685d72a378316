package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/imreport/imreport/source"
)

// at returns 2025-03-01 hh:mm:ss(.frac) UTC.
func at(hh, mm, ss int, frac time.Duration) time.Time {
	return time.Date(2025, 3, 1, hh, mm, ss, 0, time.UTC).Add(frac)
}

func win(from, to time.Time) source.Window { return source.Window{From: from, To: to} }

func TestNextWindow(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	base := Plan{Window: 5 * time.Minute}
	withSettle := func(d time.Duration) Plan { p := base; p.Settle = d; return p }
	withEnd := func(e time.Time) Plan { p := base; p.End = e; return p }

	tests := []struct {
		name   string
		cursor time.Time
		now    time.Time
		plan   Plan
		want   source.Window
		ok     bool
	}{
		{"full window", at(12, 0, 0, 0), at(13, 0, 0, 0), base,
			win(at(12, 0, 0, 0), at(12, 5, 0, 0)), true},
		{"exactly one window behind now", at(12, 0, 0, 0), at(12, 5, 0, 0), base,
			win(at(12, 0, 0, 0), at(12, 5, 0, 0)), true},
		{"clipped to now", at(12, 0, 0, 0), at(12, 3, 0, 0), base,
			win(at(12, 0, 0, 0), at(12, 3, 0, 0)), true},
		{"clipped to now, fractional now truncated", at(12, 0, 0, 0), at(12, 3, 0, 700*time.Millisecond), base,
			win(at(12, 0, 0, 0), at(12, 3, 0, 0)), true},
		{"clipped to now minus settle", at(12, 0, 0, 0), at(12, 3, 0, 0), withSettle(30 * time.Second),
			win(at(12, 0, 0, 0), at(12, 2, 30, 0)), true},
		{"fractional settle truncated to whole second", at(12, 0, 0, 0), at(12, 3, 0, 0), withSettle(30*time.Second + 200*time.Millisecond),
			win(at(12, 0, 0, 0), at(12, 2, 29, 0)), true},
		{"settle smaller than the gap leaves a full window", at(12, 0, 0, 0), at(12, 10, 0, 0), withSettle(time.Minute),
			win(at(12, 0, 0, 0), at(12, 5, 0, 0)), true},
		{"caught up to now", at(12, 0, 0, 0), at(12, 0, 0, 0), base, source.Window{}, false},
		{"caught up: less than a second ahead", at(12, 0, 0, 0), at(12, 0, 0, 999*time.Millisecond), base, source.Window{}, false},
		{"one second due", at(12, 0, 0, 0), at(12, 0, 1, 0), base, win(at(12, 0, 0, 0), at(12, 0, 1, 0)), true},
		{"caught up within settle", at(12, 0, 0, 0), at(12, 0, 20, 0), withSettle(30 * time.Second), source.Window{}, false},
		{"now before cursor", at(12, 0, 0, 0), at(11, 0, 0, 0), base, source.Window{}, false},
		{"clipped to end", at(12, 0, 0, 0), at(13, 0, 0, 0), withEnd(at(12, 2, 0, 0)),
			win(at(12, 0, 0, 0), at(12, 2, 0, 0)), true},
		{"fractional end rounds up so its second is covered", at(12, 0, 0, 0), at(13, 0, 0, 0), withEnd(at(12, 2, 0, 500*time.Millisecond)),
			win(at(12, 0, 0, 0), at(12, 2, 1, 0)), true},
		{"end far away does not clip", at(12, 0, 0, 0), at(13, 0, 0, 0), withEnd(at(14, 0, 0, 0)),
			win(at(12, 0, 0, 0), at(12, 5, 0, 0)), true},
		{"end and now: the earlier wins (now)", at(12, 0, 0, 0), at(12, 1, 0, 0), withEnd(at(12, 2, 0, 0)),
			win(at(12, 0, 0, 0), at(12, 1, 0, 0)), true},
		{"end and now: the earlier wins (end)", at(12, 0, 0, 0), at(12, 3, 0, 0), withEnd(at(12, 2, 0, 0)),
			win(at(12, 0, 0, 0), at(12, 2, 0, 0)), true},
		{"reached end", at(12, 2, 0, 0), at(13, 0, 0, 0), withEnd(at(12, 2, 0, 0)), source.Window{}, false},
		{"past end", at(12, 3, 0, 0), at(13, 0, 0, 0), withEnd(at(12, 2, 0, 0)), source.Window{}, false},
		{"reached fractional end", at(12, 2, 1, 0), at(13, 0, 0, 0), withEnd(at(12, 2, 0, 1)), source.Window{}, false},
		{"last second before fractional end", at(12, 2, 0, 0), at(13, 0, 0, 0), withEnd(at(12, 2, 0, 1)),
			win(at(12, 2, 0, 0), at(12, 2, 1, 0)), true},
		{"fractional cursor truncated", at(12, 0, 0, 400*time.Millisecond), at(13, 0, 0, 0), base,
			win(at(12, 0, 0, 0), at(12, 5, 0, 0)), true},
		{"non-UTC cursor and now come back in UTC", at(12, 0, 0, 0).In(shanghai), at(13, 0, 0, 0).In(shanghai), base,
			win(at(12, 0, 0, 0), at(12, 5, 0, 0)), true},
		{"window that is not whole seconds is truncated", at(12, 0, 0, 0), at(13, 0, 0, 0), Plan{Window: 90*time.Second + 500*time.Millisecond},
			win(at(12, 0, 0, 0), at(12, 1, 30, 0)), true},
		{"window of 1.5s", at(12, 0, 0, 0), at(13, 0, 0, 0), Plan{Window: 1500 * time.Millisecond},
			win(at(12, 0, 0, 0), at(12, 0, 1, 0)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NextWindow(tt.cursor, tt.now, tt.plan)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (window %v)", ok, tt.ok, got)
			}
			if !ok {
				if got != (source.Window{}) {
					t.Errorf("window = %v, want the zero window when !ok", got)
				}
				return
			}
			if !got.From.Equal(tt.want.From) || !got.To.Equal(tt.want.To) {
				t.Errorf("window = %v, want %v", got, tt.want)
			}
			if got.From.Location() != time.UTC || got.To.Location() != time.UTC {
				t.Errorf("window %v is not in UTC", got)
			}
			if err := got.Valid(); err != nil {
				t.Errorf("window is not valid for the source: %v", err)
			}
		})
	}
}

// TestNextWindowWalk walks a bounded plan to its end and checks the windows
// tile [start, ceil(end)) on whole seconds.
func TestNextWindowWalk(t *testing.T) {
	for _, window := range []time.Duration{time.Second, 7 * time.Second, 90*time.Second + 250*time.Millisecond, 5 * time.Minute} {
		t.Run(window.String(), func(t *testing.T) {
			start := at(12, 0, 0, 300*time.Millisecond)
			end := at(12, 17, 3, 200*time.Millisecond)
			p := Plan{Window: window, End: end}
			now := at(23, 0, 0, 0)
			cursor, _ := StartCursor(start, now, Retention)
			want := at(12, 0, 0, 0)
			n := 0
			for !Done(cursor, p) {
				w, ok := NextWindow(cursor, now, p)
				if !ok {
					t.Fatalf("no window at cursor %v before done", cursor)
				}
				if !w.From.Equal(want) {
					t.Fatalf("window %v does not start at the previous end %v", w, want)
				}
				if err := w.Valid(); err != nil {
					t.Fatal(err)
				}
				if w.To.Sub(w.From) > window {
					t.Fatalf("window %v is longer than %v", w, window)
				}
				cursor, want = w.To, w.To
				n++
				if n > 10000 {
					t.Fatal("no end")
				}
			}
			if !cursor.Equal(at(12, 17, 4, 0)) {
				t.Errorf("final cursor %v, want %v", cursor, at(12, 17, 4, 0))
			}
			if _, ok := NextWindow(cursor, now, p); ok {
				t.Error("a window after Done")
			}
		})
	}
}

func TestDone(t *testing.T) {
	tests := []struct {
		name   string
		cursor time.Time
		end    time.Time
		want   bool
	}{
		{"no end: never done", at(23, 59, 59, 0), time.Time{}, false},
		{"before end", at(12, 1, 59, 0), at(12, 2, 0, 0), false},
		{"at end", at(12, 2, 0, 0), at(12, 2, 0, 0), true},
		{"past end", at(12, 3, 0, 0), at(12, 2, 0, 0), true},
		{"at the second of a fractional end: not yet", at(12, 2, 0, 0), at(12, 2, 0, 500*time.Millisecond), false},
		{"past a fractional end's second", at(12, 2, 1, 0), at(12, 2, 0, 500*time.Millisecond), true},
		{"non-UTC end", at(12, 2, 0, 0), at(12, 2, 0, 0).In(time.FixedZone("X", -5*3600)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Done(tt.cursor, Plan{Window: time.Minute, End: tt.end}); got != tt.want {
				t.Errorf("Done(%v, end %v) = %v, want %v", tt.cursor, tt.end, got, tt.want)
			}
		})
	}
}

func TestStartCursor(t *testing.T) {
	now := at(12, 0, 0, 600*time.Millisecond)
	ret := 60 * 24 * time.Hour
	// now - retention + 1 minute, rounded down to a whole second.
	oldest := time.Date(2024, 12, 31, 12, 1, 0, 0, time.UTC)
	if got := now.Add(-ret + time.Minute).Truncate(time.Second); !got.Equal(oldest) {
		t.Fatalf("test setup: oldest = %v, want %v", got, oldest)
	}
	tests := []struct {
		name        string
		start       time.Time
		now         time.Time
		retention   time.Duration
		want        time.Time
		wantClamped bool
	}{
		{"recent start kept", at(10, 0, 0, 0), now, ret, at(10, 0, 0, 0), false},
		{"fractional start rounded down", at(10, 0, 0, 999*time.Millisecond), now, ret, at(10, 0, 0, 0), false},
		{"start in the future kept", at(13, 0, 0, 0), now, ret, at(13, 0, 0, 0), false},
		{"non-UTC start returned in UTC", at(10, 0, 0, 0).In(time.FixedZone("CST", 8*3600)), now, ret, at(10, 0, 0, 0), false},
		{"start at the margin kept", oldest, now, ret, oldest, false},
		{"start a second inside the margin clamped", oldest.Add(-time.Second), now, ret, oldest, true},
		{"start inside the last minute of retention clamped (margin)", now.Add(-ret + 30*time.Second), now, ret, oldest, true},
		{"start exactly at the retention horizon clamped", now.Add(-ret), now, ret, oldest, true},
		{"ancient start clamped", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), now, ret, oldest, true},
		{"zero start clamped", time.Time{}, now, ret, oldest, true},
		{"short retention", at(11, 0, 0, 0), now, time.Hour, at(11, 1, 0, 0), true},
		{"short retention, start inside", at(11, 30, 0, 0), now, time.Hour, at(11, 30, 0, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, clamped := StartCursor(tt.start, tt.now, tt.retention)
			if !got.Equal(tt.want) || clamped != tt.wantClamped {
				t.Errorf("StartCursor(%v) = %v, %v; want %v, %v", tt.start, got, clamped, tt.want, tt.wantClamped)
			}
			if got.Location() != time.UTC {
				t.Errorf("cursor %v not in UTC", got)
			}
			if got.Nanosecond() != 0 {
				t.Errorf("cursor %v not on a whole second", got)
			}
			if horizon := tt.now.Add(-tt.retention); got.Before(horizon.Add(time.Minute - time.Second)) {
				t.Errorf("cursor %v is not a minute inside the horizon %v", got, horizon)
			}
		})
	}
}

func TestRescans(t *testing.T) {
	c := at(12, 0, 0, 0)
	tests := []struct {
		name     string
		cursor   time.Time
		lookback time.Duration
		size     time.Duration
		floor    time.Time
		want     []source.Window
	}{
		{"no lookback", c, 0, 5 * time.Minute, time.Time{}, nil},
		{"negative lookback", c, -time.Minute, 5 * time.Minute, time.Time{}, nil},
		{"no size", c, 10 * time.Minute, 0, time.Time{}, nil},
		{"one window", c, 3 * time.Minute, 5 * time.Minute, time.Time{},
			[]source.Window{win(at(11, 57, 0, 0), c)}},
		{"exact split", c, 10 * time.Minute, 5 * time.Minute, time.Time{},
			[]source.Window{win(at(11, 50, 0, 0), at(11, 55, 0, 0)), win(at(11, 55, 0, 0), c)}},
		{"remainder last", c, 12 * time.Minute, 5 * time.Minute, time.Time{},
			[]source.Window{win(at(11, 48, 0, 0), at(11, 53, 0, 0)), win(at(11, 53, 0, 0), at(11, 58, 0, 0)), win(at(11, 58, 0, 0), c)}},
		{"floor cuts the start", c, 12 * time.Minute, 5 * time.Minute, at(11, 57, 0, 0),
			[]source.Window{win(at(11, 57, 0, 0), c)}},
		{"floor cuts in the middle of a window", c, 10 * time.Minute, 5 * time.Minute, at(11, 52, 0, 0),
			[]source.Window{win(at(11, 52, 0, 0), at(11, 57, 0, 0)), win(at(11, 57, 0, 0), c)}},
		{"floor before the range changes nothing", c, 5 * time.Minute, 5 * time.Minute, at(11, 0, 0, 0),
			[]source.Window{win(at(11, 55, 0, 0), c)}},
		{"floor at the cursor: nothing", c, 5 * time.Minute, 5 * time.Minute, c, nil},
		{"floor after the cursor: nothing", c, 5 * time.Minute, 5 * time.Minute, at(12, 1, 0, 0), nil},
		{"fractional floor never goes before floor", c, 5 * time.Minute, 5 * time.Minute, at(11, 58, 0, 300*time.Millisecond),
			[]source.Window{win(at(11, 58, 1, 0), c)}},
		{"fractional cursor truncated", at(12, 0, 0, 900*time.Millisecond), 2 * time.Minute, 5 * time.Minute, time.Time{},
			[]source.Window{win(at(11, 58, 0, 0), c)}},
		{"fractional lookback rounds the start down", c, 90*time.Second + 500*time.Millisecond, 5 * time.Minute, time.Time{},
			[]source.Window{win(at(11, 58, 29, 0), c)}},
		{"size that is not whole seconds", c, 4 * time.Second, 1500 * time.Millisecond, time.Time{},
			[]source.Window{
				win(at(11, 59, 56, 0), at(11, 59, 57, 0)), win(at(11, 59, 57, 0), at(11, 59, 58, 0)),
				win(at(11, 59, 58, 0), at(11, 59, 59, 0)), win(at(11, 59, 59, 0), c),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Rescans(tt.cursor, tt.lookback, tt.size, tt.floor)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Rescans = %v\nwant      %v", got, tt.want)
			}
			for _, w := range got {
				if err := w.Valid(); err != nil {
					t.Errorf("invalid window: %v", err)
				}
				if w.From.Before(tt.floor) {
					t.Errorf("window %v starts before floor %v", w, tt.floor)
				}
				if w.To.Sub(w.From) > tt.size {
					t.Errorf("window %v is longer than %v", w, tt.size)
				}
			}
		})
	}
}

func TestPruneBefore(t *testing.T) {
	tests := []struct {
		name     string
		cursors  []time.Time
		lookback time.Duration
		want     time.Time
	}{
		{"no streams", nil, time.Minute, time.Time{}},
		{"empty", []time.Time{}, time.Minute, time.Time{}},
		{"one stream, no lookback", []time.Time{at(12, 0, 0, 0)}, 0, at(11, 59, 58, 0)},
		{"one stream", []time.Time{at(12, 0, 0, 0)}, 10 * time.Minute, at(11, 49, 58, 0)},
		{"slowest stream wins", []time.Time{at(12, 0, 0, 0), at(11, 0, 0, 0), at(12, 30, 0, 0)}, time.Minute, at(10, 58, 58, 0)},
		{"slowest stream wins, first", []time.Time{at(11, 0, 0, 0), at(12, 0, 0, 0)}, 0, at(10, 59, 58, 0)},
		{"slowest stream wins, last", []time.Time{at(12, 0, 0, 0), at(11, 0, 0, 0)}, 0, at(10, 59, 58, 0)},
		{"a stream without a cursor prunes nothing", []time.Time{at(12, 0, 0, 0), {}}, 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PruneBefore(tt.cursors, tt.lookback)
			if !got.Equal(tt.want) {
				t.Errorf("PruneBefore = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPruneBeforeIsSafe checks the horizon against what a rescan can serve:
// a rescan of [c-lookback, c) whose bounds a server may widen by a second on
// either side must never return a msgid that was pruned. A msgid published
// under a window [F, T) was sent at most at T (an inclusive end), so its
// horizon T is at least its send time.
func TestPruneBeforeIsSafe(t *testing.T) {
	c := at(12, 0, 0, 0)
	for _, lookback := range []time.Duration{0, time.Second, 5 * time.Minute} {
		h := PruneBefore([]time.Time{c}, lookback).Unix()
		for _, w := range append(Rescans(c, lookback, time.Minute, time.Time{}), win(c, c.Add(time.Minute))) {
			earliest := w.From.Add(-time.Second).Unix() // a widened begin bound
			// The latest pruned entry has horizon h-1 and was sent at h-1 at most.
			if h-1 >= earliest {
				t.Errorf("lookback %v: an entry with horizon %d is pruned but a query of %v can return a message sent at %d",
					lookback, h-1, w, earliest)
			}
		}
	}
}
