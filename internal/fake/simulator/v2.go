package simulator

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// cursor is the state of a v2 walk after one of its pages. A cursor is
// immutable: asking it again serves the same page again (as far as the data is
// unchanged), and every page with a next one gets a new cursor.
type cursor struct {
	scope      Scope
	id         string
	begin, end int64 // begin_time and end_time, Unix seconds, as given
	strict     bool
	count      int
	mode       V2End
	last       msgKey    // key of the last message served before this cursor
	issued     time.Time // Config.Now() when issued
}

// serveV2 answers a v2 request: the first of a walk (count, begin_time,
// end_time) or a next page (cursor alone).
func (s *Server) serveV2(q url.Values, scope Scope, id string, d decision) ([]byte, *apiError) {
	now := s.now()
	var c cursor
	after := false
	if cv := q.Get("cursor"); cv != "" {
		keys := make([]string, 0, len(q))
		for k := range q {
			if k != "cursor" {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			slices.Sort(keys)
			e := badParam("cursor must be given alone: unexpected parameter " + keys[0])
			return nil, &e
		}
		cur, aerr := s.lookupCursor(cv, scope, id, now)
		if aerr != nil {
			return nil, aerr
		}
		if s.faults.cursorExpired(d) {
			return nil, &apiError{http.StatusBadRequest, CodeInvalidParam, "cursor expired"}
		}
		c, after = cur, true
	} else {
		count, perr := parseCount(q)
		if perr != nil {
			return nil, perr
		}
		var bounds [2]int64
		for i, name := range []string{"begin_time", "end_time"} {
			t, perr := s.parseTime(q, name)
			if perr != nil {
				return nil, perr
			}
			if t == nil {
				e := badParam(name + " is required")
				return nil, &e
			}
			bounds[i] = *t
		}
		if bounds[0] > bounds[1] {
			e := badParam("begin_time must not be after end_time")
			return nil, &e
		}
		if bounds[1]-bounds[0] > int64(MaxV2Range/time.Second) {
			e := badParam("time range exceeds 7 days: end_time - begin_time must be at most 7 days")
			return nil, &e
		}
		c = cursor{scope: scope, id: id, begin: bounds[0], end: bounds[1], strict: scope != ScopeMessages && s.v2Strict, count: count, mode: s.v2End}
		if s.v2Mixed {
			c.mode = v2EndModes[(d.b>>32)%uint64(len(v2EndModes))]
		}
	}

	lo, hi := s.bounds(c.strict, &c.begin, &c.end)
	v, ok := s.st.Load().view(scope, id, lo, hi, now.Unix())
	if !ok {
		return nil, entityError(scope)
	}
	p := 0
	if after {
		p = v.firstAfter(c.last)
	}
	page, next := v.collect(p, c.count)

	var next2 string
	hasCursor := false
	switch {
	case len(page) > 0 && (c.mode == V2EndEmptyPage || v.anyVisibleFrom(next)):
		c.last, c.issued = keyOf(v.msg(page[len(page)-1])), now
		next2, hasCursor = s.issueCursor(c), true
	case c.mode == V2EndEmpty:
		hasCursor = true
	}

	out := make([]byte, 0, 4096)
	out = append(out, `{"total":`...)
	out = strconv.AppendInt(out, int64(s.faults.total(d, v.total())), 10)
	if hasCursor {
		out = append(out, `,"cursor":`...)
		out = appendJSONString(out, next2, false)
	}
	out = append(out, `,"count":`...)
	out = strconv.AppendInt(out, int64(len(page)), 10)
	out = append(out, `,"messages":[`...)
	out = v.appendMessages(out, page, scope == ScopeUsers, s.appKey)
	return append(out, "]}"...), nil
}

func entityError(scope Scope) *apiError {
	switch scope {
	case ScopeGroups:
		return &apiError{http.StatusBadRequest, CodeInvalidGroup, "group id invalid"}
	case ScopeChatrooms:
		return &apiError{http.StatusBadRequest, CodeNoSuchChatroom, "chatroom does not exist"}
	}
	return &apiError{http.StatusBadRequest, CodeNoSuchUser, "user not exist"}
}

// lookupCursor returns the walk state of a cursor given to the endpoint
// (scope, id) at now.
func (s *Server) lookupCursor(cv string, scope Scope, id string, now time.Time) (cursor, *apiError) {
	s.cmu.Lock()
	cur, ok := s.cursors[cv]
	var c cursor
	if ok {
		c = *cur
	}
	s.cmu.Unlock()
	if !ok || c.scope != scope || c.id != id {
		e := badParam("cursor invalid")
		return c, &e
	}
	if now.Sub(c.issued) > CursorLifetime {
		e := badParam("cursor expired")
		return c, &e
	}
	return c, nil
}

// issueCursor stores c under a new cursor string and returns it. Cursor
// strings depend only on Faults.Seed and how many cursors were issued before.
func (s *Server) issueCursor(c cursor) string {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.cursorSeq++
	x := s.faults.cfg.Seed ^ s.cursorSeq
	b := make([]byte, 0, 32)
	for _, v := range []uint64{mix64(x), mix64(x + 0x9e3779b97f4a7c15)} {
		h := strconv.FormatUint(v, 16)
		for range 16 - len(h) {
			b = append(b, '0')
		}
		b = append(b, h...)
	}
	id := string(b)
	s.cursors[id] = &c
	if len(s.cursors) >= s.pruneAt {
		for k, old := range s.cursors {
			if c.issued.Sub(old.issued) > cursorPruneAge {
				delete(s.cursors, k)
			}
		}
		s.pruneAt = max(cursorPruneMinCount, 2*len(s.cursors))
	}
	return id
}

// mix64 is the splitmix64 finaliser: a bijection of uint64, so distinct
// inputs give distinct cursors.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
