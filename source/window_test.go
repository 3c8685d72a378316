package source

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

// mustParse parses s (in layout) in loc, failing the test if it does not.
func mustParse(t testing.TB, layout, s string, loc *time.Location) time.Time {
	t.Helper()
	v, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestQueryBoundsFixedOffset(t *testing.T) {
	shanghai := mustLoad(t, "Asia/Shanghai")
	cst := func(s string) time.Time { return mustParse(t, TimeLayout, s, shanghai) }
	utc := func(s string) time.Time { return mustParse(t, TimeLayout, s, time.UTC) }
	cases := []struct {
		name       string
		w          Window
		loc        *time.Location
		b          Bounds
		begin, end string
	}{
		// The vendor's example query, as a window [10:10:10, 10:10:12).
		{"shanghai inclusive", Window{cst("2015-11-02 10:10:10"), cst("2015-11-02 10:10:12")}, shanghai, Inclusive,
			"2015-11-02 10:10:10", "2015-11-02 10:10:11"},
		{"shanghai strict", Window{cst("2015-11-02 10:10:10"), cst("2015-11-02 10:10:12")}, shanghai, Strict,
			"2015-11-02 10:10:09", "2015-11-02 10:10:12"},
		// The same instants given in UTC produce the same Shanghai strings.
		{"shanghai inclusive, window in UTC", Window{utc("2015-11-02 02:10:10"), utc("2015-11-02 02:10:12")}, shanghai, Inclusive,
			"2015-11-02 10:10:10", "2015-11-02 10:10:11"},
		{"shanghai strict, window in UTC", Window{utc("2015-11-02 02:10:10"), utc("2015-11-02 02:10:12")}, shanghai, Strict,
			"2015-11-02 10:10:09", "2015-11-02 10:10:12"},
		// UTC+8 moves the date across midnight.
		{"shanghai inclusive across midnight", Window{utc("2024-02-28 15:59:00"), utc("2024-02-28 16:01:00")}, shanghai, Inclusive,
			"2024-02-28 23:59:00", "2024-02-29 00:00:59"},
		{"shanghai strict, window starting at midnight", Window{cst("2024-03-01 00:00:00"), cst("2024-03-01 01:00:00")}, shanghai, Strict,
			"2024-02-29 23:59:59", "2024-03-01 01:00:00"},
		{"utc inclusive", Window{utc("2025-06-01 12:00:00"), utc("2025-06-01 12:05:00")}, time.UTC, Inclusive,
			"2025-06-01 12:00:00", "2025-06-01 12:04:59"},
		{"utc strict", Window{utc("2025-06-01 12:00:00"), utc("2025-06-01 12:05:00")}, time.UTC, Strict,
			"2025-06-01 11:59:59", "2025-06-01 12:05:00"},
		{"utc strict across new year", Window{utc("2025-01-01 00:00:00"), utc("2025-01-01 00:00:10")}, time.UTC, Strict,
			"2024-12-31 23:59:59", "2025-01-01 00:00:10"},
		// A window of one second.
		{"one second inclusive", Window{cst("2025-06-01 08:00:00"), cst("2025-06-01 08:00:01")}, shanghai, Inclusive,
			"2025-06-01 08:00:00", "2025-06-01 08:00:00"},
		{"one second strict", Window{cst("2025-06-01 08:00:00"), cst("2025-06-01 08:00:01")}, shanghai, Strict,
			"2025-06-01 07:59:59", "2025-06-01 08:00:01"},
		{"one second utc", Window{utc("2025-06-01 08:00:00"), utc("2025-06-01 08:00:01")}, time.UTC, Inclusive,
			"2025-06-01 08:00:00", "2025-06-01 08:00:00"},
		// A fixed zone.
		{"fixed -03:30 inclusive", Window{utc("2025-06-01 12:00:00"), utc("2025-06-01 13:00:00")}, time.FixedZone("X", -(3*3600 + 1800)), Inclusive,
			"2025-06-01 08:30:00", "2025-06-01 09:29:59"},
		// New York away from any transition: exact, like any fixed offset.
		{"new york summer inclusive", Window{utc("2025-07-04 16:00:00"), utc("2025-07-04 16:01:00")}, mustLoad(t, "America/New_York"), Inclusive,
			"2025-07-04 12:00:00", "2025-07-04 12:00:59"},
		{"new york winter strict", Window{utc("2025-01-15 17:00:00"), utc("2025-01-15 17:01:00")}, mustLoad(t, "America/New_York"), Strict,
			"2025-01-15 11:59:59", "2025-01-15 12:01:00"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.w.Valid(); err != nil {
				t.Fatalf("test window invalid: %v", err)
			}
			begin, end := QueryBounds(c.w, c.loc, c.b)
			if begin != c.begin || end != c.end {
				t.Errorf("QueryBounds(%v, %v, %v) = %q, %q; want %q, %q", c.w, c.loc, c.b, begin, end, c.begin, c.end)
			}
			checkCovers(t, c.w, c.loc, c.b, begin, end, false)
			if c.b == Strict {
				// A server that reads the strict strings inclusively still
				// covers w, with one extra second on each side.
				checkCovers(t, c.w, c.loc, Inclusive, begin, end, false)
			}
		})
	}
}

// readings returns every instant a server in loc could plausibly mean by the
// wall-clock string s: for each candidate UTC offset o of loc, s read at o
// counts when loc really is at o then (once normally, twice in a repeated
// hour); if no offset fits (a skipped hour), every candidate counts. With
// anyOffset, every candidate counts regardless (a server that applies one
// offset, before or after the change, to the whole query).
func readings(t testing.TB, s string, loc *time.Location, offsets []int, anyOffset bool) []time.Time {
	t.Helper()
	var valid, all []time.Time
	for _, o := range offsets {
		v, err := time.ParseInLocation(TimeLayout, s, time.FixedZone("", o))
		if err != nil {
			t.Fatalf("bound %q does not parse: %v", s, err)
		}
		all = append(all, v)
		if _, real := v.In(loc).Zone(); real == o {
			valid = append(valid, v)
		}
	}
	// Go's own reading of the string must be among them.
	if v, err := ParseAPITime(s, loc); err != nil {
		t.Fatalf("ParseAPITime(%q): %v", s, err)
	} else {
		found := false
		for _, a := range all {
			found = found || a.Equal(v)
		}
		if !found {
			t.Fatalf("ParseAPITime(%q) = %v, not one of the candidate readings %v", s, v, all)
		}
	}
	if anyOffset || len(valid) == 0 {
		return all
	}
	return valid
}

// zoneOffsets lists the distinct UTC offsets loc uses within a day of w.
func zoneOffsets(w Window, loc *time.Location) []int {
	var offs []int
	for t := w.From.Add(-24 * time.Hour); !t.After(w.To.Add(24 * time.Hour)); t = t.Add(15 * time.Minute) {
		_, o := t.In(loc).Zone()
		if !containsInt(offs, o) {
			offs = append(offs, o)
		}
	}
	return offs
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkCovers asserts that begin and end, read by a server as bounds of kind
// b under every plausible reading, select every second of w, and at most
// slack more on each side.
func checkCovers(t testing.TB, w Window, loc *time.Location, b Bounds, begin, end string, anyOffset bool) {
	t.Helper()
	offs := zoneOffsets(w, loc)
	first, last := w.From, w.To.Add(-time.Second) // the window's first and last whole seconds
	// The widening must stay within the zone's largest offset change (plus the
	// second a strict bound needs).
	slack := time.Second
	for _, a := range offs {
		for _, c := range offs {
			slack = max(slack, time.Duration(a-c)*time.Second+time.Second)
		}
	}
	for _, lo := range readings(t, begin, loc, offs, anyOffset) {
		// Inclusive selects t >= lo; strict selects t > lo.
		firstSelected := lo
		if b == Strict {
			firstSelected = lo.Add(time.Second)
		}
		if firstSelected.After(first) {
			t.Errorf("begin_time %q read as %v misses the window's first second %v", begin, lo.UTC(), first.UTC())
		}
		if first.Sub(firstSelected) > slack {
			t.Errorf("begin_time %q read as %v selects %v before the window (slack %v)", begin, lo.UTC(), first.Sub(firstSelected), slack)
		}
	}
	for _, hi := range readings(t, end, loc, offs, anyOffset) {
		lastSelected := hi
		if b == Strict {
			lastSelected = hi.Add(-time.Second)
		}
		if lastSelected.Before(last) {
			t.Errorf("end_time %q read as %v misses the window's last second %v", end, hi.UTC(), last.UTC())
		}
		if lastSelected.Sub(last) > slack {
			t.Errorf("end_time %q read as %v selects %v after the window (slack %v)", end, hi.UTC(), lastSelected.Sub(last), slack)
		}
	}
}

// TestQueryBoundsDST covers New York's 2025 transitions: spring forward at
// 2025-03-09 07:00Z (02:00 EST becomes 03:00 EDT, wall times 02:00-02:59 do
// not exist) and fall back at 2025-11-02 06:00Z (02:00 EDT becomes 01:00 EST,
// wall times 01:00-01:59 happen twice).
func TestQueryBoundsDST(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	z := func(s string) time.Time { return mustParse(t, time.RFC3339, s, time.UTC) }
	windows := []struct {
		name string
		w    Window
	}{
		{"spring: across the change", Window{z("2025-03-09T06:30:00Z"), z("2025-03-09T07:30:00Z")}},
		{"spring: ending at the change", Window{z("2025-03-09T06:00:00Z"), z("2025-03-09T07:00:00Z")}},
		{"spring: starting at the change", Window{z("2025-03-09T07:00:00Z"), z("2025-03-09T08:00:00Z")}},
		{"spring: one second before", Window{z("2025-03-09T06:59:59Z"), z("2025-03-09T07:00:00Z")}},
		{"spring: two seconds across", Window{z("2025-03-09T06:59:59Z"), z("2025-03-09T07:00:01Z")}},
		{"spring: the whole day", Window{z("2025-03-09T05:00:00Z"), z("2025-03-10T04:00:00Z")}},
		{"fall: across the change", Window{z("2025-11-02T05:30:00Z"), z("2025-11-02T06:30:00Z")}},
		{"fall: ending at the change", Window{z("2025-11-02T05:00:00Z"), z("2025-11-02T06:00:00Z")}},
		{"fall: starting at the change", Window{z("2025-11-02T06:00:00Z"), z("2025-11-02T07:00:00Z")}},
		{"fall: two seconds across", Window{z("2025-11-02T05:59:59Z"), z("2025-11-02T06:00:01Z")}},
		{"fall: inside the first 01:xx hour (EDT)", Window{z("2025-11-02T05:10:00Z"), z("2025-11-02T05:50:00Z")}},
		{"fall: inside the second 01:xx hour (EST)", Window{z("2025-11-02T06:10:00Z"), z("2025-11-02T06:50:00Z")}},
		{"fall: one second in the second 01:xx hour", Window{z("2025-11-02T06:30:00Z"), z("2025-11-02T06:30:01Z")}},
		{"fall: one minute before the repeated hour", Window{z("2025-11-02T04:59:00Z"), z("2025-11-02T05:00:00Z")}},
		{"fall: one minute after the repeated hour", Window{z("2025-11-02T07:00:00Z"), z("2025-11-02T07:01:00Z")}},
		{"fall: the whole day", Window{z("2025-11-02T04:00:00Z"), z("2025-11-03T05:00:00Z")}},
	}
	for _, wc := range windows {
		for _, b := range []Bounds{Inclusive, Strict} {
			t.Run(fmt.Sprintf("%s/%v", wc.name, map[Bounds]string{Inclusive: "inclusive", Strict: "strict"}[b]), func(t *testing.T) {
				if err := wc.w.Valid(); err != nil {
					t.Fatal(err)
				}
				begin, end := QueryBounds(wc.w, ny, b)
				t.Logf("%v -> %q .. %q", wc.w, begin, end)
				// Every reading a server could make of each string covers w.
				checkCovers(t, wc.w, ny, b, begin, end, false)
				// A window containing the change is also covered by a server
				// that reads both strings at either offset.
				_, o1 := wc.w.From.In(ny).Zone()
				_, o2 := wc.w.To.Add(-time.Second).In(ny).Zone()
				if o1 != o2 {
					checkCovers(t, wc.w, ny, b, begin, end, true)
				}
			})
		}
	}
}

// TestQueryBoundsSubSecond pins what QueryBounds does with a window that Valid
// rejects: it truncates to whole seconds rather than failing.
func TestQueryBoundsSubSecond(t *testing.T) {
	from := time.Date(2025, 6, 1, 0, 0, 0, 700_000_000, time.UTC)
	begin, end := QueryBounds(Window{from, from.Add(2 * time.Second)}, time.UTC, Inclusive)
	if begin != "2025-06-01 00:00:00" || end != "2025-06-01 00:00:01" {
		t.Errorf("QueryBounds(sub-second) = %q, %q", begin, end)
	}
}

func TestWindowValid(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		w    Window
		want string // "" = valid, else a substring of the error
	}{
		{"one second", Window{t0, t0.Add(time.Second)}, ""},
		{"one day", Window{t0, t0.Add(24 * time.Hour)}, ""},
		{"different zones, same instant order", Window{t0.In(mustLoad(t, "Asia/Shanghai")), t0.Add(time.Minute)}, ""},
		{"empty", Window{t0, t0}, "empty"},
		{"same instant in two zones", Window{t0, t0.In(mustLoad(t, "Asia/Shanghai"))}, "empty"},
		{"reversed", Window{t0.Add(time.Second), t0}, "empty"},
		{"zero", Window{}, "empty"},
		{"zero From", Window{To: t0}, ""},
		{"From not on a second", Window{t0.Add(time.Millisecond), t0.Add(time.Second)}, "whole seconds"},
		{"To not on a second", Window{t0, t0.Add(time.Second + time.Nanosecond)}, "whole seconds"},
		{"sub-second, empty", Window{t0.Add(time.Millisecond), t0.Add(time.Millisecond)}, "empty"},
	}
	for _, c := range cases {
		err := c.w.Valid()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: Valid() = %v, want nil", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: Valid() = %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestWindowString(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	w := Window{time.Date(2025, 6, 1, 8, 0, 0, 0, sh), time.Date(2025, 6, 1, 9, 0, 0, 0, sh)}
	if got, want := w.String(), "[2025-06-01T00:00:00Z, 2025-06-01T01:00:00Z)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseAPITime(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	got, err := ParseAPITime("2015-11-02 10:10:10", sh)
	if err != nil || !got.Equal(time.Date(2015, 11, 2, 2, 10, 10, 0, time.UTC)) {
		t.Errorf("ParseAPITime = %v, %v", got, err)
	}
	for _, bad := range []string{"", "2015-11-02", "2015-11-02T10:10:10", "2015-11-02 10:10:10Z", "2015-13-02 10:10:10"} {
		if _, err := ParseAPITime(bad, sh); err == nil {
			t.Errorf("ParseAPITime(%q) succeeded", bad)
		}
	}
}

// TestQueryBoundsAroundTransitions sweeps windows of several lengths across
// every offset change of a few zones in a year (DST of an hour and of half an
// hour, southern hemisphere, a whole skipped day) and checks each against every
// plausible reading of its bounds.
func TestQueryBoundsAroundTransitions(t *testing.T) {
	zones := []struct {
		name string
		year int
	}{
		{"America/New_York", 2025},
		{"Europe/London", 2024},
		{"Australia/Lord_Howe", 2025}, // 30-minute DST
		{"America/Santiago", 2025},    // southern hemisphere, changes at midnight
		{"Pacific/Apia", 2011},        // skipped 2011-12-30 entirely (-10h to +14h)
		{"Asia/Shanghai", 1991},       // the last year China used DST
	}
	lengths := []time.Duration{time.Second, 10 * time.Minute, time.Hour, 90 * time.Minute, 3 * time.Hour}
	for _, z := range zones {
		loc := mustLoad(t, z.name)
		var transitions []time.Time
		start := time.Date(z.year, 1, 1, 0, 0, 0, 0, time.UTC)
		end := start.AddDate(1, 0, 0)
		for at := start; at.Before(end); {
			_, next := at.In(loc).ZoneBounds()
			if next.IsZero() || !next.Before(end) {
				break
			}
			if _, o1 := next.Add(-time.Second).In(loc).Zone(); func() bool { _, o2 := next.In(loc).Zone(); return o1 != o2 }() {
				transitions = append(transitions, next)
			}
			at = next
		}
		if len(transitions) == 0 {
			t.Fatalf("%s: no offset change in %d", z.name, z.year)
		}
		checked := 0
		for _, tr := range transitions {
			for k := -40; k <= 40; k++ {
				from := tr.Add(time.Duration(k) * 5 * time.Minute)
				for _, l := range lengths {
					w := Window{from, from.Add(l)}
					for _, b := range []Bounds{Inclusive, Strict} {
						begin, end := QueryBounds(w, loc, b)
						c := &collect{TB: t}
						checkCovers(c, w, loc, b, begin, end, false)
						_, o1 := w.From.In(loc).Zone()
						_, o2 := w.To.Add(-time.Second).In(loc).Zone()
						if o1 != o2 {
							checkCovers(c, w, loc, b, begin, end, true)
						}
						if len(c.msgs) > 0 {
							t.Fatalf("%s %v bounds %d: %q .. %q:\n%s", z.name, w, b, begin, end, strings.Join(c.msgs, "\n"))
						}
						checked++
					}
				}
			}
		}
		t.Logf("%s: %d transitions, %d windows checked", z.name, len(transitions), checked)
	}
}

// collect is a testing.TB whose Errorf records instead of failing.
type collect struct {
	testing.TB
	msgs []string
}

func (c *collect) Errorf(format string, args ...any) {
	c.msgs = append(c.msgs, fmt.Sprintf(format, args...))
}
func (c *collect) Helper() {}
