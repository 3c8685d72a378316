package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

func ptr(s string) *string { return &s }

func TestMember(t *testing.T) {
	const app = "ours"
	single := func(from, to string, level int32, fromKey, toKey *string) Fields {
		return Fields{TargetType: "single", FromID: from, TargetID: to, MsgLevel: level, FromAppKey: fromKey, TargetAppKey: toKey}
	}
	for _, tc := range []struct {
		name   string
		s      source.Stream
		f      Fields
		header string
		want   bool
	}{
		{"messages takes all", source.Messages, Fields{TargetType: "chatroom"}, "", true},
		{"group by target", source.Group("7"), Fields{TargetType: "group", TargetID: "7"}, "", true},
		{"other group", source.Group("7"), Fields{TargetType: "group", TargetID: "8"}, "", false},
		{"a single chat to a user called 7 is no group", source.Group("7"), Fields{TargetType: "single", TargetID: "7"}, "", false},
		{"chatroom by target", source.Chatroom("r"), Fields{TargetType: "chatroom", TargetID: "r"}, "", true},
		{"user sends", source.User("a"), single("a", "b", 0, nil, nil), "", true},
		{"user receives", source.User("b"), single("a", "b", 0, nil, nil), "", true},
		{"user sends to a group", source.User("a"), Fields{TargetType: "group", TargetID: "g", FromID: "a"}, "", true},
		{"user is not in a group's message by another", source.User("b"), Fields{TargetType: "group", TargetID: "g", FromID: "a"}, "", false},
		{"foreign sender to us", source.User("b"), single("x", "b", 1, ptr("theirs"), nil), "", true},
		{"foreign sender is not our user", source.User("x"), single("x", "b", 1, ptr("theirs"), ptr(app)), "", false},
		{"our sender to a foreign target", source.User("x"), single("a", "x", 1, ptr(app), ptr("theirs")), "", false},
		{"broken target_id: by the stream it was fetched for", source.Group("7"), Fields{Unreadable: []string{"target_id"}}, "groups/7", true},
		{"broken target_id, fetched for another", source.Group("7"), Fields{Unreadable: []string{"target_id"}}, "users/a", false},
		{"broken create_time decides nothing", source.Group("7"), Fields{TargetType: "group", TargetID: "7", Unreadable: []string{"create_time"}}, "users/a", true},
	} {
		if got := Member(tc.s, tc.f, app, tc.header); got != tc.want {
			t.Errorf("%s: Member(%s) = %v, want %v", tc.name, tc.s, got, tc.want)
		}
	}
}

func TestStatQueries(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, loc) }
	now := at(2026, 12, 1, 15) // 15:00 in the API's zone
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"today's hours", at(2026, 12, 1, 9), now, []string{"HOUR 2026-12-01 09 x6"}},
		{"a part of today, ended hours only", at(2026, 12, 1, 9), now.Add(30 * time.Minute), []string{"HOUR 2026-12-01 09 x6"}},
		{"yesterday and today", at(2026, 11, 30, 0), now, []string{"DAY 2026-11-30 x1", "HOUR 2026-12-01 00 x15"}},
		{"no whole day", at(2026, 11, 30, 1), at(2026, 11, 30, 23), nil},
		{"months, days in chunks of 60", at(2026, 9, 1, 0), at(2026, 11, 30, 0), []string{"MONTH 2026-09 x2", "DAY 2026-09-01 x60", "DAY 2026-10-31 x30"}},
	} {
		var got []string
		for _, q := range StatQueries(tc.from, tc.to, now, loc) {
			layout, _, _ := source.StatLayout(q.Unit)
			got = append(got, fmt.Sprintf("%s %s x%d", q.Unit, q.Start.Format(layout), q.Duration))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fakeTopics serves records as ReadBack would.
type fakeTopics struct {
	recs []sink.Found
	err  error
}

func (f *fakeTopics) Marks(context.Context, time.Time) (map[string]map[int]int64, error) {
	return map[string]map[int]int64{"t": {0: 0}}, f.err
}

func (f *fakeTopics) ReadBack(_ context.Context, _ map[string]map[int]int64, fn func(sink.Found) error) (map[string]map[int]int64, error) {
	for _, r := range f.recs {
		if err := fn(r); err != nil {
			return nil, err
		}
	}
	return nil, f.err
}

// fakeAPI answers totals from a list of send seconds, reading the bounds
// as read.
type fakeAPI struct {
	secs     []int64
	read     source.Bounds
	requests int
}

func (f *fakeAPI) Count(_ context.Context, s source.Stream, w source.Window) (int, error) {
	f.requests++
	a, b := Coverage(w, time.UTC, s.Bounds(), f.read)
	n := 0
	for _, x := range f.secs {
		if x >= a.Unix() && x < b.Unix() {
			n++
		}
	}
	return n, nil
}

func (f *fakeAPI) ProbeBounds(context.Context, source.Stream, time.Time) (source.Bounds, error) {
	f.requests++
	return f.read, nil
}

// TestRunPlacesAndCounts: dead letters count in their bucket (a broken
// create_time placed by msg_ctime), a msgid in both topics is one message
// and a duplicate, an undecodable value is placed by its timestamp.
func TestRunPlacesAndCounts(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	h := int64(3600)
	base := t0.Unix()
	dead := func(id, ct, mct string) sink.Found {
		return sink.Found{MsgID: mustInt(id), DeadLetter: true, Stream: "messages",
			Value: []byte(`{"msgid":` + id + `,"msg_type":"text","target_type":"single","target_id":"b","from_id":"a","create_time":` + ct + `,"msg_ctime":` + mct + `}`)}
	}
	recs := []sink.Found{
		{MsgID: 1, Value: []byte("a")}, {MsgID: 2, Value: []byte("b")},
		dead("3", fmt.Sprint(base+h+5), fmt.Sprint((base+h+5)*1000)),
		dead("4", `"not a time"`, fmt.Sprint((base+h+9)*1000)),
		{MsgID: 2, DeadLetter: true, Value: []byte(`{"msgid":2}`)},           // also dead-lettered: a duplicate
		{MsgID: 5, Value: []byte("garbage"), Time: t0.Add(90 * time.Minute)}, // undecodable
	}
	decode := func(_ context.Context, v []byte) (Fields, error) {
		switch string(v) {
		case "a":
			return Fields{MsgID: 1, CreateTime: base + 10, TargetType: "single"}, nil
		case "b":
			return Fields{MsgID: 2, CreateTime: base + h + 1, TargetType: "group"}, nil
		}
		return Fields{}, errors.New("not Avro")
	}
	api := &fakeAPI{secs: []int64{base + 10, base + h + 1, base + h + 5, base + h + 9, base + h + 1800}, read: source.Inclusive}
	rep, err := Run(context.Background(), Config{Streams: []source.Stream{source.Messages}, AppKey: "k", From: t0, To: t0.Add(2 * time.Hour),
		Location: time.UTC, Decode: decode}, api, &fakeTopics{recs: recs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := rep.Streams[0].Buckets
	if len(b) != 2 || b[0].Status != StatusOK || b[0].API != 1 {
		t.Fatalf("first bucket: %+v", b)
	}
	if b[1].API != 4 || b[1].InTopic != 2 || b[1].DeadLettered != 2 || b[1].Duplicates != 1 || b[1].Status != StatusDuplicates {
		t.Errorf("second bucket: %+v, want 4 = 2 in the topic (one undecodable) + 2 dead letters, 1 duplicate", b[1])
	}
	sm := rep.Summary
	if sm.Clean || sm.Records != 6 || sm.Undecodable != 1 || sm.Placed[PlacedByMsgCtime] != 1 || sm.Placed[PlacedByTimestamp] != 1 || sm.Requests != 3 {
		t.Errorf("summary: %+v", sm)
	}

	// A Kafka failure is the audit's own error, not a finding.
	if _, err := Run(context.Background(), Config{Streams: []source.Stream{source.Messages}, AppKey: "k", From: t0, To: t0.Add(time.Hour)},
		api, &fakeTopics{err: errors.New("broker down")}, nil); err == nil {
		t.Error("Run with a failing Kafka returned no error")
	}
	// Bad configuration: every problem at once.
	_, err = Run(context.Background(), Config{From: t0, To: t0, Bucket: 1500 * time.Millisecond, Statistics: true}, api, &fakeTopics{}, nil)
	for _, want := range []string{"no streams", "app key", "bucket", "empty", "statistics"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad config: %v, want it to name %q", err, want)
		}
	}
}

func mustInt(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

// seqAPI answers the totals of seq in turn (the last one forever).
type seqAPI struct {
	seq []int
	n   int
}

func (f *seqAPI) Count(context.Context, source.Stream, source.Window) (int, error) {
	v := f.seq[min(f.n, len(f.seq)-1)]
	f.n++
	return v, nil
}

func (f *seqAPI) ProbeBounds(context.Context, source.Stream, time.Time) (source.Bounds, error) {
	return source.Inclusive, nil
}

// TestConfirm: a total that differs is asked again until a value comes
// back three times (seven answers at most, then the median).
func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		seq   []int
		want  int64
		asked int
	}{
		{[]int{12, 10, 10, 10}, 10, 4},        // drifted once: the topics' 10
		{[]int{11, 11, 11}, 11, 3},            // a real difference, confirmed
		{[]int{12, 9, 12, 10, 12}, 12, 5},     // 12 three times
		{[]int{1, 2, 3, 4, 5, 6, 7, 8}, 4, 7}, // never settles: the median of seven
		{[]int{13, 10, 13, 10, 10}, 10, 5},    // the first to reach three wins
	} {
		a := &auditor{cfg: Config{Logger: slog.New(slog.DiscardHandler)}, api: &seqAPI{seq: tc.seq[1:]}}
		got, asked, err := a.confirm(context.Background(), source.Messages, source.Window{}, int64(tc.seq[0]))
		if err != nil || got != tc.want || len(asked) != tc.asked {
			t.Errorf("answers %v: confirm = %d after %v (%v), want %d after %d answers", tc.seq, got, asked, err, tc.want, tc.asked)
		}
	}
}
