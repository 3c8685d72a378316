package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/imreport/imreport/source"
)

// StreamProgress is what one stream did in this run, for progress reports.
type StreamProgress struct {
	Stream    string    // as source.Stream.String
	Began     time.Time // the cursor when Run started (zero before)
	Cursor    time.Time // the committed cursor (zero before Run)
	Published int64     // messages acknowledged by Kafka, dead letters included
	Requests  int64     // API answers for this stream: pages and rescan totals
}

// streamCounters count per stream; the map is built by Run before its
// stages start and never changes, so they read it without a lock.
type streamCounters map[string]*struct{ published, requests atomic.Int64 }

func newStreamCounters(streams []source.Stream) streamCounters {
	c := make(streamCounters, len(streams))
	for _, s := range streams {
		c[s.String()] = &struct{ published, requests atomic.Int64 }{}
	}
	return c
}

func (c streamCounters) published(stream string, n int64) {
	if s := c[stream]; s != nil {
		s.published.Add(n)
	}
}

func (c streamCounters) requested(stream string) {
	if s := c[stream]; s != nil {
		s.requests.Add(1)
	}
}

// StreamProgress returns every stream's progress, in Config.Streams order.
// Safe to call while Run runs.
func (p *Pipeline) StreamProgress() []StreamProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]StreamProgress, 0, len(p.cfg.Streams))
	for _, s := range p.cfg.Streams {
		key := s.String()
		sp := StreamProgress{Stream: key, Began: p.began[key], Cursor: p.cursors[key]}
		if c := p.perStream[key]; c != nil {
			sp.Published, sp.Requests = c.published.Load(), c.requests.Load()
		}
		out = append(out, sp)
	}
	return out
}
