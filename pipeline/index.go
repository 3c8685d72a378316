package pipeline

import (
	"sync"

	"github.com/imreport/imreport/source"
)

// rescanIndex remembers, per stream, which msgids the API served and the
// second of their create_time, so that a lookback rescan can compare the
// API's total for a window with what was already fetched for it, and skip
// the fetch when they agree. The publisher adds to it; fetchers read it.
//
// A count that is too low (pages not processed yet, a message whose
// create_time could not be read) only costs a fetch. A count can never be too
// high: every counted msgid was served for that second.
type rescanIndex struct {
	mu      sync.Mutex
	streams map[string]*streamIndex
}

type streamIndex struct {
	second map[int64]int64 // msgid -> create_time second
	count  map[int64]int   // second -> distinct msgids
}

func newRescanIndex() *rescanIndex { return &rescanIndex{streams: map[string]*streamIndex{}} }

// add records that stream served msgid, created in second sec.
func (x *rescanIndex) add(stream string, msgid, sec int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.streams[stream]
	if s == nil {
		s = &streamIndex{second: map[int64]int64{}, count: map[int64]int{}}
		x.streams[stream] = s
	}
	if _, ok := s.second[msgid]; ok {
		return
	}
	s.second[msgid] = sec
	s.count[sec]++
}

// count returns how many distinct msgids stream served with a create_time in
// w.
func (x *rescanIndex) count(stream string, w source.Window) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.streams[stream]
	if s == nil {
		return 0
	}
	from, to := w.From.Unix(), w.To.Unix()
	n := 0
	if to-from <= int64(len(s.count)) {
		for sec := from; sec < to; sec++ {
			n += s.count[sec]
		}
		return n
	}
	for sec, c := range s.count {
		if sec >= from && sec < to {
			n += c
		}
	}
	return n
}

// prune forgets every second below before.
func (x *rescanIndex) prune(before int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range x.streams {
		if len(s.count) == 0 {
			continue
		}
		dropped := false
		for sec := range s.count {
			if sec < before {
				delete(s.count, sec)
				dropped = true
			}
		}
		if !dropped {
			continue
		}
		for id, sec := range s.second {
			if sec < before {
				delete(s.second, id)
			}
		}
	}
}
