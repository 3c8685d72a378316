package simulator

import (
	"cmp"
	"slices"
	"sort"
)

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
