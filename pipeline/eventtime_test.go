package pipeline

import (
	"testing"
	"time"

	"github.com/imreport/imreport/source"
)

func TestEventTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	cases := []struct {
		name       string
		ctime, sec int64
		want       time.Time
	}{
		{"msg_ctime", ms(now.Add(-time.Hour).Add(123 * time.Millisecond)), now.Add(-time.Hour).Unix(), now.Add(-time.Hour).Add(123 * time.Millisecond)},
		{"msg_ctime missing: create_time", 0, now.Add(-time.Hour).Unix(), now.Add(-time.Hour)},
		{"msg_ctime negative: create_time", -5, now.Add(-time.Hour).Unix(), now.Add(-time.Hour)},
		{"msg_ctime just ahead of the clock", ms(now.Add(maxFuture)), 0, now.Add(maxFuture)},
		{"msg_ctime far ahead (microseconds?): create_time", ms(now) * 1000, now.Unix(), now},
		{"both unusable: publish time", ms(now.Add(24 * time.Hour)), 0, time.Time{}},
		{"nothing: publish time", 0, 0, time.Time{}},
	}
	if got := eventTime(source.Message{MsgCtime: ms(now.Add(24 * time.Hour))}, time.Time{}); !got.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("no clock reading: %v, want msg_ctime unchecked", got)
	}
	for _, c := range cases {
		got := eventTime(source.Message{MsgCtime: c.ctime, CreateTime: c.sec}, now)
		if !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
