package simulator

import (
	"bytes"
	"crypto/subtle"
	"errors"
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
	CodeInternal     = 899000 // also used for 404 and 405, for which the vendor documents no code
	CodeNoSuchUser   = 899002 // 400: /v1/users/{username} names an unknown user
	CodeInvalidParam = 899003 // 400: a missing or invalid parameter (the message names it)
	CodeMissingAuth  = 899007 // 401: no Authorization header
	CodeAuthFailed   = 899008 // 401: malformed or wrong Basic credentials
)

const (
	TimeLayout       = "2006-01-02 15:04:05" // format of begin_time and end_time
	MaxCount         = 1000                  // largest accepted count
	DefaultRetention = 60 * 24 * time.Hour   // messages older than this are not served
)

const (
	contentTypeJSON   = "application/json; charset=utf-8"
	pathMessages      = "/v1/messages"
	pathUsersPrefix   = "/v1/users/"
	pathMessageSuffix = "/messages"
)

// ErrUnknownUser is returned by Matching for a username the server does not know.
var ErrUnknownUser = errors.New("user not exist")

// Config configures a Server.
type Config struct {
	AppKey, MasterSecret string         // Basic auth credentials ("" = DefaultAppKey / DefaultMasterSecret)
	Location             *time.Location // zone of the time strings; nil = Asia/Shanghai
	Now                  func() time.Time
	Retention            time.Duration // 0 = 60 days

	// Users are usernames known in addition to those the messages reveal (a
	// /users request for a known user without messages answers 200 with total 0).
	Users []string

	// Fault, when set, is called for every request (n is its 1-based number, as
	// counted by Requests) before anything else; a non-nil result is served
	// instead of the normal response. Use it to inject 429s, 5xx and garbage.
	Fault func(n int64, r *http.Request) *Fault
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
// v1. It implements http.Handler and is safe for concurrent use.
type Server struct {
	appKey, secret string
	loc            *time.Location
	now            func() time.Time
	retention      time.Duration
	extraUsers     []string
	fault          func(int64, *http.Request) *Fault

	mu       sync.Mutex // serialises Add
	st       atomic.Pointer[state]
	requests atomic.Int64
}

// state is an immutable snapshot of the dataset and its indexes.
type state struct {
	msgs   []Message          // sorted by (CreateTime, MsgCtime, MsgID)
	byUser map[string][]int32 // username -> ascending indexes into msgs
}

// New returns a server over msgs. msgs need not be sorted (New sorts a copy);
// a message whose JSON is nil is encoded from its typed fields (see Encode).
//
// A username is known when it sends a message from this app (msg_level 0, or
// from_appkey absent or equal to the app key), when it is the target of a single
// chat in this app (msg_level 0, target_appkey equal to the app key, or
// target_appkey absent/empty on a message from another app), or when listed in
// Config.Users.
func New(cfg Config, msgs []Message) *Server {
	s := &Server{
		appKey:     cfg.AppKey,
		secret:     cfg.MasterSecret,
		loc:        cfg.Location,
		now:        cfg.Now,
		retention:  cfg.Retention,
		extraUsers: slices.Clone(cfg.Users),
		fault:      cfg.Fault,
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
	byUser := make(map[string][]int32)
	for _, u := range s.extraUsers {
		if _, ok := byUser[u]; !ok {
			byUser[u] = nil
		}
	}
	for i := range msgs {
		m := &msgs[i]
		senderLocal := m.MsgLevel == 0 || m.FromAppKey == "" || m.FromAppKey == s.appKey
		if senderLocal && m.FromID != "" {
			byUser[m.FromID] = append(byUser[m.FromID], int32(i))
		}
		if m.TargetType == "single" && m.TargetID != "" && (!senderLocal || m.TargetID != m.FromID) {
			targetLocal := m.MsgLevel == 0 || m.TargetAppKey == s.appKey || (m.TargetAppKey == "" && !senderLocal)
			if targetLocal {
				byUser[m.TargetID] = append(byUser[m.TargetID], int32(i))
			}
		}
	}
	return &state{msgs: msgs, byUser: byUser}
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
func (s *Server) Users() []string {
	st := s.st.Load()
	out := make([]string, 0, len(st.byUser))
	for u := range st.byUser {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Visible returns (a copy of) the messages the API would serve now for the whole
// range with create_time in [from, to): those with create_time <= now and not
// older than the retention. A zero from or to leaves that side unbounded.
func (s *Server) Visible(from, to time.Time) []Message {
	lo, hi := s.window()
	if !from.IsZero() {
		lo = max(lo, ceilSec(from))
	}
	if !to.IsZero() {
		hi = min(hi, ceilSec(to)-1)
	}
	st := s.st.Load()
	i, j := st.span(lo, hi)
	return slices.Clone(st.msgs[i:j])
}

// Matching returns (a copy of) the full list a request made now would page
// over: /v1/messages when user is "" (create_time >= begin and <= end), else
// /v1/users/{user}/messages (create_time > begin and < end). A zero begin or end
// is an absent parameter. It returns ErrUnknownUser for an unknown user.
func (s *Server) Matching(user string, begin, end time.Time) ([]Message, error) {
	st := s.st.Load()
	var bp, ep *int64
	if !begin.IsZero() {
		b := begin.Unix()
		if user == "" {
			b = ceilSec(begin)
		}
		bp = &b
	}
	if !end.IsZero() {
		e := end.Unix()
		if user != "" {
			e = ceilSec(end)
		}
		ep = &e
	}
	if user == "" {
		i, j := st.span(s.bounds(false, bp, ep))
		return slices.Clone(st.msgs[i:j]), nil
	}
	lo, hi := s.bounds(true, bp, ep)
	idx, ok := st.userSpan(user, lo, hi)
	if !ok {
		return nil, ErrUnknownUser
	}
	out := make([]Message, len(idx))
	for k, i := range idx {
		out[k] = st.msgs[i]
	}
	return out, nil
}

// UserJSON returns the message object exactly as /v1/users/{username}/messages
// serves it: Message.JSON with from_appkey and target_appkey appended (set to the
// server's app key) when the message lacks them. A target_appkey served present
// but empty (TargetAppKeyEmpty) is kept as "".
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
// inclusive for /v1/messages, strict for /v1/users.
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
	if (d > 0 && a > math.MaxInt64-d) || (d < 0 && a < math.MinInt64-d) {
		return a
	}
	return a + d
}

// span returns the index range of msgs with create_time in [lo, hi].
func (st *state) span(lo, hi int64) (int, int) {
	if lo > hi {
		return 0, 0
	}
	i := sort.Search(len(st.msgs), func(k int) bool { return st.msgs[k].CreateTime >= lo })
	j := i + sort.Search(len(st.msgs)-i, func(k int) bool { return st.msgs[i+k].CreateTime > hi })
	return i, j
}

// userSpan returns the indexes of user's messages with create_time in [lo, hi].
func (st *state) userSpan(user string, lo, hi int64) ([]int32, bool) {
	idx, ok := st.byUser[user]
	if !ok {
		return nil, false
	}
	if lo > hi {
		return nil, true
	}
	i := sort.Search(len(idx), func(k int) bool { return st.msgs[idx[k]].CreateTime >= lo })
	j := i + sort.Search(len(idx)-i, func(k int) bool { return st.msgs[idx[i+k]].CreateTime > hi })
	return idx[i:j], true
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

// ServeHTTP serves GET /v1/messages and GET /v1/users/{username}/messages.
// Checks run in this order: Fault, path (404), method (405), auth (401),
// parameters (400 899003), user (400 899002).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	if s.fault != nil {
		if f := s.fault(n, r); f != nil {
			serveFault(w, f)
			return
		}
	}

	// Route on the escaped path so that %2F inside a username is not a separator.
	p := r.URL.EscapedPath()
	var user string
	users := false
	switch {
	case p == pathMessages:
	case len(p) >= len(pathUsersPrefix)+len(pathMessageSuffix) &&
		strings.HasPrefix(p, pathUsersPrefix) && strings.HasSuffix(p, pathMessageSuffix) &&
		!strings.Contains(p[len(pathUsersPrefix):len(p)-len(pathMessageSuffix)], "/"):
		seg := p[len(pathUsersPrefix) : len(p)-len(pathMessageSuffix)]
		u, err := url.PathUnescape(seg)
		if err != nil {
			writeError(w, badParam("username is not a valid URL path segment"))
			return
		}
		user, users = u, true
	default:
		writeError(w, apiError{http.StatusNotFound, CodeInternal, "not found: " + p})
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, apiError{http.StatusMethodNotAllowed, CodeInternal, "method not allowed: " + r.Method})
		return
	}

	if r.Header.Get("Authorization") == "" {
		writeError(w, apiError{http.StatusUnauthorized, CodeMissingAuth, "Authorization header is missing"})
		return
	}
	key, secret, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(s.appKey)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.secret)) != 1 {
		writeError(w, apiError{http.StatusUnauthorized, CodeAuthFailed, "Basic authentication failed"})
		return
	}

	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, badParam("query string is invalid: "+err.Error()))
		return
	}
	start, count, begin, end, perr := s.params(q)
	if perr != nil {
		writeError(w, *perr)
		return
	}

	st := s.st.Load()
	out := make([]byte, 0, 4096)
	if !users {
		i, j := st.span(s.bounds(false, begin, end))
		page := pageOf(st.msgs[i:j], start, count)
		out = appendHead(out, j-i, start, len(page))
		for k := range page {
			if k > 0 {
				out = append(out, ',')
			}
			out = append(out, page[k].JSON...)
		}
	} else {
		lo, hi := s.bounds(true, begin, end)
		idx, ok := st.userSpan(user, lo, hi)
		if !ok {
			writeError(w, apiError{http.StatusBadRequest, CodeNoSuchUser, "user not exist"})
			return
		}
		page := pageOf(idx, start, count)
		out = appendHead(out, len(idx), start, len(page))
		for k, i := range page {
			if k > 0 {
				out = append(out, ',')
			}
			out = appendUserJSON(out, &st.msgs[i], s.appKey)
		}
	}
	out = append(out, "]}"...)
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func pageOf[T any](s []T, start int64, count int) []T {
	if start >= int64(len(s)) {
		return s[:0]
	}
	i := int(start)
	return s[i:min(len(s), i+count)]
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
	if !q.Has("count") {
		return fail("count is required")
	}
	c, err := strconv.ParseInt(q.Get("count"), 10, 64)
	if err != nil || c < 1 || c > MaxCount {
		return fail("count must be an integer between 1 and 1000")
	}
	parse := func(name string) (*int64, bool) {
		v := q.Get(name)
		if v == "" {
			return nil, true
		}
		// time.Parse accepts a fractional second the layout lacks; the vendor's
		// yyyy-MM-dd HH:mm:ss does not.
		if len(v) != len(TimeLayout) {
			return nil, false
		}
		t, err := time.ParseInLocation(TimeLayout, v, s.loc)
		if err != nil {
			return nil, false
		}
		u := t.Unix()
		return &u, true
	}
	begin, ok := parse("begin_time")
	if !ok {
		return fail("begin_time must be formatted yyyy-MM-dd HH:mm:ss")
	}
	end, ok = parse("end_time")
	if !ok {
		return fail("end_time must be formatted yyyy-MM-dd HH:mm:ss")
	}
	return start, int(c), begin, end, nil
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
