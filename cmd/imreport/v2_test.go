package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
