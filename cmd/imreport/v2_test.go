package main

import (
	"context"
	"encoding/json"
	"fmt"
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

// End-to-end tests of Report API v2: the simulator over HTTP and kfake over
// TCP, driven on a fake clock shared by the simulator and the run.

// v2Range is twelve days of history ending two days before now, not on a
// round hour (so that windows and 7-day parts do not fall on midnight).
func v2Range(clock *testkit.Clock) (start, end time.Time) {
	now := clock.Now()
	start = now.Add(-14 * 24 * time.Hour).Truncate(time.Hour).Add(17*time.Minute + 23*time.Second)
	return start, start.Add(12 * 24 * time.Hour)
}

// v2Busiest returns the user, group or chatroom with the most messages.
func v2Busiest(t *testing.T, a *v2API, scope simulator.Scope) string {
	t.Helper()
	var ids []string
	switch scope {
	case simulator.ScopeMessages:
		return ""
	case simulator.ScopeUsers:
		ids = a.srv.Users()
	case simulator.ScopeGroups:
		ids = a.srv.Groups()
	case simulator.ScopeChatrooms:
		ids = a.srv.Chatrooms()
	}
	best, most := "", -1
	for _, id := range ids {
		ms, err := a.srv.MatchingV2(scope, id, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > most {
			best, most = id, len(ms)
		}
	}
	if best == "" {
		t.Fatalf("the simulator knows no %s", scope)
	}
	return best
}

// TestV2Endpoints backfills twelve days from each v2 endpoint with 10-day
// windows (so each is split into queries of at most 7 days), small pages, a
// cursor the simulator answers as expired in the middle of a walk (the clock
// jumps 130 s while the cursor request is on its way) and a stall of 130 s
// between two pages of a walk (the clock jumps right after the client got a
// page): every message exactly once, under both readings of the entity
// endpoints' bounds.
func TestV2Endpoints(t *testing.T) {
	cases := []struct {
		name   string
		scope  simulator.Scope
		strict bool
	}{
		{"messages", simulator.ScopeMessages, false},
		{"users/inclusive", simulator.ScopeUsers, false},
		{"users/strict", simulator.ScopeUsers, true},
		{"groups/inclusive", simulator.ScopeGroups, false},
		{"groups/strict", simulator.ScopeGroups, true},
		{"chatrooms/inclusive", simulator.ScopeChatrooms, false},
		{"chatrooms/strict", simulator.ScopeChatrooms, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { testV2Endpoint(t, c.scope, c.strict) })
	}
}

func testV2Endpoint(t *testing.T, scope simulator.Scope, strict bool) {
	began := time.Now()
	clock := testkit.NewClock(time.Now().UTC().Truncate(time.Second))
	start, end := v2Range(clock)
	api := newV2API(t, simulator.GenSpec{Seed: 21, Start: start, End: end, Count: 8000, Users: 20},
		simulator.Config{V2EntityStrict: strict}, clock)
	id := v2Busiest(t, api, scope)
	want := api.all(t, scope, id, start, end)
	path := v2Path("v2", scope, id)
	pageSize := min(max(len(want)/25, 2), 1000)
	t.Logf("%s: %d messages over %v, page size %d", path, len(want), end.Sub(start), pageSize)

	brokers := testkit.Brokers(t)
	env := v2Env(t, api, brokers, start, end)
	env["IMREPORT_WINDOW"] = "240h"
	// Fixed windows walked one at a time: the test follows each walk's
	// requests in order.
	env["IMREPORT_WINDOW_MESSAGES"] = "0"
	env["IMREPORT_FETCH_CONCURRENCY"] = "1"
	env["IMREPORT_PAGE_SIZE"] = strconv.Itoa(pageSize)
	switch scope {
	case simulator.ScopeUsers:
		env["IMREPORT_USERS"] = id
	case simulator.ScopeGroups:
		env["IMREPORT_GROUPS"] = id
	case simulator.ScopeChatrooms:
		env["IMREPORT_CHATROOMS"] = id
	}

	const (
		expireAt  = 3 // the third cursor request is answered "cursor expired"
		stallFrom = 6 // the first page with a cursor from the sixth cursor request on is followed by a stall
		jump      = 130 * time.Second
	)
	cursorReqs, expired, stalled := 0, 0, 0
	api.setHooks(func(r v2Req) {
		if !r.IsCursor() {
			return
		}
		if cursorReqs++; cursorReqs == expireAt {
			// The client sent a fresh cursor; by the simulator's clock it
			// is 130 s old when it arrives.
			clock.Advance(jump)
			expired = r.N
		}
	}, func(r v2Req) {
		if stalled == 0 && expired != 0 && r.IsCursor() && cursorReqs >= stallFrom && r.NextCursor && r.Count > 0 {
			// The client reads the clock when it gets this page; 130 s
			// pass before it reads it again. Deterministic: mid-walk in the
			// first part of the first window, only the client's readings
			// take the stall (v2Run: the rest of the run peeks).
			clock.StallAfterNextRead(jump)
			stalled = r.N
		}
	})

	logs, err := v2Run(t, context.Background(), env, clock, runHooks{})
	if err != nil {
		t.Fatalf("run failed: %v\n%s", err, v2Tail(logs))
	}
	api.setHooks(nil, nil)
	reqs := api.requests()
	if expired == 0 || stalled == 0 {
		t.Fatalf("the walks were too short to inject the faults (expired at #%d, stalled after #%d, %d requests)", expired, stalled, len(reqs))
	}

	// Every request went to the endpoint; only the forced expiry failed:
	// the stale cursor was dropped by the client, never sent.
	var cursorCount int
	for _, r := range reqs {
		if r.Path != path {
			t.Errorf("request %v: want path %s", r, path)
		}
		if r.IsCursor() {
			cursorCount++
		}
		switch {
		case r.N == expired:
			if r.Status != 400 || !r.IsCursor() {
				t.Errorf("the expired cursor request %v should be a 400", r)
			}
		case r.Status != 200:
			t.Errorf("request %v failed", r)
		}
	}
	if cursorCount < 10 {
		t.Errorf("only %d cursor requests: the page size should make many pages", cursorCount)
	}

	// After the expiry and after the stall the part is walked again from its
	// first request.
	lastFirst := func(n int) v2Req {
		for i := n - 1; i >= 0; i-- {
			if reqs[i].IsFirst() {
				return reqs[i]
			}
		}
		t.Fatalf("no first request before #%d", n)
		return v2Req{}
	}
	for _, c := range []struct {
		what string
		n    int
	}{{"the expired cursor", expired}, {"the stall", stalled}} {
		if c.n >= len(reqs) {
			t.Fatalf("no request after %s (#%d)", c.what, c.n)
		}
		walk, next := lastFirst(c.n), reqs[c.n]
		if !next.IsFirst() || next.Query.Get("begin_time") != walk.Query.Get("begin_time") || next.Query.Get("end_time") != walk.Query.Get("end_time") {
			t.Errorf("after %s (#%d), want the first request of the walk again (%v), got %v", c.what, c.n, walk, next)
		}
		if c.n == walk.N {
			t.Errorf("%s (#%d) was not in the middle of a walk", c.what, c.n)
		}
	}
	restarts := v2Restarts(t, logs)
	if restarts["cursor_rejected"] != 1 || restarts["cursor_stale"] != 1 || len(restarts) != 2 {
		t.Errorf("walk restarts logged: %v; want one cursor_rejected (the expiry) and one cursor_stale (the stall)", restarts)
	}

	// Every query spans at most 7 days, the 10-day window was split, and the
	// queries cover [start, end) under the endpoint's reading.
	v2AssertSplit(t, reqs, scope != simulator.ScopeMessages, start, end)

	if c := v2Cursors(t, env); !c[v2StreamKey(scope, id)].Equal(end) {
		t.Errorf("checkpoint cursors %v, want %s at %v", c, v2StreamKey(scope, id), end)
	}
	v2AssertOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), map[string][]simulator.Message{path: want})
	t.Logf("%d requests (%d cursor requests), expiry at #%d, stall after #%d, restarts %v, %v",
		len(reqs), cursorCount, expired, stalled, restarts, time.Since(began).Round(time.Millisecond))
}

func v2StreamKey(scope simulator.Scope, id string) string {
	if scope == simulator.ScopeMessages {
		return "messages"
	}
	return string(scope) + "/" + id
}

// v2AssertSplit checks the first requests of the walks: none spans more than
// 7 days, at least three distinct queries longer than a day were needed (a
// 10-day window and a 2-day one, the first split in two), one of them close to
// 7 days, and together they cover [start, end) under the reading of the
// bounds the client assumes (strict for the entity endpoints).
func v2AssertSplit(t *testing.T, reqs []v2Req, strict bool, start, end time.Time) {
	t.Helper()
	type span struct{ b, e time.Time }
	var spans []span
	seen := map[span]bool{}
	long, longest := 0, time.Duration(0)
	for _, r := range reqs {
		if !r.IsFirst() {
			continue
		}
		b, e := r.Bounds(t)
		if e.Sub(b) > simulator.MaxV2Range {
			t.Errorf("request %v spans %v, more than 7 days", r, e.Sub(b))
		}
		s := span{b, e}
		if seen[s] {
			continue
		}
		seen[s] = true
		spans = append(spans, s)
		if e.Sub(b) > 24*time.Hour {
			long++
		}
		longest = max(longest, e.Sub(b))
	}
	if long < 3 || longest < 6*24*time.Hour {
		t.Errorf("the queries were not split as expected: %d distinct queries longer than a day, the longest %v", long, longest)
	}
	slices.SortFunc(spans, func(x, y span) int { return x.b.Compare(y.b) })
	// covered: every second before it is covered.
	covered := start
	for _, s := range spans {
		lo, hi := s.b, s.e.Add(time.Second) // inclusive: [b, e]
		if strict {
			lo, hi = s.b.Add(time.Second), s.e // strict: (b, e)
		}
		if lo.After(covered) {
			t.Errorf("no query covers [%v, %v)", covered, lo)
		}
		if hi.After(covered) {
			covered = hi
		}
	}
	if covered.Before(end) {
		t.Errorf("the queries cover up to %v only, want %v", covered, end)
	}
	t.Logf("%d distinct queries, %d longer than a day, the longest %v", len(spans), long, longest)
}

func v2Tail(logs string) string {
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// TestV2SwitchFromV1 upgrades a deployment from v1 to v2 on the same
// checkpoint and topic: once after a bounded v1 run up to the middle of the
// history, once after a v1 run stopped after a few commits. The v2 run goes
// on from the v1 cursor, and every message is in the topic exactly once.
func TestV2SwitchFromV1(t *testing.T) {
	t.Run("messages/v1-end-mid-history", func(t *testing.T) { testV2Switch(t, simulator.ScopeMessages, false) })
	t.Run("messages/v1-run-stopped", func(t *testing.T) { testV2Switch(t, simulator.ScopeMessages, true) })
	t.Run("users/v1-end-mid-history", func(t *testing.T) { testV2Switch(t, simulator.ScopeUsers, false) })
	t.Run("users/v1-run-stopped", func(t *testing.T) { testV2Switch(t, simulator.ScopeUsers, true) })
}

func testV2Switch(t *testing.T, scope simulator.Scope, stopV1 bool) {
	began := time.Now()
	clock := testkit.NewClock(time.Now().UTC().Truncate(time.Second))
	start, end := v2Range(clock)
	api := newV2API(t, simulator.GenSpec{Seed: 33, Start: start, End: end, Count: 6000, Users: 20}, simulator.Config{}, clock)
	id := v2Busiest(t, api, scope)
	want := api.all(t, scope, id, start, end)
	key, v1Path, v2Path := v2StreamKey(scope, id), v2Path("v1", scope, id), v2Path("v2", scope, id)
	brokers := testkit.Brokers(t)
	env := v2Env(t, api, brokers, start, end)
	env["IMREPORT_API_VERSION"] = "v1"
	env["IMREPORT_WINDOW"] = "24h"
	env["IMREPORT_PAGE_SIZE"] = strconv.Itoa(min(max(len(want)/60, 5), 1000))
	if scope == simulator.ScopeUsers {
		env["IMREPORT_USERS"] = id
	}
	mid := start.Add(5*24*time.Hour + 7*time.Hour + 13*time.Second)

	ctx := context.Background()
	var hooks runHooks
	if stopV1 {
		// One window at a time, so that stopping it leaves history for v2.
		env["IMREPORT_FETCH_CONCURRENCY"] = "1"
		c, cancel := context.WithCancel(ctx)
		defer cancel()
		moves, last := 0, time.Time{}
		hooks.OnCommit = func(oldest time.Time) {
			// Count the commits that move the cursor (not the start-up one).
			if !oldest.After(last) {
				return
			}
			last = oldest
			if moves++; moves == 3 {
				cancel()
			}
		}
		ctx = c
	} else {
		env["IMREPORT_END"] = mid.Format(time.RFC3339)
	}
	logs, err := v2Run(t, ctx, env, clock, hooks)
	if err != nil {
		t.Fatalf("v1 run failed: %v\n%s", err, v2Tail(logs))
	}
	cursor := v2Cursors(t, env)[key]
	switch {
	case !stopV1 && !cursor.Equal(mid):
		t.Fatalf("after the v1 run up to %v the cursor is %v", mid, cursor)
	case stopV1 && (!cursor.After(start) || !cursor.Before(end)):
		t.Fatalf("the stopped v1 run left the cursor at %v, want inside (%v, %v)", cursor, start, end)
	}
	n1 := len(api.requests())
	v1Records := len(harness.ReadTopic(t, brokers, "imreport.messages"))
	t.Logf("v1 run: %d requests, %d records, cursor %v", n1, v1Records, cursor)

	env["IMREPORT_API_VERSION"] = "v2"
	env["IMREPORT_END"] = end.Format(time.RFC3339)
	env["IMREPORT_WINDOW"] = "240h"
	logs, err = v2Run(t, context.Background(), env, clock, runHooks{})
	if err != nil {
		t.Fatalf("v2 run failed: %v\n%s", err, v2Tail(logs))
	}
	reqs := api.requests()
	for _, r := range reqs[:n1] {
		if r.Path != v1Path || r.Status != 200 {
			t.Fatalf("v1 run: request %v", r)
		}
	}
	for _, r := range reqs[n1:] {
		if r.Path != v2Path || r.Status != 200 {
			t.Fatalf("v2 run: request %v", r)
		}
	}
	if len(reqs) == n1 {
		t.Fatal("the v2 run made no request")
	}
	// /v2/messages is asked inclusive: the window [cursor, ...) starts at
	// begin_time = cursor; /v2/users strict: begin_time = cursor-1s.
	wantBegin := cursor
	if scope != simulator.ScopeMessages {
		wantBegin = cursor.Add(-time.Second)
	}
	if first := reqs[n1]; !first.IsFirst() || first.Query.Get("begin_time") != v2Fmt(wantBegin) {
		t.Fatalf("the first v2 request is %v, want begin_time=%s (the v1 cursor %v)", first, v2Fmt(wantBegin), cursor)
	}
	if c := v2Cursors(t, env)[key]; !c.Equal(end) {
		t.Fatalf("after the v2 run the cursor is %v, want %v", c, end)
	}

	wantBy := map[string][]simulator.Message{v1Path: want, v2Path: want}
	if !stopV1 {
		// The v1 run published everything before mid, the v2 run the rest.
		i, _ := slices.BinarySearchFunc(want, mid.Unix(), func(m simulator.Message, ct int64) int { return int(m.CreateTime - ct) })
		wantBy = map[string][]simulator.Message{v1Path: want[:i], v2Path: want[i:]}
	}
	per := v2AssertOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), wantBy)
	if per[v1Path] == 0 || per[v2Path] == 0 {
		t.Fatalf("want records of both versions, got %v", per)
	}
	t.Logf("v2 run: %d requests; %v", len(reqs)-n1, time.Since(began).Round(time.Millisecond))
}

// TestV2UserAndGroupShareMessages reads a user and a group the user writes
// in: the messages the user sent to the group come through both streams and
// are published once.
func TestV2UserAndGroupShareMessages(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			began := time.Now()
			clock := testkit.NewClock(time.Now().UTC().Truncate(time.Second))
			start, end := v2Range(clock)
			api := newV2API(t, simulator.GenSpec{Seed: 44, Start: start, End: end, Count: 8000, Users: 20},
				simulator.Config{V2EntityStrict: strict}, clock)
			g := v2Busiest(t, api, simulator.ScopeGroups)
			group := api.all(t, simulator.ScopeGroups, g, start, end)
			var u string
			var user, shared []simulator.Message
			for _, cand := range api.srv.Users() {
				ms := api.all(t, simulator.ScopeUsers, cand, start, end)
				if s := v2Shared(ms, group); len(s) > len(shared) {
					u, user, shared = cand, ms, s
				}
			}
			if len(shared) < 5 {
				t.Fatalf("no user shares enough messages with group %s (best %q: %d)", g, u, len(shared))
			}
			t.Logf("user %s: %d messages, group %s: %d messages, %d in both", u, len(user), g, len(group), len(shared))

			brokers := testkit.Brokers(t)
			env := v2Env(t, api, brokers, start, end)
			env["IMREPORT_USERS"] = u
			env["IMREPORT_GROUPS"] = g
			env["IMREPORT_WINDOW"] = "72h"
			env["IMREPORT_PAGE_SIZE"] = "10"
			env["IMREPORT_FETCH_CONCURRENCY"] = "2"
			logs, err := v2Run(t, context.Background(), env, clock, runHooks{})
			if err != nil {
				t.Fatalf("run failed: %v\n%s", err, v2Tail(logs))
			}
			userPath, groupPath := v2Path("v2", simulator.ScopeUsers, u), v2Path("v2", simulator.ScopeGroups, g)
			per := v2AssertOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"),
				map[string][]simulator.Message{userPath: user, groupPath: group})
			if per[userPath] == 0 || per[groupPath] == 0 {
				t.Fatalf("want records from both streams, got %v", per)
			}
			c := v2Cursors(t, env)
			if !c["users/"+u].Equal(end) || !c["groups/"+g].Equal(end) {
				t.Fatalf("checkpoint cursors %v, want both at %v", c, end)
			}
			t.Logf("%v", time.Since(began).Round(time.Millisecond))
		})
	}
}

// TestV2AddUserLater runs a bounded backfill of user a to the end, then the
// same job with users a and b, who chat with each other: b is backfilled
// from IMREPORT_START, a's cursor is left alone (only the final lookback pass
// reads a again), and every message of a and b is in the topic once.
func TestV2AddUserLater(t *testing.T) {
	began := time.Now()
	clock := testkit.NewClock(time.Now().UTC().Truncate(time.Second))
	start, end := v2Range(clock)
	api := newV2API(t, simulator.GenSpec{Seed: 55, Start: start, End: end, Count: 4000, Users: 6}, simulator.Config{}, clock)
	pool := simulator.UserPool(6)
	var a, b string
	var msgsA, msgsB, shared []simulator.Message
	for i, x := range pool {
		for _, y := range pool[i+1:] {
			mx, my := api.all(t, simulator.ScopeUsers, x, start, end), api.all(t, simulator.ScopeUsers, y, start, end)
			if s := v2Shared(mx, my); len(s) > len(shared) {
				a, b, msgsA, msgsB, shared = x, y, mx, my, s
			}
		}
	}
	if len(shared) < 5 {
		t.Fatalf("no two users share enough messages (best %d)", len(shared))
	}
	earliestB := msgsB[0].CreateTime
	t.Logf("a=%s: %d messages, b=%s: %d messages (the first sent %v), %d in both", a, len(msgsA), b, len(msgsB),
		time.Unix(earliestB, 0).UTC(), len(shared))
	pathA, pathB := v2Path("v2", simulator.ScopeUsers, a), v2Path("v2", simulator.ScopeUsers, b)

	brokers := testkit.Brokers(t)
	env := v2Env(t, api, brokers, start, end)
	env["IMREPORT_WINDOW"] = "72h"
	env["IMREPORT_PAGE_SIZE"] = "20"
	env["IMREPORT_USERS"] = a
	logs, err := v2Run(t, context.Background(), env, clock, runHooks{})
	if err != nil {
		t.Fatalf("first run (a) failed: %v\n%s", err, v2Tail(logs))
	}
	if c := v2Cursors(t, env); len(c) != 1 || !c["users/"+a].Equal(end) {
		t.Fatalf("after the first run the checkpoint has %v, want users/%s at %v", c, a, end)
	}
	v2AssertOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), map[string][]simulator.Message{pathA: msgsA})
	n1 := len(api.requests())

	env["IMREPORT_USERS"] = a + "," + b
	logs, err = v2Run(t, context.Background(), env, clock, runHooks{})
	if err != nil {
		t.Fatalf("second run (a, b) failed: %v\n%s", err, v2Tail(logs))
	}
	reqs := api.requests()[n1:]
	// a: only the final lookback pass, [end-10m, end), asked strict.
	lookbackFrom := end.Add(-10*time.Minute - time.Second)
	var forA, forB int
	var firstB *v2Req
	for i, r := range reqs {
		switch r.Path {
		case pathA:
			forA++
			if r.IsFirst() {
				if bgn, _ := r.Bounds(t); bgn.Before(lookbackFrom) {
					t.Errorf("second run asked a for %v, before its cursor's lookback (%v)", r, lookbackFrom)
				}
			}
		case pathB:
			forB++
			if firstB == nil {
				firstB = &reqs[i]
			}
		default:
			t.Errorf("second run: unexpected request %v", r)
		}
		if r.Status != 200 {
			t.Errorf("second run: request %v failed", r)
		}
	}
	// b starts at IMREPORT_START; /v2/users is asked strict: begin_time = start-1s.
	if firstB == nil || !firstB.IsFirst() || firstB.Query.Get("begin_time") != v2Fmt(start.Add(-time.Second)) {
		t.Fatalf("the first request for b is %v, want begin_time=%s (IMREPORT_START minus a second)", firstB, v2Fmt(start.Add(-time.Second)))
	}
	if c := v2Cursors(t, env); len(c) != 2 || !c["users/"+a].Equal(end) || !c["users/"+b].Equal(end) {
		t.Fatalf("after the second run the checkpoint has %v, want users/%s and users/%s at %v", c, a, b, end)
	}
	t.Logf("second run: %d requests for a (lookback pass), %d for b", forA, forB)
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "dedupe set's horizon") || strings.Contains(line, "pipeline finished") {
			t.Logf("second run logged: %s", line)
		}
	}
	v2AssertOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), map[string][]simulator.Message{pathA: msgsA, pathB: msgsB})
	t.Logf("%v", time.Since(began).Round(time.Millisecond))
}

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
