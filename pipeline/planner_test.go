package pipeline

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
)

func TestSizerNext(t *testing.T) {
	s := Sizer{Max: 7 * 24 * time.Hour, Target: 20000}
	for _, tc := range []struct {
		name    string
		sizer   Sizer
		density float64
		known   bool
		want    time.Duration
	}{
		{"nothing known: the largest", s, 0, false, 7 * 24 * time.Hour},
		{"an empty window before: the largest", s, 0, true, 7 * 24 * time.Hour},
		{"sparse: capped at the largest", s, 0.01, true, 7 * 24 * time.Hour},
		{"10 msg/s: 2000 s", s, 10, true, 2000 * time.Second},
		{"fractional seconds are cut", s, 3, true, 6666 * time.Second},
		{"dense: at least a second", s, 1e9, true, time.Second},
		{"fixed windows", Sizer{Max: 5 * time.Minute}, 10, true, 5 * time.Minute},
		{"a largest window below a second counts as one", Sizer{Max: time.Millisecond, Target: 10}, 1, true, time.Second},
	} {
		if got := tc.sizer.Next(tc.density, tc.known); got != tc.want {
			t.Errorf("%s: Next(%g, %v) = %v, want %v", tc.name, tc.density, tc.known, got, tc.want)
		}
	}
}

func TestSizerTooBig(t *testing.T) {
	s := Sizer{Max: time.Hour, Target: 100}
	long, second := win(t0, t0.Add(time.Minute)), win(t0, t0.Add(time.Second))
	for _, tc := range []struct {
		total int
		w     bool
		want  bool
	}{
		{200, true, false}, {201, true, true}, {math.MaxInt, true, false}, {5000, false, false},
	} {
		w := long
		if !tc.w {
			w = second
		}
		if got := s.TooBig(tc.total, w); got != tc.want {
			t.Errorf("TooBig(%d, %v) = %v, want %v", tc.total, w, got, tc.want)
		}
	}
	if (Sizer{Max: time.Hour}).TooBig(1e9, long) {
		t.Error("fixed windows are never too big")
	}
}

func TestDensity(t *testing.T) {
	if d, ok := Density(600, time.Minute); !ok || d != 10 {
		t.Errorf("Density(600, 1m) = %v, %v", d, ok)
	}
	for _, tc := range []struct {
		total int
		span  time.Duration
	}{{math.MaxInt, time.Minute}, {-1, time.Minute}, {5, 0}} {
		if _, ok := Density(tc.total, tc.span); ok {
			t.Errorf("Density(%d, %v) is known", tc.total, tc.span)
		}
	}
}

// walksCase is a request rate, an answer latency and a bound on the walks
// (AutoConcurrency's most, WalksNeeded's limit), and the walks wanted.
type walksCase struct {
	rate    float64
	latency time.Duration
	bound   int
	want    int
}

// checkWalks checks f, AutoConcurrency or WalksNeeded, on each case.
func checkWalks(t *testing.T, name string, f func(float64, time.Duration, int) int, cases []walksCase) {
	t.Helper()
	for _, tc := range cases {
		if got := f(tc.rate, tc.latency, tc.bound); got != tc.want {
			t.Errorf("%s(%g, %v, %d) = %d, want %d", name, tc.rate, tc.latency, tc.bound, got, tc.want)
		}
	}
}

func TestAutoConcurrency(t *testing.T) {
	checkWalks(t, "AutoConcurrency", AutoConcurrency, []walksCase{
		{10, 200 * time.Millisecond, 16, 4},    // 10 x 0.2 x 1.5 = 3, + 0.5
		{8, 200 * time.Millisecond, 16, 3},     // 2.4 + 0.5 -> 3
		{10, 20 * time.Millisecond, 16, 1},     // one walk is fast enough
		{8, 2 * time.Millisecond, 16, 1},       // a nearby API
		{3333, 200 * time.Millisecond, 16, 16}, // the paid plan: at most the most
		{10, 0, 16, 4},                         // before the first answer
		{0, time.Second, 16, 4},                // no rate known
		{10, 0, 2, 2},
		{10, time.Second, 1, 1},
	})
}

// TestSizedWindows runs a bounded backfill over a history with quiet hours,
// a busy hour and bursts, with windows sized by the data and several
// fetched at once: every message exactly once, cursors strictly in order,
// every window walked to its end holding at most twice the target (or one
// second), and far fewer requests than fixed windows would take.
func TestSizedWindows(t *testing.T) {
	start, end := t0, t0.Add(48*time.Hour)
	msgs := generate(t, 31, start, end.Sub(start), 300, 0, 0) // quiet
	busy := generate(t, 32, start.Add(20*time.Hour), time.Hour, 2000, 3, 150)
	msgs = append(msgs, busy...)
	const pageSize, target = 20, 200
	f := &fakeFetcher{msgs: msgs, pageSize: pageSize}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, 24*time.Hour)
	cfg.WindowMessages = target
	cfg.FetchConcurrency = 4
	cp.check = cursorOnlyForward()
	p := runOK(t, cfg, f, pub, cp)
	publishedAllTo(t, pub, cp, msgs, end)
	st := p.Stats()
	if st.Splits == 0 {
		t.Errorf("no window was cut smaller: %+v", st)
	}
	// A window that holds more than twice the target (and is longer than a
	// second) is cut: the same start is fetched again with a smaller window.
	calls := f.Calls()
	cut := 0
	for i, c := range calls {
		n := 0
		for _, m := range msgs {
			if !m.Time.Before(c.Window.From) && !m.Time.After(c.Window.To) {
				n++
			}
		}
		if n <= 2*target || c.Window.To.Sub(c.Window.From) <= time.Second {
			continue
		}
		cut++
		again := false
		for _, d := range calls[i+1:] {
			again = again || (d.Window.From.Equal(c.Window.From) && d.Window.To.Before(c.Window.To))
		}
		if !again {
			t.Errorf("window %v holds %d messages (target %d) and was not cut", c.Window, n, target)
		}
	}
	if int64(cut) != st.Splits {
		t.Errorf("%d windows too big, %d splits", cut, st.Splits)
	}
	if st.Windows == 0 || st.Pages > int64(len(msgs)/pageSize)*3/2+st.Windows+st.Splits {
		t.Errorf("%d pages for %d messages in pages of %d over %d windows (%d splits): most pages are not full", st.Pages, len(msgs), pageSize, st.Windows, st.Splits)
	}
	fixed := int64(end.Sub(start) / (5 * time.Minute))
	if n := int64(len(calls)); n*4 > fixed {
		t.Errorf("%d fetches; fixed 5-minute windows would take %d", n, fixed)
	}
	t.Logf("%d messages, %d fetches, %d pages, %d windows, %d splits, %d commits", len(msgs), len(f.Calls()), st.Pages, st.Windows, st.Splits, st.Commits)
}

// cursorOnlyForward returns a checkpoint check that fails a commit moving
// the messages stream's cursor to or behind where the last one left it.
func cursorOnlyForward() func(checkpoint.Commit, checkpoint.State) error {
	var last time.Time
	return func(c checkpoint.Commit, _ checkpoint.State) error {
		if cur, ok := c.Cursors["messages"]; ok {
			if !cur.After(last) {
				return fmt.Errorf("cursor %v does not move past %v", cur, last)
			}
			last = cur
		}
		return nil
	}
}

func TestWalksNeeded(t *testing.T) {
	checkWalks(t, "WalksNeeded", WalksNeeded, []walksCase{
		{10, 200 * time.Millisecond, 4, 3},  // 2, and a fifth: 2.4
		{10, 160 * time.Millisecond, 4, 2},  // 1.6 x 1.2 = 1.92
		{10, 170 * time.Millisecond, 4, 3},  // 2.04
		{10, 20 * time.Millisecond, 4, 1},   // one walk is fast enough
		{3333, time.Second, 16, 16},         // within the limit
		{10, 0, 4, 4},                       // latency unknown
		{0, time.Second, 3, 3},              // no rate limit
		{10, 200 * time.Millisecond, 0, 1},  // a limit below one is one
		{100, 200 * time.Millisecond, 8, 8}, // 20 walks wanted, 8 allowed
	})
}

func TestWindowCount(t *testing.T) {
	for _, tc := range []struct {
		rest                      float64
		target, limit, need, page int
		want                      int
	}{
		{200_000, 20_000, 4, 2, 0, 10}, // rounds of 4, 4 and 2: the last is busy enough
		{180_000, 20_000, 4, 2, 0, 10}, // 9 would end with one window walking alone
		{170_000, 20_000, 4, 3, 0, 11}, // 9 -> a last round of 3
		{160_000, 20_000, 4, 2, 0, 8},  // two full rounds
		{203_000, 20_000, 4, 2, 0, 10}, // an estimate 1.5% over: no window more
		{205_000, 20_000, 4, 2, 0, 11}, // 2.5% over: one more
		{200_000, 50_000, 4, 2, 0, 4},  // one round
		{30_000, 20_000, 4, 2, 0, 2},   // 2 is both the cap's and the rate's
		{5_000, 20_000, 4, 2, 0, 2},    // small: still two walks side by side
		{5_000, 20_000, 1, 1, 0, 1},    // one at a time: one window
		{90_000, 20_000, 4, 1, 0, 5},   // one walk keeps the rate busy: no filling
		{0, 20_000, 4, 2, 0, 2},        // nothing known to be left
		{1e6, 0, 4, 2, 0, 2},           // no target: the walks the rate needs
		{100_000, 20_000, 0, 5, 0, 5},  // limit below one: one at a time
		// With the page size: the count whose windows take the fewest pages.
		{200_000, 20_000, 4, 3, 1000, 12}, // 11 x 18,182 take 11 x 19 = 209 pages, 12 x 16,667 about 204
		{200_000, 20_000, 4, 2, 1000, 12}, // 10 x 20,000: half of them 21 pages, 205 in all; 12 about 204
		{190_000, 20_000, 4, 2, 1000, 12}, // 10 x 19,000 about 195 (right on a page), 11 x 17,273 198, 12 x 15,833 about 192
		{150_000, 50_000, 4, 3, 1000, 3},  // 3 x 50,000 about 151.5 pages; 4 x 37,500 take 152; 5 and 6 end in a lone round
	} {
		if got := WindowCount(tc.rest, tc.target, tc.limit, tc.need, tc.page); got != tc.want {
			t.Errorf("WindowCount(%g, %d, %d, %d, %d) = %d, want %d", tc.rest, tc.target, tc.limit, tc.need, tc.page, got, tc.want)
		}
	}
}

func TestExpectedPages(t *testing.T) {
	for _, tc := range []struct {
		share, page float64
		lo, hi      float64
	}{
		{16_667, 1000, 17.0, 17.05},  // 333 under 17 pages, sigma 183: seldom 18
		{20_000, 1000, 20.45, 20.55}, // right on 20 pages: half take 21
		{18_182, 1000, 18.8, 18.86},  // 182 over 18 pages, sigma 191: mostly 19
		{500, 1000, 1.0, 1.0},        // one part page
	} {
		if got := expectedPages(tc.share, tc.page); got < tc.lo-1e-9 || got > tc.hi+1e-9 {
			t.Errorf("expectedPages(%g, %g) = %.3f, want within [%g, %g]", tc.share, tc.page, got, tc.lo, tc.hi)
		}
	}
}
