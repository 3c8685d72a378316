package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// v2Shanghai is the zone of the API's time strings.
var v2Shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// v2Req is one request the simulator served.
type v2Req struct {
	N      int // 1-based
	Path   string
	Query  url.Values
	Status int
	// NextCursor says whether a 200 page carried a non-empty cursor; Count
	// is the number of messages in it.
	NextCursor bool
	Count      int
}

// IsCursor reports whether r is a next-page request (cursor alone).
func (r v2Req) IsCursor() bool { return r.Query.Has("cursor") }

// IsFirst reports whether r is the first request of a walk (or a v1 page).
func (r v2Req) IsFirst() bool { return r.Query.Has("begin_time") }

// Bounds parses begin_time and end_time (Asia/Shanghai).
func (r v2Req) Bounds(t *testing.T) (begin, end time.Time) {
	t.Helper()
	var err error
	if begin, err = time.ParseInLocation(simulator.TimeLayout, r.Query.Get("begin_time"), v2Shanghai); err != nil {
		t.Fatalf("request %d %s: begin_time: %v", r.N, r.Path, err)
	}
	if end, err = time.ParseInLocation(simulator.TimeLayout, r.Query.Get("end_time"), v2Shanghai); err != nil {
		t.Fatalf("request %d %s: end_time: %v", r.N, r.Path, err)
	}
	return begin, end
}

func (r v2Req) String() string {
	return "#" + strconv.Itoa(r.N) + " " + r.Path + "?" + r.Query.Encode() + " -> " + strconv.Itoa(r.Status)
}

// v2API is the simulator over HTTP on loopback, with a fake clock and a log
// of every request.
type v2API struct {
	srv   *simulator.Server
	clock *testkit.Clock
	url   string
	msgs  []simulator.Message

	mu   sync.Mutex // serialises the hooks and guards reqs
	reqs []v2Req
	// before is called before a request is served; onPage when a 200 page
	// is about to be written, after the simulator read its clock for it.
	before func(r v2Req)
	onPage func(r v2Req)
}

func newV2API(t *testing.T, spec simulator.GenSpec, cfg simulator.Config, clock *testkit.Clock) *v2API {
	t.Helper()
	msgs := simulator.Generate(spec)
	cfg.AppKey, cfg.MasterSecret, cfg.Now = harness.AppKey, harness.Secret, clock.Now
	a := &v2API{srv: simulator.New(cfg, msgs), clock: clock, msgs: msgs}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		a.mu.Lock()
		req := v2Req{N: len(a.reqs) + 1, Path: r.URL.EscapedPath(), Query: q}
		a.reqs = append(a.reqs, req)
		if a.before != nil {
			a.before(req)
		}
		a.mu.Unlock()
		cw := &v2Capture{ResponseWriter: w, api: a, req: &req}
		a.srv.ServeHTTP(cw, r)
		a.mu.Lock()
		a.reqs[req.N-1] = req
		a.mu.Unlock()
	}))
	t.Cleanup(ts.Close)
	a.url = ts.URL
	return a
}

func (a *v2API) setHooks(before, onPage func(v2Req)) {
	a.mu.Lock()
	a.before, a.onPage = before, onPage
	a.mu.Unlock()
}

// requests returns the requests served so far.
func (a *v2API) requests() []v2Req {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reqs)
}

// all returns every message the endpoint serves, checking that they all lie
// in [start, end).
func (a *v2API) all(t *testing.T, scope simulator.Scope, id string, start, end time.Time) []simulator.Message {
	t.Helper()
	ms, err := a.srv.MatchingV2(scope, id, time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("MatchingV2(%s, %q): %v", scope, id, err)
	}
	for _, m := range ms {
		if m.CreateTime < start.Unix() || m.CreateTime >= end.Unix() {
			t.Fatalf("message %d of %s/%s sent at %d, outside [%v, %v)", m.MsgID, scope, id, m.CreateTime, start, end)
		}
	}
	return ms
}

// v2Capture records the status and the page of a response.
type v2Capture struct {
	http.ResponseWriter
	api    *v2API
	req    *v2Req
	status int
}

func (c *v2Capture) WriteHeader(status int) {
	c.status = status
	c.req.Status = status
	c.ResponseWriter.WriteHeader(status)
}

func (c *v2Capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.status == http.StatusOK {
		var p struct {
			Cursor   *string           `json:"cursor"`
			Messages []json.RawMessage `json:"messages"`
		}
		if json.Unmarshal(b, &p) == nil {
			c.req.NextCursor = p.Cursor != nil && *p.Cursor != ""
			c.req.Count = len(p.Messages)
			c.api.mu.Lock()
			if c.api.onPage != nil {
				c.api.onPage(*c.req)
			}
			c.api.mu.Unlock()
		}
	}
	return c.ResponseWriter.Write(b)
}

// v2Path is the path of a v2 endpoint.
func v2Path(version string, scope simulator.Scope, id string) string {
	if scope == simulator.ScopeMessages {
		return "/" + version + "/messages"
	}
	return "/" + version + "/" + string(scope) + "/" + url.PathEscape(id) + "/messages"
}

// v2Env is a complete configuration for a bounded run of [start, end) over a
// into brokers.
func v2Env(t *testing.T, a *v2API, brokers []string, start, end time.Time) map[string]string {
	return map[string]string{
		"IMREPORT_APP_KEY":                  harness.AppKey,
		"IMREPORT_MASTER_SECRET":            harness.Secret,
		"IMREPORT_API_URL":                  a.url,
		"IMREPORT_START":                    start.Format(time.RFC3339),
		"IMREPORT_END":                      end.Format(time.RFC3339),
		"IMREPORT_RATE_LIMIT":               "5000",
		"IMREPORT_LOOKBACK":                 "10m",
		"IMREPORT_KAFKA_BROKERS":            strings.Join(brokers, ","),
		"IMREPORT_KAFKA_PARTITIONS":         "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1",
		"IMREPORT_CHECKPOINT_PATH":          filepath.Join(t.TempDir(), "imreport.db"),
		"IMREPORT_HTTP_ADDR":                "",
		"IMREPORT_LOG_LEVEL":                "info",
	}
}

// v2Run runs the pipeline with env on the fake clock and returns its logs.
func v2Run(t *testing.T, ctx context.Context, env map[string]string, clock *testkit.Clock, hooks runHooks) (string, error) {
	t.Helper()
	cfg, err := loadConfig(ctx, mapLookup(env), clock.Now(), true)
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	var logs testkit.Buffer
	// The client's readings take a pending stall (StallAfterNextRead);
	// the rest of the run's only look.
	hooks.Now, hooks.SourceNow = clock.Peek, clock.Now
	if hooks.Sleep == nil {
		hooks.Sleep = func(ctx context.Context, d time.Duration) error {
			clock.Advance(d)
			return ctx.Err()
		}
	}
	err = runPipeline(ctx, cfg, newLogger(&logs, cfg.LogLevel), hooks)
	return logs.String(), err
}

// v2Restarts counts the walk restarts the run logged, by reason.
func v2Restarts(t *testing.T, logs string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "walking a window again from its first page") {
			continue
		}
		var l struct{ Reason string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out[l.Reason]++
	}
	return out
}

// v2Cursors returns the checkpoint's cursors, by stream.
func v2Cursors(t *testing.T, env map[string]string) map[string]time.Time {
	t.Helper()
	code, out, stderr := runMain(context.Background(), env, "checkpoint", "show")
	if code != exitOK {
		t.Fatalf("checkpoint show exited %d: %s", code, stderr)
	}
	var shown struct {
		Streams []struct{ Stream, Cursor string }
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("checkpoint show printed %q: %v", out, err)
	}
	cursors := map[string]time.Time{}
	for _, s := range shown.Streams {
		c, err := time.Parse(time.RFC3339, s.Cursor)
		if err != nil {
			t.Fatalf("checkpoint show: stream %s cursor %q: %v", s.Stream, s.Cursor, err)
		}
		cursors[s.Stream] = c
	}
	return cursors
}

// v2Endpoint returns the source endpoint a record carries.
func v2Endpoint(r harness.Record) string {
	src, _ := r.Rec["source"].(map[string]any)
	ep, _ := src["endpoint"].(string)
	return ep
}

// v2AssertOnce checks that the topic holds every message of the union of
// want once and nothing else; that each record came through an endpoint
// that serves its message; and compares every record field by field with the
// message as that endpoint serves it (/users adds app keys). It returns the
// number of records per endpoint.
func v2AssertOnce(t *testing.T, recs []harness.Record, want map[string][]simulator.Message) map[string]int {
	t.Helper()
	byID := map[int64]simulator.Message{}
	via := map[int64]map[string]bool{}
	for ep, ms := range want {
		for _, m := range ms {
			byID[m.MsgID] = m
			if via[m.MsgID] == nil {
				via[m.MsgID] = map[string]bool{}
			}
			via[m.MsgID][ep] = true
		}
	}
	perEndpoint := map[string]int{}
	seen := map[int64]int{}
	bad, unexpected, wrongEndpoint := 0, 0, 0
	for _, r := range recs {
		id, _ := r.Rec["msgid"].(int64)
		ep := v2Endpoint(r)
		perEndpoint[ep]++
		seen[id]++
		m, ok := byID[id]
		if !ok {
			if unexpected++; unexpected <= 5 {
				t.Errorf("unexpected msgid %d in the topic (endpoint %s)", id, ep)
			}
			continue
		}
		if !via[id][ep] {
			if wrongEndpoint++; wrongEndpoint <= 5 {
				t.Errorf("msgid %d came through %s, which is not expected to serve it (expected via %v)", id, ep, via[id])
			}
			continue
		}
		if seen[id] > 1 {
			continue
		}
		if strings.Contains(ep, "/users/") {
			if m.FromAppKey == "" {
				m.FromAppKey = harness.AppKey
			}
			if m.TargetAppKey == "" && !m.TargetAppKeyEmpty {
				m.TargetAppKey = harness.AppKey
			}
		}
		if diffs := harness.CompareRecord(r, m, ep); len(diffs) > 0 {
			if bad++; bad <= 5 {
				t.Errorf("msgid %d (via %s) differs from the simulator's message:\n  %s", id, ep, strings.Join(diffs, "\n  "))
			}
		}
	}
	dups, missing := 0, 0
	var dupIDs []int64
	for id, n := range seen {
		if n > 1 {
			dups += n - 1
			dupIDs = append(dupIDs, id)
		}
	}
	slices.Sort(dupIDs)
	for i, id := range dupIDs {
		if i >= 5 {
			break
		}
		var eps []string
		for _, r := range recs {
			if x, _ := r.Rec["msgid"].(int64); x == id {
				eps = append(eps, v2Endpoint(r))
			}
		}
		t.Errorf("msgid %d (sent %d, %s %s -> %s) published %d times, via %v", id, byID[id].CreateTime,
			byID[id].TargetType, byID[id].FromID, byID[id].TargetID, seen[id], eps)
	}
	for id := range byID {
		if seen[id] == 0 {
			if missing++; missing <= 5 {
				t.Errorf("msgid %d (sent %d) missing from the topic", id, byID[id].CreateTime)
			}
		}
	}
	t.Logf("topic: %d records (%v), %d distinct, %d expected, %d duplicates, %d missing, %d unexpected, %d via a wrong endpoint, %d differing",
		len(recs), perEndpoint, len(seen), len(byID), dups, missing, unexpected, wrongEndpoint, bad)
	if dups > 0 || missing > 0 || bad > 0 || unexpected > 0 || wrongEndpoint > 0 || len(recs) != len(byID) {
		t.Fatalf("not exactly once: %d records for %d messages (%d duplicates, %d missing, %d unexpected, %d via a wrong endpoint, %d differing)",
			len(recs), len(byID), dups, missing, unexpected, wrongEndpoint, bad)
	}
	return perEndpoint
}

// v2Shared returns the msgids in both lists.
func v2Shared(a, b []simulator.Message) []simulator.Message {
	in := map[int64]bool{}
	for _, m := range a {
		in[m.MsgID] = true
	}
	var out []simulator.Message
	for _, m := range b {
		if in[m.MsgID] {
			out = append(out, m)
		}
	}
	return out
}

// v2Fmt formats t as the API's time strings.
func v2Fmt(t time.Time) string { return t.In(v2Shanghai).Format(simulator.TimeLayout) }
