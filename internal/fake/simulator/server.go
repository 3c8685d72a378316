package simulator

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // Asia/Shanghai must load in a static container too

	"github.com/imreport/imreport/internal/retry"
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
	if s.latency > 0 && retry.Sleep(r.Context(), s.latency) != nil {
		return
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
