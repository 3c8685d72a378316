package simulator

import (
	"bytes"
	"cmp"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // Asia/Shanghai must load in a static container too
)

// Vendor error codes served by the simulator.
const (
	CodeInternal       = 899000 // also used for 404 and 405, for which the vendor documents no code
	CodeNoSuchUser     = 899002 // 400: /users/{username} names an unknown user
	CodeInvalidParam   = 899003 // 400: a missing or invalid parameter (the message names it), a bad or expired v2 cursor
	CodeInvalidGroup   = 899006 // 400: /v2/groups/{gid} names an unknown group
	CodeMissingAuth    = 899007 // 401: no Authorization header
	CodeAuthFailed     = 899008 // 401: malformed or wrong Basic credentials
	CodeServerTimeout  = 899030 // 5xx: server timeout (Faults.ServerError, some of them)
	CodeNoSuchChatroom = 899081 // 400: /v2/chatrooms/{chatroomid} names an unknown chatroom
	CodeRateLimited    = 2002   // 429: rate limited; the Report API's code is undocumented, 2002 is what JPush's Push API answers
)

const (
	CursorLifetime      = 120 * time.Second  // a v2 cursor older than this (on Config.Now) is "cursor expired"
	MaxV2Range          = 7 * 24 * time.Hour // largest end_time - begin_time of a v2 walk
	cursorPruneAge      = time.Hour          // expired cursors are forgotten (then "cursor invalid") this long after issue
	cursorPruneMinCount = 4096
)

const (
	TimeLayout       = "2006-01-02 15:04:05" // format of begin_time and end_time
	MaxCount         = 1000                  // largest accepted count
	DefaultRetention = 60 * 24 * time.Hour   // messages older than this are not served
)

const contentTypeJSON = "application/json; charset=utf-8"

// Errors returned by Matching and MatchingV2 for an unknown entity.
var (
	ErrUnknownUser     = errors.New("user not exist")
	ErrUnknownGroup    = errors.New("group id invalid")
	ErrUnknownChatroom = errors.New("chatroom does not exist")
)

// Scope is the endpoint family of a request: the whole app or one entity.
type Scope string

const (
	ScopeMessages  Scope = "messages"  // /v1/messages, /v2/messages
	ScopeUsers     Scope = "users"     // /v1/users/{username}/messages, /v2/users/{username}/messages
	ScopeGroups    Scope = "groups"    // /v2/groups/{gid}/messages
	ScopeChatrooms Scope = "chatrooms" // /v2/chatrooms/{chatroomid}/messages
)

// V2End is how a v2 walk signals its last page.
type V2End string

const (
	V2EndOmit      V2End = "omit"       // the last page has no cursor field ("" means this too)
	V2EndEmpty     V2End = "empty"      // the last page has "cursor":""
	V2EndEmptyPage V2End = "empty-page" // every page with messages has a cursor; the walk ends with a page of 0 messages and no cursor
)

var v2EndModes = []V2End{V2EndOmit, V2EndEmpty, V2EndEmptyPage}

// Config configures a Server.
type Config struct {
	AppKey, MasterSecret string         // Basic auth credentials ("" = DefaultAppKey / DefaultMasterSecret)
	Location             *time.Location // zone of the time strings; nil = Asia/Shanghai
	Now                  func() time.Time
	Retention            time.Duration // 0 = 60 days

	// Users are usernames known in addition to those the messages reveal (a
	// /users request for a known user without messages answers 200 with total 0).
	Users []string
	// Groups and Chatrooms are group ids and chatroom ids known in addition to
	// the targets of the messages (for /v2/groups and /v2/chatrooms).
	Groups, Chatrooms []string

	// Fault, when set, is called for every request (n is its 1-based number, as
	// counted by Requests) before anything else; a non-nil result is served
	// instead of the normal response. Use it to inject 429s, 5xx and garbage.
	Fault func(n int64, r *http.Request) *Fault

	// Faults are random failures, decided per request from a seeded generator
	// (see Faults). The zero value injects none.
	Faults Faults

	// V2End is how a v2 walk signals its last page ("" = V2EndOmit). New
	// panics on another value.
	V2End V2End
	// V2EndMixed picks the last-page signal per walk (at its first request)
	// from the fault generator instead of using V2End.
	V2EndMixed bool
	// V2EntityStrict makes /v2/users, /v2/groups and /v2/chatrooms filter with
	// strict bounds (create_time > begin_time and < end_time), as the vendor's
	// Chinese docs say; false (the default) is inclusive, as its English docs
	// say. /v2/messages is always inclusive.
	V2EntityStrict bool

	// Latency delays every answer by this long (a request whose context
	// ends first gets none), as a distant API would; 0 = none.
	Latency time.Duration

	// StatisticsForbidden makes /v2/statistic/* answer 403 (an app without
	// the vendor's VIP plan).
	StatisticsForbidden bool
}

// Fault is an injected failure response.
type Fault struct {
	Status  int         // HTTP status, e.g. 429, 500, 503
	Code    int         // vendor error code in the body (0 = CodeInternal)
	Message string      // error message in the body
	Header  http.Header // extra response headers, e.g. Retry-After
	Body    []byte      // when non-nil, served verbatim instead of the vendor error body
}

// Server is a deterministic, in-process fake of the JMessage IM REST Report API
// v1 and v2. It implements http.Handler and is safe for concurrent use.
type Server struct {
	appKey, secret string
	loc            *time.Location
	now            func() time.Time
	retention      time.Duration
	extraUsers     []string
	extraGroups    []string
	extraRooms     []string
	fault          func(int64, *http.Request) *Fault
	faults         *injector
	v2End          V2End
	v2Mixed        bool
	v2Strict       bool
	latency        time.Duration
	statForbidden  bool

	mu       sync.Mutex // serialises Add
	st       atomic.Pointer[state]
	requests atomic.Int64

	cmu       sync.Mutex // guards the v2 cursors
	cursors   map[string]*cursor
	cursorSeq uint64
	pruneAt   int
}

// state is an immutable snapshot of the dataset and its indexes.
type state struct {
	msgs    []Message          // sorted by (CreateTime, MsgCtime, MsgID)
	byUser  map[string][]int32 // username -> ascending indexes into msgs
	byGroup map[string][]int32 // group id -> ascending indexes of its group messages
	byRoom  map[string][]int32 // chatroom id -> ascending indexes of its chatroom messages
	late    []int32            // ascending indexes of messages with VisibleAt > CreateTime
	lateMax int64              // largest VisibleAt - CreateTime among them
}

// New returns a server over msgs. msgs need not be sorted (New sorts a copy);
// a message whose JSON is nil is encoded from its typed fields (see Encode).
//
// A username is known when it sends a message from this app (msg_level 0, or
// from_appkey absent or equal to the app key), when it is the target of a single
// chat in this app (msg_level 0, target_appkey equal to the app key, or
// target_appkey absent/empty on a message from another app), or when listed in
// Config.Users. A group id is known when a message has target_type "group" and
// that target_id, or when listed in Config.Groups; a chatroom id likewise with
// "chatroom" and Config.Chatrooms.
func New(cfg Config, msgs []Message) *Server {
	s := &Server{
		appKey:        cfg.AppKey,
		secret:        cfg.MasterSecret,
		loc:           cfg.Location,
		now:           cfg.Now,
		retention:     cfg.Retention,
		extraUsers:    slices.Clone(cfg.Users),
		extraGroups:   slices.Clone(cfg.Groups),
		extraRooms:    slices.Clone(cfg.Chatrooms),
		fault:         cfg.Fault,
		faults:        newInjector(cfg.Faults),
		v2End:         cfg.V2End,
		v2Mixed:       cfg.V2EndMixed,
		v2Strict:      cfg.V2EntityStrict,
		statForbidden: cfg.StatisticsForbidden,
		latency:       cfg.Latency,
		cursors:       make(map[string]*cursor),
		pruneAt:       cursorPruneMinCount,
	}
	if s.v2End == "" {
		s.v2End = V2EndOmit
	}
	if !slices.Contains(v2EndModes, s.v2End) {
		panic(fmt.Sprintf("simulator: Config.V2End %q is not one of %q", s.v2End, v2EndModes))
	}
	if s.appKey == "" {
		s.appKey = DefaultAppKey
	}
	if s.secret == "" {
		s.secret = DefaultMasterSecret
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		s.loc = loc
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	s.st.Store(s.build(slices.Clone(msgs)))
	return s
}

func (s *Server) build(msgs []Message) *state {
	for i := range msgs {
		if msgs[i].JSON == nil {
			msgs[i] = Encode(msgs[i])
		}
	}
	for i := 1; i < len(msgs); i++ {
		if compareMsg(&msgs[i-1], &msgs[i]) > 0 {
			slices.SortStableFunc(msgs, func(a, b Message) int { return compareMsg(&a, &b) })
			break
		}
	}
	known := func(extra []string) map[string][]int32 {
		m := make(map[string][]int32)
		for _, id := range extra {
			if _, ok := m[id]; !ok {
				m[id] = nil
			}
		}
		return m
	}
	st := &state{msgs: msgs, byUser: known(s.extraUsers), byGroup: known(s.extraGroups), byRoom: known(s.extraRooms)}
	for i := range msgs {
		m := &msgs[i]
		senderLocal := m.MsgLevel == 0 || m.FromAppKey == "" || m.FromAppKey == s.appKey
		if senderLocal && m.FromID != "" {
			st.byUser[m.FromID] = append(st.byUser[m.FromID], int32(i))
		}
		switch m.TargetType {
		case "single":
			if m.TargetID != "" && (!senderLocal || m.TargetID != m.FromID) {
				targetLocal := m.MsgLevel == 0 || m.TargetAppKey == s.appKey || (m.TargetAppKey == "" && !senderLocal)
				if targetLocal {
					st.byUser[m.TargetID] = append(st.byUser[m.TargetID], int32(i))
				}
			}
		case "group":
			st.byGroup[m.TargetID] = append(st.byGroup[m.TargetID], int32(i))
		case "chatroom":
			st.byRoom[m.TargetID] = append(st.byRoom[m.TargetID], int32(i))
		}
		if m.VisibleAt > m.CreateTime {
			st.late = append(st.late, int32(i))
			d := m.VisibleAt - m.CreateTime
			if d < 0 { // overflow
				d = math.MaxInt64
			}
			st.lateMax = max(st.lateMax, d)
		}
	}
	return st
}

// Add adds messages to the dataset (for example a late arrival inside a range a
// client already paged). Requests in flight keep the dataset they started with.
func (s *Server) Add(msgs ...Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.st.Load().msgs
	all := make([]Message, 0, len(old)+len(msgs))
	all = append(append(all, old...), msgs...)
	s.st.Store(s.build(all))
}

// Requests returns the number of requests served so far, whatever their status.
func (s *Server) Requests() int64 { return s.requests.Load() }

// AppKey returns the app key the server authenticates and fills in /users responses.
func (s *Server) AppKey() string { return s.appKey }

// MasterSecret returns the master secret the server authenticates.
func (s *Server) MasterSecret() string { return s.secret }

// Location returns the zone begin_time and end_time are interpreted in.
func (s *Server) Location() *time.Location { return s.loc }

// Users returns the known usernames, sorted.
func (s *Server) Users() []string { return sortedKeys(s.st.Load().byUser) }

// Groups returns the known group ids, sorted (as strings).
func (s *Server) Groups() []string { return sortedKeys(s.st.Load().byGroup) }

// Chatrooms returns the known chatroom ids, sorted (as strings).
func (s *Server) Chatrooms() []string { return sortedKeys(s.st.Load().byRoom) }

func sortedKeys(m map[string][]int32) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

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

// UserJSON returns the message object exactly as /v1/users/{username}/messages
// and /v2/users/{username}/messages serve it: Message.JSON with from_appkey and
// target_appkey appended (set to the server's app key) when the message lacks
// them. A target_appkey served present but empty (TargetAppKeyEmpty) is kept as "".
func (s *Server) UserJSON(m Message) []byte { return appendUserJSON(nil, &m, s.appKey) }

func appendUserJSON(b []byte, m *Message, appKey string) []byte {
	js := m.JSON
	needFrom := m.FromAppKey == ""
	needTarget := m.TargetAppKey == "" && !m.TargetAppKeyEmpty
	k := bytes.LastIndexByte(js, '}')
	open := bytes.IndexByte(js, '{')
	if (!needFrom && !needTarget) || k < 0 || open < 0 || open > k {
		return append(b, js...)
	}
	b = append(b, js[:k]...)
	sep := len(bytes.TrimSpace(js[open+1:k])) > 0
	add := func(key string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = appendJSONString(b, key, false)
		b = append(b, ':')
		b = appendJSONString(b, appKey, false)
	}
	if needFrom {
		add("from_appkey")
	}
	if needTarget {
		add("target_appkey")
	}
	return append(b, js[k:]...)
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

// view is the ascending list of messages an endpoint selects for a create_time
// range, with the positions of those not visible yet.
type view struct {
	st     *state
	base   int     // when idx is nil: the absolute index of position 0 (a contiguous range)
	idx    []int32 // otherwise: the absolute index of each position
	n      int
	hidden []int // ascending positions of messages whose VisibleAt is after now
}

// view selects the messages of an endpoint with create_time in [lo, hi] (the
// caller has already clipped it to the window) as seen at now (Unix seconds).
// It reports false for an unknown user, group or chatroom.
func (st *state) view(scope Scope, id string, lo, hi, now int64) (view, bool) {
	v := view{st: st}
	var idx []int32
	switch scope {
	case ScopeMessages:
		if lo <= hi {
			i := sort.Search(len(st.msgs), func(k int) bool { return st.msgs[k].CreateTime >= lo })
			j := i + sort.Search(len(st.msgs)-i, func(k int) bool { return st.msgs[i+k].CreateTime > hi })
			v.base, v.n = i, j-i
		}
	case ScopeUsers, ScopeGroups, ScopeChatrooms:
		m := st.byUser
		if scope == ScopeGroups {
			m = st.byGroup
		} else if scope == ScopeChatrooms {
			m = st.byRoom
		}
		all, ok := m[id]
		if !ok {
			return v, false
		}
		if lo <= hi {
			i := sort.Search(len(all), func(k int) bool { return st.msgs[all[k]].CreateTime >= lo })
			j := i + sort.Search(len(all)-i, func(k int) bool { return st.msgs[all[i+k]].CreateTime > hi })
			idx = all[i:j:j]
		}
		v.idx, v.n = idx, len(idx)
		if idx == nil {
			v.idx = []int32{}
		}
	default:
		return v, false
	}
	if v.n == 0 || len(st.late) == 0 {
		return v, true
	}
	// Only a message sent less than lateMax before now can still be hidden.
	from := max(lo, satAdd(satAdd(now, -st.lateMax), 1))
	k := sort.Search(len(st.late), func(k int) bool { return st.msgs[st.late[k]].CreateTime >= from })
	for ; k < len(st.late); k++ {
		a := st.late[k]
		m := &st.msgs[a]
		if m.CreateTime > hi {
			break
		}
		if m.VisibleAt <= now {
			continue
		}
		if v.idx == nil {
			if p := int(a) - v.base; p >= 0 && p < v.n {
				v.hidden = append(v.hidden, p)
			}
		} else if p, ok := slices.BinarySearch(v.idx, a); ok {
			v.hidden = append(v.hidden, p)
		}
	}
	return v, true
}

func (v *view) abs(p int) int {
	if v.idx != nil {
		return int(v.idx[p])
	}
	return v.base + p
}

func (v *view) msg(p int) *Message { return &v.st.msgs[v.abs(p)] }

// total is the number of visible messages.
func (v *view) total() int { return v.n - len(v.hidden) }

// posOfOffset returns the position of the visible message at offset k (0-based), or n.
func (v *view) posOfOffset(k int64) int {
	if k >= int64(v.total()) {
		return v.n
	}
	p := int(k)
	for _, h := range v.hidden {
		if h > p {
			break
		}
		p++
	}
	return p
}

// firstAfter returns the first position whose message sorts after key.
func (v *view) firstAfter(key msgKey) int {
	return sort.Search(v.n, func(p int) bool { return key.compare(v.msg(p)) < 0 })
}

// collect returns up to count visible positions from p on, and the position
// after the last one it looked at.
func (v *view) collect(p, count int) (out []int, next int) {
	h, _ := slices.BinarySearch(v.hidden, p)
	for ; p < v.n && len(out) < count; p++ {
		if h < len(v.hidden) && v.hidden[h] == p {
			h++
			continue
		}
		out = append(out, p)
	}
	return out, p
}

// anyVisibleFrom reports whether a visible message is at position p or after.
func (v *view) anyVisibleFrom(p int) bool {
	if p >= v.n {
		return false
	}
	h, _ := slices.BinarySearch(v.hidden, p)
	// Positions p..n-1 number n-p; hidden[h:] are all among them.
	return v.n-p > len(v.hidden)-h
}

// messages returns a copy of the visible messages.
func (v *view) messages() []Message {
	ps, _ := v.collect(0, v.n)
	out := make([]Message, len(ps))
	for k, p := range ps {
		out[k] = *v.msg(p)
	}
	return out
}

// msgKey is the API's sort key of a message.
type msgKey struct{ ct, mct, id int64 }

func keyOf(m *Message) msgKey { return msgKey{m.CreateTime, m.MsgCtime, m.MsgID} }

// compare compares k with m's key.
func (k msgKey) compare(m *Message) int {
	return cmp.Or(cmp.Compare(k.ct, m.CreateTime), cmp.Compare(k.mct, m.MsgCtime), cmp.Compare(k.id, m.MsgID))
}

type apiError struct {
	status, code int
	msg          string
}

func writeError(w http.ResponseWriter, e apiError) {
	b := append([]byte(`{"error":{"code":`), strconv.Itoa(e.code)...)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.msg, false)
	b = append(b, "}}"...)
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

func badParam(msg string) apiError {
	return apiError{http.StatusBadRequest, CodeInvalidParam, msg}
}

// route parses an escaped path: version 1 or 2, the scope and the entity id
// (unescaped). ok is false for a path the API does not have; perr is set for
// an entity segment that does not unescape.
func route(p string) (version int, scope Scope, id string, ok bool, perr *apiError) {
	switch {
	case strings.HasPrefix(p, "/v1/"):
		version = 1
	case strings.HasPrefix(p, "/v2/"):
		version = 2
	default:
		return 0, "", "", false, nil
	}
	rest := p[len("/v1/"):]
	if rest == "messages" {
		return version, ScopeMessages, "", true, nil
	}
	const suffix = "/messages"
	for _, sc := range []Scope{ScopeUsers, ScopeGroups, ScopeChatrooms} {
		if version == 1 && sc != ScopeUsers {
			continue
		}
		prefix := string(sc) + "/"
		if len(rest) < len(prefix)+len(suffix) || !strings.HasPrefix(rest, prefix) || !strings.HasSuffix(rest, suffix) {
			continue
		}
		seg := rest[len(prefix) : len(rest)-len(suffix)]
		if strings.Contains(seg, "/") {
			return 0, "", "", false, nil
		}
		u, err := url.PathUnescape(seg)
		if err != nil {
			what := map[Scope]string{ScopeUsers: "username", ScopeGroups: "gid", ScopeChatrooms: "chatroomid"}[sc]
			e := badParam(what + " is not a valid URL path segment")
			return version, sc, "", true, &e
		}
		return version, sc, u, true, nil
	}
	return 0, "", "", false, nil
}

// ServeHTTP serves GET /v1/messages, /v1/users/{username}/messages,
// /v2/messages, /v2/users/{username}/messages, /v2/groups/{gid}/messages and
// /v2/chatrooms/{chatroomid}/messages. Checks run in this order: Fault, path
// (404), method (405), auth (401), Faults (the rate limit, then the drawn
// fault), parameters (400 899003), entity (400 899002, 899006, 899081).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if s.fault != nil {
		if f := s.fault(n, r); f != nil {
			s.faults.count(kindHook)
			serveFault(w, f)
			return
		}
	}

	// Route on the escaped path so that %2F inside a username is not a separator.
	p := r.URL.EscapedPath()
	if strings.HasPrefix(p, statisticPrefix) {
		s.serveStatistic(w, r, p)
		return
	}
	version, scope, id, ok, perr := route(p)
	if !ok {
		writeError(w, apiError{http.StatusNotFound, CodeInternal, "not found: " + p})
		return
	}
	if !s.allowed(w, r) {
		return
	}

	d := s.faults.decide()
	if s.faults.limited(w) {
		return
	}
	if !s.faults.before(w, r, d) {
		return
	}

	if perr != nil {
		writeError(w, *perr)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, badParam("query string is invalid: "+err.Error()))
		return
	}
	var out []byte
	var aerr *apiError
	if version == 1 {
		out, aerr = s.serveV1(q, scope, id, d)
	} else {
		out, aerr = s.serveV2(q, scope, id, d)
	}
	if aerr != nil {
		writeError(w, *aerr)
		return
	}
	s.faults.writePage(w, d, out)
}

// allowed checks the method (405) and the credentials (401) of a request,
// answering it when they fail.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, apiError{http.StatusMethodNotAllowed, CodeInternal, "method not allowed: " + r.Method})
		return false
	}
	if r.Header.Get("Authorization") == "" {
		writeError(w, apiError{http.StatusUnauthorized, CodeMissingAuth, "Authorization header is missing"})
		return false
	}
	key, secret, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(s.appKey)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.secret)) != 1 {
		writeError(w, apiError{http.StatusUnauthorized, CodeAuthFailed, "Basic authentication failed"})
		return false
	}
	return true
}

// serveV1 answers a v1 page request: the response body, or an error.
func (s *Server) serveV1(q url.Values, scope Scope, user string, d decision) ([]byte, *apiError) {
	start, count, begin, end, perr := s.params(q)
	if perr != nil {
		return nil, perr
	}
	strict := scope == ScopeUsers
	lo, hi := s.bounds(strict, begin, end)
	st := s.st.Load()
	v, ok := st.view(scope, user, lo, hi, s.now().Unix())
	if !ok {
		return nil, &apiError{http.StatusBadRequest, CodeNoSuchUser, "user not exist"}
	}
	var page []int
	if start < int64(v.total()) {
		page, _ = v.collect(v.posOfOffset(start), count)
	}
	out := make([]byte, 0, 4096)
	out = appendHead(out, s.faults.total(d, v.total()), start, len(page))
	out = v.appendMessages(out, page, scope == ScopeUsers, s.appKey)
	return append(out, "]}"...), nil
}

// appendMessages appends the messages at positions ps, comma-separated, as
// served: Message.JSON, or UserJSON when user is set.
func (v *view) appendMessages(b []byte, ps []int, user bool, appKey string) []byte {
	for k, p := range ps {
		if k > 0 {
			b = append(b, ',')
		}
		m := v.msg(p)
		if user {
			b = appendUserJSON(b, m, appKey)
		} else {
			b = append(b, m.JSON...)
		}
	}
	return b
}

func appendHead(b []byte, total int, start int64, n int) []byte {
	b = append(b, `{"total":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"start":`...)
	b = strconv.AppendInt(b, start, 10)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, `,"messages":[`...)
}

// params validates start, count, begin_time and end_time. begin and end are nil
// when absent or empty; they are Unix seconds otherwise.
func (s *Server) params(q url.Values) (start int64, count int, begin, end *int64, e *apiError) {
	fail := func(msg string) (int64, int, *int64, *int64, *apiError) {
		err := badParam(msg)
		return 0, 0, nil, nil, &err
	}
	if !q.Has("start") {
		return fail("start is required")
	}
	start, err := strconv.ParseInt(q.Get("start"), 10, 64)
	if err != nil || start < 0 {
		return fail("start must be an integer >= 0")
	}
	c, perr := parseCount(q)
	if perr != nil {
		return 0, 0, nil, nil, perr
	}
	begin, perr = s.parseTime(q, "begin_time")
	if perr != nil {
		return 0, 0, nil, nil, perr
	}
	end, perr = s.parseTime(q, "end_time")
	if perr != nil {
		return 0, 0, nil, nil, perr
	}
	return start, c, begin, end, nil
}

func parseCount(q url.Values) (int, *apiError) {
	if !q.Has("count") {
		e := badParam("count is required")
		return 0, &e
	}
	c, err := strconv.ParseInt(q.Get("count"), 10, 64)
	if err != nil || c < 1 || c > MaxCount {
		e := badParam("count must be an integer between 1 and 1000")
		return 0, &e
	}
	return int(c), nil
}

// parseTime reads a time parameter: nil when absent or empty, else Unix seconds.
func (s *Server) parseTime(q url.Values, name string) (*int64, *apiError) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	// time.Parse accepts a fractional second the layout lacks; the vendor's
	// yyyy-MM-dd HH:mm:ss does not.
	var t time.Time
	var err error
	if len(v) == len(TimeLayout) {
		t, err = time.ParseInLocation(TimeLayout, v, s.loc)
	}
	if len(v) != len(TimeLayout) || err != nil {
		e := badParam(name + " must be formatted yyyy-MM-dd HH:mm:ss")
		return nil, &e
	}
	u := t.Unix()
	return &u, nil
}

func serveFault(w http.ResponseWriter, f *Fault) {
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if f.Body != nil {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", contentTypeJSON)
		}
		w.WriteHeader(status)
		_, _ = w.Write(f.Body)
		return
	}
	code := f.Code
	if code == 0 {
		code = CodeInternal
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	writeError(w, apiError{status, code, msg})
}
