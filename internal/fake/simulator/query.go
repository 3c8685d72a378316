package simulator

import (
	"fmt"
	"math"
	"time"
)

// Visible returns (a copy of) the messages the API would serve now for the whole
// range with create_time in [from, to): those with create_time <= now, not
// older than the retention and visible (VisibleAt <= now). A zero from or to
// leaves that side unbounded.
func (s *Server) Visible(from, to time.Time) []Message {
	lo, hi := s.window()
	if !from.IsZero() {
		lo = max(lo, ceilSec(from))
	}
	if !to.IsZero() {
		hi = min(hi, ceilSec(to)-1)
	}
	st := s.st.Load()
	v, _ := st.view(ScopeMessages, "", lo, hi, s.now().Unix())
	return v.messages()
}

// Matching returns (a copy of) the full list a v1 request made now would page
// over: /v1/messages when user is "" (create_time >= begin and <= end), else
// /v1/users/{user}/messages (create_time > begin and < end). A zero begin or end
// is an absent parameter. It returns ErrUnknownUser for an unknown user.
func (s *Server) Matching(user string, begin, end time.Time) ([]Message, error) {
	if user == "" {
		return s.matching(ScopeMessages, "", false, begin, end)
	}
	return s.matching(ScopeUsers, user, true, begin, end)
}

// MatchingV2 returns (a copy of) the messages a v2 walk over the endpoint
// (scope, and id for users, groups and chatrooms) would collect if it were made
// entirely now, in order: inclusive bounds for ScopeMessages, and for the other
// scopes inclusive or strict as Config.V2EntityStrict says. Unlike the API it
// neither requires both bounds (a zero begin or end leaves that side open) nor
// limits the range to 7 days. It returns ErrUnknownUser, ErrUnknownGroup or
// ErrUnknownChatroom for an unknown entity.
func (s *Server) MatchingV2(scope Scope, id string, begin, end time.Time) ([]Message, error) {
	strict := scope != ScopeMessages && s.v2Strict
	return s.matching(scope, id, strict, begin, end)
}

func (s *Server) matching(scope Scope, id string, strict bool, begin, end time.Time) ([]Message, error) {
	var bp, ep *int64
	if !begin.IsZero() {
		b := begin.Unix()
		if !strict {
			b = ceilSec(begin)
		}
		bp = &b
	}
	if !end.IsZero() {
		e := end.Unix()
		if strict {
			e = ceilSec(end)
		}
		ep = &e
	}
	lo, hi := s.bounds(strict, bp, ep)
	st := s.st.Load()
	v, ok := st.view(scope, id, lo, hi, s.now().Unix())
	if !ok {
		return nil, unknownErr(scope)
	}
	return v.messages(), nil
}

func unknownErr(scope Scope) error {
	switch scope {
	case ScopeGroups:
		return ErrUnknownGroup
	case ScopeChatrooms:
		return ErrUnknownChatroom
	case ScopeUsers:
		return ErrUnknownUser
	}
	return fmt.Errorf("simulator: unknown scope %q", scope)
}

// window returns the inclusive create_time range (seconds) visible now.
func (s *Server) window() (lo, hi int64) {
	now := s.now()
	return ceilSec(now.Add(-s.retention)), now.Unix()
}

// bounds combines the visibility window with begin/end parameters (seconds):
// inclusive (>=, <=) or strict (>, <).
func (s *Server) bounds(strict bool, begin, end *int64) (lo, hi int64) {
	lo, hi = s.window()
	if begin != nil {
		b := *begin
		if strict {
			b = satAdd(b, 1)
		}
		lo = max(lo, b)
	}
	if end != nil {
		e := *end
		if strict {
			e = satAdd(e, -1)
		}
		hi = min(hi, e)
	}
	return lo, hi
}

func satAdd(a, d int64) int64 {
	if d > 0 && a > math.MaxInt64-d {
		return math.MaxInt64
	}
	if d < 0 && a < math.MinInt64-d {
		return math.MinInt64
	}
	return a + d
}
