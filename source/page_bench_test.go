package source

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
)

// benchPageSize is the messages on one benchmark page: the vendor's maximum.
const benchPageSize = 1000

// simPage returns one full /v2/messages page exactly as the simulator serves
// it: benchPageSize generated messages, and the envelope around them.
func simPage(tb testing.TB) []byte {
	tb.Helper()
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	begin := now.Add(-time.Hour)
	msgs := simulator.Generate(simulator.GenSpec{Seed: 7, Start: begin, End: now, Count: benchPageSize})
	srv := httptest.NewServer(simulator.New(simulator.Config{Location: time.UTC, Now: func() time.Time { return now }}, msgs))
	defer srv.Close()
	q := "count=" + strconv.Itoa(benchPageSize) +
		"&begin_time=" + queryEscape(begin.Format(simulator.TimeLayout)) + "&end_time=" + queryEscape(now.Format(simulator.TimeLayout))
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v2/messages?"+q, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(simulator.DefaultAppKey+":"+simulator.DefaultMasterSecret)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("simulator page: status %d, %v: %.200s", resp.StatusCode, err, body)
	}
	env, ve, err := decodePage(body)
	if err != nil || ve != nil || len(env.Messages) != benchPageSize {
		tb.Fatalf("simulator page: %d messages, vendor error %v, %v", len(env.Messages), ve, err)
	}
	return body
}

// perMessage runs fn once per iteration and reports its cost per message of
// a page of n: ns/msg, B/msg, allocs/msg, and cpu-ns/msg, the CPU time the
// process spent (every thread: the garbage collector's too), which a busy
// machine disturbs less than the elapsed time.
func perMessage(b *testing.B, n int, fn func()) {
	b.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		fn()
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	runtime.ReadMemStats(&after)
	msgs := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/msgs, "cpu-ns/msg")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/msgs, "B/msg")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/msgs, "allocs/msg")
}

// BenchmarkDecodePage is the envelope of a full simulator page: what
// Client.get spends past reading the body.
func BenchmarkDecodePage(b *testing.B) {
	body := simPage(b)
	b.SetBytes(int64(len(body)))
	perMessage(b, benchPageSize, func() {
		if env, _, err := decodePage(body); err != nil || len(env.Messages) != benchPageSize {
			b.Fatal(len(env.Messages), err)
		}
	})
}

// BenchmarkDecodePageMessages is all the source package spends on a page's
// bytes: the envelope, then DecodeMessage of every message.
func BenchmarkDecodePageMessages(b *testing.B) {
	body := simPage(b)
	b.SetBytes(int64(len(body)))
	perMessage(b, benchPageSize, func() {
		env, _, err := decodePage(body)
		if err != nil {
			b.Fatal(err)
		}
		for _, raw := range env.Messages {
			if _, err := DecodeMessage(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGet is Client.get end to end over loopback HTTP: a full simulator
// page served with its Content-Length, and without one (chunked), read and
// decoded into an envelope.
func BenchmarkGet(b *testing.B) {
	body := simPage(b)
	for _, tc := range []struct {
		name   string
		length bool
	}{{"content-length", true}, {"chunked", false}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tc.length {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				for rest := body; len(rest) > 0; { // several writes: no Content-Length of its own
					n := min(len(rest), 32<<10)
					_, _ = w.Write(rest[:n])
					rest = rest[n:]
				}
			}))
			defer srv.Close()
			c, err := New(Config{BaseURL: srv.URL, AppKey: testAppKey, MasterSecret: testSecret})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			perMessage(b, benchPageSize, func() {
				var env envelope
				if err := c.get(ctx, KindMessages, "/v2/messages", "count=1000", &env); err != nil || len(env.Messages) != benchPageSize {
					b.Fatal(len(env.Messages), err)
				}
			})
		})
	}
}

// cpuTime is the CPU time, user and system, the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
