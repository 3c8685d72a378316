package pipeline

import (
	"testing"
	"time"

	"github.com/imreport/imreport/source"
)

// StreamProgress reports, per stream, where the run began, the committed
// cursor, what was published for it and how many API answers it took.
// Messages served by both streams count for the one that published them.
func TestStreamProgress(t *testing.T) {
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 5, start, end.Sub(start), 300, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 40}
	pub := newFakePublisher()
	cfg := boundedConfig(start, end, 20*time.Minute)
	cfg.Streams = []source.Stream{source.Messages, source.User("alice")}
	p := mustNew(t, cfg, f, pub, newFakeCheckpoint())
	if got := p.StreamProgress(); len(got) != 2 || !got[0].Cursor.IsZero() || got[0].Published != 0 {
		t.Fatalf("before Run: %+v", got)
	}
	if err := run(t, t.Context(), p); err != nil {
		t.Fatal(err)
	}
	got := p.StreamProgress()
	if len(got) != 2 || got[0].Stream != "messages" || got[1].Stream != "users/alice" {
		t.Fatalf("streams %+v", got)
	}
	var published, requests int64
	for _, s := range got {
		if !s.Began.Equal(start) || !s.Cursor.Equal(end) {
			t.Errorf("%s: began %v cursor %v, want %v and %v", s.Stream, s.Began, s.Cursor, start, end)
		}
		published += s.Published
		requests += s.Requests
	}
	if published != int64(len(msgs)) || published != p.Stats().Published {
		t.Errorf("published %d over the streams, want %d (stats %d)", published, len(msgs), p.Stats().Published)
	}
	if requests != p.Stats().Pages {
		t.Errorf("requests %d over the streams, want the %d pages fetched", requests, p.Stats().Pages)
	}
	if got[0].Requests == 0 || got[1].Requests == 0 {
		t.Errorf("a stream without requests: %+v", got)
	}
}
