package simulator

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// statisticPrefix is the path prefix of the statistics endpoints.
const statisticPrefix = "/v2/statistic/"

// CodeStatisticsForbidden is the code of the 403 a Server with
// Config.StatisticsForbidden answers. The vendor documents neither the status
// nor the code for an app without a VIP plan; 403 is what its docs call
// "rejected", the code is the simulator's own.
const CodeStatisticsForbidden = 899043

// Statistics units and their limits, as the vendor documents them: HOUR for
// the current day only (duration 0..24), DAY up to 60, MONTH up to 2.
var statUnits = map[string]struct {
	layout string
	most   int
}{
	"HOUR":  {"2006-01-02 15", 24},
	"DAY":   {"2006-01-02", 60},
	"MONTH": {"2006-01", 2},
}

// serveStatistic answers GET /v2/statistic/messages, /v2/statistic/users and
// /v2/statistic/groups: time_unit, start (in the unit's layout, in
// Config.Location) and duration are required. The answer holds duration
// buckets from start (one when duration is 0), each counted over the messages
// sent in it (create_time in the bucket and not after Config.Now, visible
// or not yet: the statistics count what was sent).
func (s *Server) serveStatistic(w http.ResponseWriter, r *http.Request, p string) {
	what := p[len(statisticPrefix):]
	if what != "messages" && what != "users" && what != "groups" {
		writeError(w, apiError{http.StatusNotFound, CodeInternal, "not found: " + p})
		return
	}
	if !s.allowed(w, r) {
		return
	}
	d := s.faults.decide()
	if s.faults.limited(w) || !s.faults.before(w, r, d) {
		return
	}
	if s.statForbidden {
		writeError(w, apiError{http.StatusForbidden, CodeStatisticsForbidden, "statistics are available to VIP plans only"})
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, badParam("query string is invalid: "+err.Error()))
		return
	}
	starts, unit, aerr := s.statBuckets(q, what)
	if aerr != nil {
		writeError(w, *aerr)
		return
	}
	var out []byte
	switch what {
	case "messages":
		out = s.messageStats(starts, unit)
	case "users":
		out = s.entityStats(starts, unit, true)
	default:
		out = s.entityStats(starts, unit, false)
	}
	s.faults.writePage(w, d, out)
}

// statBuckets checks the parameters and returns the start of each bucket
// and, last, the end of the last one.
func (s *Server) statBuckets(q url.Values, what string) ([]time.Time, string, *apiError) {
	unit := q.Get("time_unit")
	spec, ok := statUnits[unit]
	if !ok || (what != "messages" && unit != "DAY") {
		e := badParam("time_unit must be HOUR, DAY or MONTH (DAY only for users and groups)")
		return nil, "", &e
	}
	start, err := time.ParseInLocation(spec.layout, q.Get("start"), s.loc)
	if err != nil {
		e := badParam("start must be formatted " + spec.layout)
		return nil, "", &e
	}
	n, err := strconv.Atoi(q.Get("duration"))
	if err != nil || n < 0 || n > spec.most {
		e := badParam("duration must be a whole number from 0 to " + strconv.Itoa(spec.most) + " for " + unit)
		return nil, "", &e
	}
	n = max(n, 1)
	next := func(t time.Time) time.Time {
		switch unit {
		case "HOUR":
			return t.Add(time.Hour)
		case "DAY":
			return t.AddDate(0, 0, 1)
		}
		return t.AddDate(0, 1, 0)
	}
	starts := []time.Time{start}
	for range n {
		starts = append(starts, next(starts[len(starts)-1]))
	}
	if unit == "HOUR" {
		now := s.now().In(s.loc)
		y, m, day := now.Date()
		today := time.Date(y, m, day, 0, 0, 0, 0, s.loc)
		if start.Before(today) || starts[len(starts)-1].After(today.AddDate(0, 0, 1)) {
			e := badParam("time_unit HOUR is only for the current day")
			return nil, "", &e
		}
	}
	return starts, unit, nil
}

// sent returns the messages sent in [from, to) and not after now, in order.
func (st *state) sent(from, to time.Time, now int64) []Message {
	lo, hi := from.Unix(), min(to.Unix(), now+1)
	i := sort.Search(len(st.msgs), func(i int) bool { return st.msgs[i].CreateTime >= lo })
	j := sort.Search(len(st.msgs), func(i int) bool { return st.msgs[i].CreateTime >= hi })
	if j < i {
		return nil
	}
	return st.msgs[i:j]
}

// messageStats is the body of /v2/statistic/messages.
func (s *Server) messageStats(starts []time.Time, unit string) []byte {
	st, now := s.st.Load(), s.now().Unix()
	layout := statUnits[unit].layout
	types := [2]map[string]int{{}, {}} // group, single
	out := []byte(`{"send_msg_stat":[`)
	for i := range len(starts) - 1 {
		var single, group int
		for _, m := range st.sent(starts[i], starts[i+1], now) {
			k := -1
			switch m.TargetType {
			case "group":
				group, k = group+1, 0
			case "single":
				single, k = single+1, 1
			}
			if k >= 0 {
				types[k][statType(m.MsgType)]++
			}
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"time":`...)
		out = appendJSONString(out, starts[i].Format(layout), false)
		out = append(out, `,"group_send_msg":`...)
		out = strconv.AppendInt(out, int64(group), 10)
		out = append(out, `,"single_send_msg":`...)
		out = strconv.AppendInt(out, int64(single), 10)
		out = append(out, '}')
	}
	out = append(out, ']')
	for k, name := range []string{"group_msg_stat", "single_msg_stat"} {
		out = append(out, `,"`+name+`":{`...)
		for i, t := range []string{"txt_msg", "image_msg", "voice_msg", "other_msg"} {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `"`+t+`":`...)
			out = strconv.AppendInt(out, int64(types[k][t]), 10)
		}
		out = append(out, '}')
	}
	return append(out, '}')
}

func statType(msgType string) string {
	switch msgType {
	case "text":
		return "txt_msg"
	case "image":
		return "image_msg"
	case "voice":
		return "voice_msg"
	}
	return "other_msg"
}

// entityStats is the body of /v2/statistic/users (users) or
// /v2/statistic/groups: one object per day. Active means sending (users) or
// receiving (groups) at least one message that day; nothing is ever new.
func (s *Server) entityStats(starts []time.Time, unit string, users bool) []byte {
	st, now := s.st.Load(), s.now().Unix()
	layout := statUnits[unit].layout
	out := []byte{'['}
	for i := range len(starts) - 1 {
		active := map[string]bool{}
		for _, m := range st.sent(starts[i], starts[i+1], now) {
			switch {
			case users && m.FromType == "user":
				active[m.FromID] = true
			case !users && m.TargetType == "group":
				active[m.TargetID] = true
			}
		}
		if i > 0 {
			out = append(out, ',')
		}
		if users {
			out = append(out, `{"active_users":`...)
			out = strconv.AppendInt(out, int64(len(active)), 10)
			out = append(out, `,"total_users":`...)
			out = strconv.AppendInt(out, int64(len(st.byUser)), 10)
			out = append(out, `,"send_msg_users":`...)
			out = strconv.AppendInt(out, int64(len(active)), 10)
			out = append(out, `,"new_users":0,"date":`...)
		} else {
			out = append(out, `{"active_group":`...)
			out = strconv.AppendInt(out, int64(len(active)), 10)
			out = append(out, `,"total_group":`...)
			out = strconv.AppendInt(out, int64(len(st.byGroup)), 10)
			out = append(out, `,"new_group":0,"date":`...)
		}
		out = appendJSONString(out, starts[i].Format(layout), false)
		out = append(out, '}')
	}
	return append(out, ']')
}
