package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/source"
)

func TestBuckets(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		size     time.Duration
		want     int
		last     time.Duration
	}{
		{"whole hours", t0, t0.Add(3 * time.Hour), time.Hour, 3, time.Hour},
		{"shorter last", t0, t0.Add(150 * time.Minute), time.Hour, 3, 30 * time.Minute},
		{"one short", t0, t0.Add(time.Minute), time.Hour, 1, time.Minute},
		{"empty", t0, t0, time.Hour, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Buckets(tc.from, tc.to, tc.size)
			if len(got) != tc.want {
				t.Fatalf("got %d buckets %v, want %d", len(got), got, tc.want)
			}
			if tc.want == 0 {
				return
			}
			if !got[0].From.Equal(tc.from) || !got[len(got)-1].To.Equal(tc.to) {
				t.Errorf("buckets %v do not span [%v, %v)", got, tc.from, tc.to)
			}
			for i := 1; i < len(got); i++ {
				if !got[i].From.Equal(got[i-1].To) {
					t.Errorf("gap between %v and %v", got[i-1], got[i])
				}
			}
			if d := got[len(got)-1].To.Sub(got[len(got)-1].From); d != tc.last {
				t.Errorf("last bucket is %v long, want %v", d, tc.last)
			}
		})
	}
}

func TestCoverage(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	w := source.Window{From: t0, To: t0.Add(time.Hour)}
	s := time.Second
	for _, tc := range []struct {
		name          string
		queried, read source.Bounds
		a, b          time.Time
	}{
		{"inclusive read inclusive", source.Inclusive, source.Inclusive, w.From, w.To},
		{"strict read strict", source.Strict, source.Strict, w.From, w.To},
		{"strict read inclusive", source.Strict, source.Inclusive, w.From.Add(-s), w.To.Add(s)},
		{"inclusive read strict", source.Inclusive, source.Strict, w.From.Add(s), w.To.Add(-s)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := Coverage(w, shanghai, tc.queried, tc.read)
			if !a.Equal(tc.a) || !b.Equal(tc.b) {
				t.Errorf("Coverage = [%v, %v), want [%v, %v)", a.UTC(), b.UTC(), tc.a, tc.b)
			}
		})
	}
	// Across a daylight-saving change the poller widens its strings; the
	// coverage says so instead of pretending to be exact.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	fall := time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC) // 01:00 EDT, an hour before the change
	dw := source.Window{From: fall, To: fall.Add(2 * time.Hour)}
	a, b := Coverage(dw, ny, source.Inclusive, source.Inclusive)
	if a.After(dw.From) || b.Before(dw.To) {
		t.Errorf("coverage [%v, %v) of a window across a change does not contain %v", a.UTC(), b.UTC(), dw)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 35, 12, 500, time.UTC)
	for _, tc := range []struct {
		v      string
		bucket time.Duration
		want   time.Time
		err    string
	}{
		{"2026-11-30T16:00:00Z", time.Hour, time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC), ""},
		{"2026-12-01T00:00:00+08:00", time.Hour, time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC), ""},
		{"now", time.Hour, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), ""},
		{"-24h", 24 * time.Hour, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), ""},
		{"-90m", time.Minute, time.Date(2026, 12, 1, 8, 5, 0, 0, time.UTC), ""},
		{"", time.Hour, time.Time{}, "required"},
		{"yesterday", time.Hour, time.Time{}, "neither"},
		{"-1d", time.Hour, time.Time{}, "negative duration"},
		{"2026-11-30T16:00:00.5Z", time.Hour, time.Time{}, "whole second"},
	} {
		got, err := ParseTime(tc.v, tc.bucket, now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTime(%q) error %v, want one saying %q", tc.v, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q, %v) = %v, %v; want %v", tc.v, tc.bucket, got, err, tc.want)
		}
	}
}
