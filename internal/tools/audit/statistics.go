package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/imreport/imreport/source"
)

// Statistics is the vendor's statistics API (source.Client).
type Statistics interface {
	MessageStatistics(ctx context.Context, unit string, start time.Time, duration int) ([]source.MessageStat, error)
}

// StatReport compares the statistics API's counts with the topics.
type StatReport struct {
	Zone string `json:"zone"` // the zone buckets are read in: the API's (assumed)
	// Unavailable says why there is no comparison (a 403: not a VIP plan);
	// it is not a failure.
	Unavailable string       `json:"unavailable,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
	Buckets     []StatBucket `json:"buckets,omitempty"`
}

// StatBucket is one statistics bucket against the topics' single and group
// messages sent in it.
type StatBucket struct {
	Unit        string    `json:"unit"`
	Time        string    `json:"time"` // as the API names it
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	StatSingle  int64     `json:"stat_single"`
	TopicSingle int64     `json:"topic_single"`
	StatGroup   int64     `json:"stat_group"`
	TopicGroup  int64     `json:"topic_group"`
	Status      string    `json:"status"` // ok or differs
}

// StatQuery is one request of the statistics witness.
type StatQuery struct {
	Unit     string
	Start    time.Time
	Duration int // buckets asked for
}

// StatQueries plans the statistics requests for [from, to) as the vendor
// allows them: MONTH for whole months (2 per request), DAY for whole days
// (60 per request), HOUR for whole hours of the current day (in loc) that
// have ended by now. Only buckets wholly inside [from, to) are asked for.
func StatQueries(from, to, now time.Time, loc *time.Location) []StatQuery {
	var out []StatQuery
	plan := func(unit string, first time.Time, next func(time.Time) time.Time, end time.Time, most int) {
		start, n := first, 0
		for b := first; !next(b).After(end); b = next(b) {
			if n == most {
				out = append(out, StatQuery{unit, start, n})
				start, n = b, 0
			}
			n++
		}
		if n > 0 {
			out = append(out, StatQuery{unit, start, n})
		}
	}
	f := from.In(loc)
	month := time.Date(f.Year(), f.Month(), 1, 0, 0, 0, 0, loc)
	if month.Before(from) {
		month = month.AddDate(0, 1, 0)
	}
	plan(source.StatMonth, month, func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }, minTime(to, now), 2)
	day := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, loc)
	if day.Before(from) {
		day = day.AddDate(0, 0, 1)
	}
	plan(source.StatDay, day, func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }, minTime(to, now), 60)
	n := now.In(loc)
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc)
	hour := today
	for hour.Before(from) {
		hour = hour.Add(time.Hour)
	}
	plan(source.StatHour, hour, func(t time.Time) time.Time { return t.Add(time.Hour) }, minTime(to, now), 24)
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// bucketEnd is the end of the statistics bucket that starts at t.
func bucketEnd(unit string, t time.Time) time.Time {
	switch unit {
	case source.StatHour:
		return t.Add(time.Hour)
	case source.StatDay:
		return t.AddDate(0, 0, 1)
	}
	return t.AddDate(0, 1, 0)
}

// askStatistics asks the statistics API for every whole bucket of the
// range. whole says whether the audited streams include the whole app
// (/messages): otherwise the topics need not hold every message the
// statistics count, and nothing is asked.
func (a *auditor) askStatistics(ctx context.Context, whole bool) *StatReport {
	rep := &StatReport{Zone: a.cfg.Location.String()}
	if !whole {
		rep.Notes = append(rep.Notes, "not compared: the statistics count the whole app, and the audited streams are single users, groups or chatrooms")
		return rep
	}
	rep.Notes = append(rep.Notes, "chatroom messages are not counted by the statistics API and are left out of the topic side too")
	queries := StatQueries(a.cfg.From, a.cfg.To, a.cfg.Now(), a.cfg.Location)
	if len(queries) == 0 {
		rep.Notes = append(rep.Notes, "no whole statistics bucket (hour of today, day, month) lies in the audited range")
		return rep
	}
	for _, q := range queries {
		got, err := a.stats.MessageStatistics(ctx, q.Unit, q.Start, q.Duration)
		a.requests.Add(1)
		if errors.Is(err, source.ErrStatisticsUnavailable) {
			rep.Unavailable = err.Error()
			rep.Buckets = nil
			return rep
		}
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s from %s: %v", q.Unit, q.Start.Format(time.RFC3339), err))
			a.failed = true
			continue
		}
		for _, s := range got {
			end := bucketEnd(q.Unit, s.Start)
			if s.Start.Before(a.cfg.From) || end.After(a.cfg.To) {
				continue // the API answered more than was asked: not audited
			}
			rep.Buckets = append(rep.Buckets, StatBucket{Unit: q.Unit, Time: s.Time, From: s.Start, To: end, StatSingle: s.Single, StatGroup: s.Group})
		}
	}
	return rep
}

// compareStatistics counts the topics' side of every statistics bucket and
// compares.
func compareStatistics(rep *StatReport, t *tally) {
	countTopic(t, rep.Buckets)
	for i := range rep.Buckets {
		b := &rep.Buckets[i]
		b.Status = StatusOK
		if b.StatSingle != b.TopicSingle || b.StatGroup != b.TopicGroup {
			b.Status = "differs"
		}
	}
}

// countTopic fills in the topics' single and group messages of each bucket.
func countTopic(t *tally, buckets []StatBucket) {
	type span struct {
		from, to int64
		i        int
	}
	spans := make([]span, len(buckets))
	for i, b := range buckets {
		spans[i] = span{b.From.Unix(), b.To.Unix(), i}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
	for _, e := range t.ids {
		if e.kind != "single" && e.kind != "group" {
			continue
		}
		// Buckets of different units overlap: check each that starts
		// before the message.
		k := sort.Search(len(spans), func(k int) bool { return spans[k].from > e.sec })
		for _, sp := range spans[:k] {
			if e.sec >= sp.to {
				continue
			}
			if e.kind == "single" {
				buckets[sp.i].TopicSingle++
			} else {
				buckets[sp.i].TopicGroup++
			}
		}
	}
}
