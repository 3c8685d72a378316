package progress

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"

	"github.com/imreport/imreport/internal/testkit"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// The bars, drawn on a buffer with a manual refresh: one per stream with
// its name, share done, cursor, counts, rates and ETA; a log line written
// through the bars comes out above them; the wait note shows below; a
// bounded stream that reached its end is drawn full.
func TestBarsDraw(t *testing.T) {
	var out testkit.Buffer
	refresh := make(chan any)
	b := NewBars(&out, mpb.WithManualRefresh(refresh), mpb.WithWidth(160))
	end := t0.Add(10 * time.Hour)
	b.Update([]Status{
		{Stream: stream("messages", t0, t0.Add(2*time.Hour), end, 4600, 46), Done: 0.2, Remaining: 8 * time.Hour, MsgRate: 10, ReqRate: 0.1, ETA: 48 * time.Minute},
		{Stream: stream("users/alice", t0, end, end, 12, 3), Done: 1, ETA: 0},
	}, true, "")
	if _, err := b.Write([]byte(`{"level":"WARN","msg":"report api request failed, retrying"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	refresh <- struct{}{}
	b.Update(nil, true, "waiting until 2026-11-01 10:10:00Z (end + lookback) for late arrivals")
	refresh <- struct{}{}
	b.Close()
	if _, err := b.Write([]byte("after close\n")); err != nil {
		t.Fatal(err)
	}
	text := ansi.ReplaceAllString(out.String(), "")
	for _, want := range []string{
		"messages", " 20.0%  cursor 2026-11-01 02:00:00Z  4600 published  10 msg/s  0.1 req/s  eta 48m0s",
		"users/alice", "100.0%",
		"report api request failed, retrying",
		"waiting until 2026-11-01 10:10:00Z (end + lookback) for late arrivals",
		"after close",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the bars lack %q:\n%s", want, text)
		}
	}
	if i, j := strings.Index(text, "report api request failed"), strings.LastIndex(text, "messages "); i < 0 || j < i {
		t.Errorf("the log line is not above the last drawing of the bars:\n%s", text)
	}
	// The bar itself: a fifth of the messages bar is filled.
	if !regexp.MustCompile(`messages\s+\[=+>?-+\]`).MatchString(text) {
		t.Errorf("no bar drawn for messages:\n%s", text)
	}
	if !regexp.MustCompile(`users/alice\s+\[=+\]`).MatchString(text) {
		t.Errorf("the finished stream's bar is not full:\n%s", text)
	}
}

// A counting bar (imreport read): done of a known total fills and
// completes; an unknown total (following) is a spinner with its count.
func TestBarsCount(t *testing.T) {
	var out testkit.Buffer
	refresh := make(chan any)
	b := NewBars(&out, mpb.WithManualRefresh(refresh), mpb.WithWidth(120))
	b.Count("records", 5, 20, " 5/20 records")
	b.Count("follow", 7, -1, " 7 records")
	refresh <- struct{}{}
	b.Count("records", 20, 20, " 20/20 records")
	b.Count("follow", 9, -1, " 9 records")
	b.Close()
	text := ansi.ReplaceAllString(out.String(), "")
	if !regexp.MustCompile(`records\s+\[=+\]\s+20/20 records`).MatchString(text) ||
		!regexp.MustCompile(`follow\s+\S\s+9 records`).MatchString(text) || strings.Contains(text, "follow   [") {
		t.Errorf("bars:\n%s", text)
	}
}

// CountLines (imreport read on a terminal): the bar counts the lines
// written against the planned records, and ends full; the lines pass
// through unchanged.
func TestCountLines(t *testing.T) {
	var drawn testkit.Buffer
	bars := NewBars(&drawn, mpb.WithWidth(120), mpb.WithManualRefresh(make(chan any)))
	var printed bytes.Buffer
	out, planned, stop := CountLines(bars, &printed, time.Hour)
	planned(3)
	for i := range 3 {
		fmt.Fprintf(out, "{\"offset\":%d}\n", i)
	}
	stop()
	if printed.String() != "{\"offset\":0}\n{\"offset\":1}\n{\"offset\":2}\n" {
		t.Errorf("lines changed on their way: %q", printed.String())
	}
	if screen := ansi.ReplaceAllString(drawn.String(), ""); !regexp.MustCompile(`read\s+\[=+\]\s+3/3 records`).MatchString(screen) {
		t.Errorf("bar:\n%s", screen)
	}
}
