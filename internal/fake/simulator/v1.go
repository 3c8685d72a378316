package simulator

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

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
