package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func faultServer(f Faults, msgs []Message) *Server {
	return New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: newClock(testNow).Now, Faults: f}, msgs)
}

// faultTargets are a v1 and a v2 page request.
func faultTargets() []string {
	now := testNow.Unix()
	return []string{
		"/v1/messages?start=10&count=20",
		"/v1/users/user0001/messages?start=0&count=10",
		v2first("/v2/messages", now-3*3600, now, 20),
		v2first("/v2/users/user0001/messages", now-3*3600, now, 10),
	}
}

func onlyCount(t *testing.T, s *Server, kind string, want int64) {
	t.Helper()
	for k, n := range s.FaultCounts() {
		if k == kind && n != want || k != kind && n != 0 {
			t.Fatalf("FaultCounts %v, want %s = %d only", s.FaultCounts(), kind, want)
		}
	}
}

// With probability 1 a fault fires on every request it applies to; the
// counts say so. With probability 0 nothing happens.
func TestFaultsAlways(t *testing.T) {
	msgs := Generate(recentSpec())
	auth := basic("appkey0001", "secret0001")
	const rounds = 25
	for _, c := range []struct {
		kind   string
		faults Faults
		check  func(t *testing.T, w, ok *httptest.ResponseRecorder, seen map[string]bool)
	}{
		{FaultServerError, Faults{ServerError: 1}, func(t *testing.T, w, _ *httptest.ResponseRecorder, seen map[string]bool) {
			var e errBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code < 500 || w.Code > 504 || w.Code == 501 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			switch e.Error.Code {
			case CodeInternal, CodeServerTimeout:
			default:
				t.Fatalf("code %d", e.Error.Code)
			}
			if w.Code == 504 && e.Error.Code != CodeServerTimeout {
				t.Fatalf("504 with code %d", e.Error.Code)
			}
			seen[fmt.Sprint(w.Code)] = true
			seen[fmt.Sprint(e.Error.Code)] = true
		}},
		{FaultRateLimited, Faults{RateLimited: 1}, func(t *testing.T, w, _ *httptest.ResponseRecorder, seen map[string]bool) {
			var e errBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 429 || e.Error.Code != CodeRateLimited {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			ra := w.Header().Get("Retry-After")
			if ra != "" && ra != "1" {
				t.Fatalf("Retry-After %q", ra)
			}
			seen["Retry-After:"+ra] = true
		}},
		{FaultTruncate, Faults{Truncate: 1}, func(t *testing.T, w, ok *httptest.ResponseRecorder, seen map[string]bool) {
			b := w.Body.Bytes()
			if w.Code != 200 || len(b) == 0 || len(b) >= ok.Body.Len() || !bytes.HasPrefix(ok.Body.Bytes(), b) || json.Valid(b) {
				t.Fatalf("%d %d of %d bytes", w.Code, len(b), ok.Body.Len())
			}
			seen["Content-Length full:"+fmt.Sprint(w.Header().Get("Content-Length") == fmt.Sprint(ok.Body.Len()))] = true
		}},
		{FaultTotalDrift, Faults{TotalDrift: 1}, func(t *testing.T, w, ok *httptest.ResponseRecorder, seen map[string]bool) {
			var got, want v2page
			if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &got) != nil || json.Unmarshal(ok.Body.Bytes(), &want) != nil {
				t.Fatalf("%d %.100s", w.Code, w.Body)
			}
			d := got.Total - want.Total
			if d == 0 || d < -3 || d > 3 || got.Total < 0 {
				t.Fatalf("total %d, true %d", got.Total, want.Total)
			}
			// Everything else is served correctly.
			got.Total, want.Total, got.Cursor, want.Cursor = 0, 0, nil, nil
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatal("page differs beyond total")
			}
			seen[fmt.Sprint(d)] = true
		}},
		{FaultSlow, Faults{Slow: 1, SlowDelay: 5 * time.Millisecond}, func(t *testing.T, w, ok *httptest.ResponseRecorder, _ map[string]bool) {
			var got, want v2page
			_ = json.Unmarshal(w.Body.Bytes(), &got)
			_ = json.Unmarshal(ok.Body.Bytes(), &want)
			got.Cursor, want.Cursor = nil, nil
			if w.Code != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%d %.100s", w.Code, w.Body)
			}
		}},
	} {
		t.Run(c.kind, func(t *testing.T) {
			s := faultServer(c.faults, msgs)
			clean := faultServer(Faults{}, msgs) // issues the same cursors
			seen := map[string]bool{}
			n := int64(0)
			for range rounds {
				for _, target := range faultTargets() {
					start := time.Now()
					w := do(t, s, "GET", target, auth)
					if c.kind == FaultSlow && time.Since(start) < 5*time.Millisecond {
						t.Fatal("not slow")
					}
					c.check(t, w, do(t, clean, "GET", target, auth), seen)
					n++
				}
			}
			onlyCount(t, s, c.kind, n)
			want := map[string][]string{
				FaultServerError: {"500", "502", "503", "504", "899000", "899030"},
				FaultRateLimited: {"Retry-After:", "Retry-After:1"},
				FaultTruncate:    {"Content-Length full:true", "Content-Length full:false"},
				FaultTotalDrift:  {"-3", "-2", "-1", "1", "2", "3"},
			}[c.kind]
			for _, k := range want {
				if !seen[k] {
					t.Errorf("never saw %s: %v", k, seen)
				}
			}
			// Auth comes first: bad credentials are never faulted.
			if w := do(t, s, "GET", faultTargets()[0], basic("appkey0001", "bad")); w.Code != 401 {
				t.Fatalf("bad credentials: %d", w.Code)
			}
			onlyCount(t, s, c.kind, n)
		})
	}
}

func TestFaultsNever(t *testing.T) {
	msgs := Generate(recentSpec())
	s := faultServer(Faults{Seed: 99, SlowDelay: time.Hour, RateBurst: 5}, msgs)
	clean := New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: newClock(testNow).Now}, msgs)
	auth := basic("appkey0001", "secret0001")
	for range 50 {
		for _, target := range faultTargets() {
			w, ok := do(t, s, "GET", target, auth), do(t, clean, "GET", target, auth)
			var got, want v2page
			_ = json.Unmarshal(w.Body.Bytes(), &got)
			_ = json.Unmarshal(ok.Body.Bytes(), &want)
			if w.Code != 200 || got.Total != want.Total || len(got.Messages) != len(want.Messages) {
				t.Fatalf("%s: %d %.100s", target, w.Code, w.Body)
			}
		}
	}
	for k, n := range s.FaultCounts() {
		if n != 0 {
			t.Fatalf("%s = %d", k, n)
		}
	}
	if len(s.FaultCounts()) != 9 {
		t.Fatalf("FaultCounts has %d kinds: %v", len(s.FaultCounts()), s.FaultCounts())
	}
}

// Each fault fires with its probability; the draws are a function of the seed.
func TestFaultsStatistics(t *testing.T) {
	msgs := Generate(recentSpec())
	auth := basic("appkey0001", "secret0001")
	f := Faults{Seed: 17, ServerError: 0.1, RateLimited: 0.05, Slow: 0.05, SlowDelay: time.Microsecond,
		Truncate: 0.1, TotalDrift: 0.1, CursorExpire: 0.1}
	run := func(f Faults) (*Server, string) {
		s := faultServer(f, msgs)
		var trace strings.Builder
		now := testNow.Unix()
		target := v2first("/v2/messages", now-3*3600, now, 10)
		for i := range 3000 {
			if i%2 == 0 {
				w := do(t, s, "GET", fmt.Sprintf("/v1/messages?start=%d&count=10", i), auth)
				fmt.Fprintf(&trace, "%d:%d,", w.Code, w.Body.Len())
				continue
			}
			w := do(t, s, "GET", target, auth)
			fmt.Fprintf(&trace, "%d:%d,", w.Code, w.Body.Len())
			var p v2page
			if w.Code == 200 && json.Unmarshal(w.Body.Bytes(), &p) == nil && p.Cursor != nil {
				target = "/v2/messages?cursor=" + *p.Cursor
			} else if w.Code == 200 || strings.Contains(w.Body.String(), "cursor") {
				target = v2first("/v2/messages", now-3*3600, now, 10)
			}
		}
		return s, trace.String()
	}
	s, trace := run(f)
	counts := s.FaultCounts()
	n := float64(s.Requests())
	for k, p := range map[string]float64{FaultServerError: 0.1, FaultRateLimited: 0.05, FaultSlow: 0.05} {
		want := p * n
		if got := float64(counts[k]); math.Abs(got-want) > 5*math.Sqrt(want) {
			t.Errorf("%s: %v of %v requests, want about %v", k, got, n, want)
		}
	}
	// Truncate and TotalDrift only apply to would-be 200s, CursorExpire only
	// to cursor requests (about a quarter of all): fewer, but present.
	for _, k := range []string{FaultTruncate, FaultTotalDrift} {
		if got := float64(counts[k]); got < 0.05*n || got > 0.1*n+5*math.Sqrt(0.1*n) {
			t.Errorf("%s: %v of %v", k, got, n)
		}
	}
	if counts[FaultCursorExpire] < 20 {
		t.Errorf("cursor_expire: %d", counts[FaultCursorExpire])
	}
	if counts[FaultDrop] != 0 || counts[FaultRateLimit] != 0 || counts[FaultHook] != 0 {
		t.Errorf("counts %v", counts)
	}
	// Same seed, same faults; another seed, others.
	if _, again := run(f); again != trace {
		t.Fatal("same seed, different responses")
	}
	f.Seed++
	if _, other := run(f); other == trace {
		t.Fatal("another seed, same responses")
	}
}

func TestFaultHookRunsFirst(t *testing.T) {
	s := New(Config{Now: newClock(testNow).Now, Faults: Faults{ServerError: 1},
		Fault: func(n int64, r *http.Request) *Fault {
			if n == 1 {
				return &Fault{Status: 418}
			}
			return nil
		}}, Generate(recentSpec()))
	auth := basic(DefaultAppKey, DefaultMasterSecret)
	if w := do(t, s, "GET", "/v1/messages?start=0&count=1", auth); w.Code != 418 {
		t.Fatalf("hook: %d", w.Code)
	}
	if w := do(t, s, "GET", "/v1/messages?start=0&count=1", auth); w.Code < 500 {
		t.Fatalf("then: %d", w.Code)
	}
	c := s.FaultCounts()
	if c[FaultHook] != 1 || c[FaultServerError] != 1 {
		t.Fatalf("counts %v", c)
	}
}

func TestFaultCursorExpire(t *testing.T) {
	s := faultServer(Faults{CursorExpire: 1}, Generate(recentSpec()))
	now := testNow.Unix()
	auth := basic("appkey0001", "secret0001")
	for i := range 10 {
		p := getV2(t, s, v2first("/v2/messages", now-3*3600+int64(i), now, 100))
		getPage(t, s, "/v1/messages?start=0&count=10")
		code, e := getErr(t, s, "/v2/messages?cursor="+*p.Cursor, auth)
		if code != 400 || e.Error.Code != CodeInvalidParam || e.Error.Message != "cursor expired" {
			t.Fatalf("%d %+v", code, e)
		}
		// Invalid cursors stay invalid, and are not counted.
		if _, e := getErr(t, s, "/v2/messages?cursor=x"+*p.Cursor, auth); e.Error.Message != "cursor invalid" {
			t.Fatalf("%+v", e)
		}
	}
	onlyCount(t, s, FaultCursorExpire, 10)
}

func TestFaultTotalDriftNeverNegative(t *testing.T) {
	s := faultServer(Faults{TotalDrift: 1}, nil)
	for range 50 {
		if p := getPage(t, s, "/v1/messages?start=0&count=10"); p.Total < 1 || p.Total > 3 {
			t.Fatalf("total %d", p.Total)
		}
	}
}

func TestFaultRateLimit(t *testing.T) {
	s := faultServer(Faults{RateLimit: 0.001, RateBurst: 3}, Generate(recentSpec()))
	auth := basic("appkey0001", "secret0001")
	for i := range 10 {
		w := do(t, s, "GET", faultTargets()[i%4], auth)
		if i < 3 {
			if w.Code != 200 {
				t.Fatalf("request %d: %d", i, w.Code)
			}
			continue
		}
		var e errBody
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		h := w.Header()
		if w.Code != 429 || e.Error.Code != CodeRateLimited || h.Get("X-Rate-Limit-Remaining") != "0" ||
			h.Get("X-Rate-Limit-Limit") != "0" || h.Get("X-Rate-Limit-Reset") == "" || h.Get("Retry-After") != "" {
			t.Fatalf("request %d: %d %v %s", i, w.Code, h, w.Body)
		}
	}
	onlyCount(t, s, FaultRateLimit, 7)

	// The bucket refills on the real clock; RateBurst 0 is 1.
	s = faultServer(Faults{RateLimit: 20}, Generate(recentSpec()))
	if w := do(t, s, "GET", faultTargets()[0], auth); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if w := do(t, s, "GET", faultTargets()[0], auth); w.Code != 429 || w.Header().Get("X-Rate-Limit-Limit") != "1200" {
		t.Fatal(w.Code, w.Header())
	}
	time.Sleep(150 * time.Millisecond)
	if w := do(t, s, "GET", faultTargets()[0], auth); w.Code != 200 {
		t.Fatal(w.Code)
	}
}

// rawGet sends one request on a new connection and returns what came back
// before the connection closed.
func rawGet(t *testing.T, addr, target string) ([]byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n", target, basic("appkey0001", "secret0001"))
	return io.ReadAll(conn)
}

func TestFaultDrop(t *testing.T) {
	s := faultServer(Faults{Drop: 1, Seed: 5}, Generate(recentSpec()))
	hs := httptest.NewServer(s)
	defer hs.Close()
	addr := strings.TrimPrefix(hs.URL, "http://")
	empty, partial := 0, 0
	for i := range 40 {
		b, err := rawGet(t, addr, faultTargets()[i%4])
		switch {
		case err != nil:
			t.Fatal(err)
		case len(b) == 0:
			empty++
		case strings.HasPrefix(string(b), "HTTP/1.1 200 OK\r\n") && !strings.Contains(string(b), "\r\n\r\n"):
			partial++
		default:
			t.Fatalf("got %q", b)
		}
	}
	if empty == 0 || partial == 0 {
		t.Fatalf("%d empty, %d partial", empty, partial)
	}
	onlyCount(t, s, FaultDrop, 40)
	// An HTTP client sees an error.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", hs.URL+faultTargets()[0], nil)
	req.SetBasicAuth("appkey0001", "secret0001")
	for range 4 {
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("no error: %d", resp.StatusCode)
		}
	}
	// Without a Hijacker the handler aborts.
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("recovered %v", r)
		}
	}()
	do(t, s, "GET", faultTargets()[0], basic("appkey0001", "secret0001"))
}

func TestFaultTruncateOverHTTP(t *testing.T) {
	s := faultServer(Faults{Truncate: 1, Seed: 8}, Generate(recentSpec()))
	hs := httptest.NewServer(s)
	defer hs.Close()
	framed, cut := 0, 0
	for i := range 30 {
		req, _ := http.NewRequest("GET", hs.URL+faultTargets()[i%4], nil)
		req.SetBasicAuth("appkey0001", "secret0001")
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode != 200:
			t.Fatal(resp.StatusCode)
		case errors.Is(err, io.ErrUnexpectedEOF):
			cut++
		case err == nil && !json.Valid(b) && len(b) > 0:
			framed++
		default:
			t.Fatalf("%v %q", err, b)
		}
	}
	if framed == 0 || cut == 0 {
		t.Fatalf("%d framed, %d cut", framed, cut)
	}
}

func TestFaultSlowHonoursContext(t *testing.T) {
	s := faultServer(Faults{Slow: 1, SlowDelay: time.Hour}, Generate(recentSpec()))
	hs := httptest.NewServer(s)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+faultTargets()[0], nil)
	req.SetBasicAuth("appkey0001", "secret0001")
	if resp, err := hs.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("no timeout")
	}
	start := time.Now()
	hs.Close() // waits for the handler
	if time.Since(start) > 10*time.Second {
		t.Fatal("handler kept sleeping")
	}
	onlyCount(t, s, FaultSlow, 1)
}

// Concurrent walks with retries through every fault but Drop and Slow collect
// exactly the expected sets (run with -race).
func TestConcurrentWalksWithFaults(t *testing.T) {
	msgs := Generate(recentSpec())
	s := New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: newClock(testNow).Now, V2EndMixed: true,
		Faults: Faults{Seed: 3, ServerError: 0.1, RateLimited: 0.1, Truncate: 0.1, TotalDrift: 0.1, CursorExpire: 0.1}}, msgs)
	hs := httptest.NewServer(s)
	defer hs.Close()
	now := testNow.Unix()
	users := []string{"user0001", "user0002", "user0003", "user0004", "user0005", "user0006"}
	errs := make(chan error, len(users))
	for _, u := range users {
		go func() {
			errs <- func() error {
				path := "/v2/users/" + u + "/messages"
				first := v2first(path, now-3*3600, now, 9)
				target := first
				var got []int64
				for range 10000 {
					req, _ := http.NewRequest("GET", hs.URL+target, nil)
					req.SetBasicAuth("appkey0001", "secret0001")
					resp, err := hs.Client().Do(req)
					if err != nil {
						return err
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var p v2page
					switch {
					case resp.StatusCode == 400 && strings.Contains(string(body), "cursor expired"):
						target, got = first, nil // start over
						continue
					case resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil:
						continue // retry the same request
					}
					for _, raw := range p.Messages {
						id, _ := msgID(raw)
						got = append(got, id)
					}
					if p.Cursor == nil || *p.Cursor == "" {
						want, err := s.MatchingV2(ScopeUsers, u, time.Unix(now-3*3600, 0), time.Unix(now, 0))
						if err != nil {
							return err
						}
						if fmt.Sprint(got) != fmt.Sprint(ids(want)) {
							return fmt.Errorf("%s: got %d messages, want %d", u, len(got), len(want))
						}
						return nil
					}
					target = path + "?cursor=" + *p.Cursor
				}
				return fmt.Errorf("%s: walk does not end", u)
			}()
		}()
	}
	for range users {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, k := range []string{FaultServerError, FaultRateLimited, FaultTruncate, FaultTotalDrift, FaultCursorExpire} {
		if s.FaultCounts()[k] == 0 {
			t.Errorf("no %s", k)
		}
	}
}
