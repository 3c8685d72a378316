package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/source"
)

// Store is the checkpoint as the repair uses it (*checkpoint.Store, opened
// writable: the caller holds its lock, so the pipeline is not running).
type Store interface {
	Load() (checkpoint.State, error)
	Commit(checkpoint.Commit) error
}

// RepairConfig is what a repair needs: the pipeline's parts and a template
// of its configuration.
type RepairConfig struct {
	// Pipeline is the template: AppKey, APIVersion, Window, Settle,
	// PublishRetry, Logger, Now are used; Streams, Start, End and Lookback
	// are set per range.
	Pipeline  pipeline.Config
	Fetcher   pipeline.Fetcher
	Publisher pipeline.Publisher
	Store     Store
}

// RepairReport says what a repair did.
type RepairReport struct {
	Ranges       []RepairRange `json:"ranges"`
	Published    int64         `json:"published"`
	DeadLettered int64         `json:"dead_lettered"`
	// Notes name the buckets a repair cannot mend: the topics hold more
	// than the API serves, duplicates (records cannot be taken back out of
	// Kafka), buckets the pipeline has not reached yet.
	Notes []string `json:"notes,omitempty"`
}

// RepairRange is one range published again.
type RepairRange struct {
	Stream       string    `json:"stream"`
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	Published    int64     `json:"published"`
	DeadLettered int64     `json:"dead_lettered"`
	Duplicates   int64     `json:"already_in_kafka"`
}

// Repair publishes what the topics lack for the buckets of rep whose API
// total exceeds what the topics hold, exactly once, the way `checkpoint
// rewind` does: for each run of such buckets of a stream it moves the
// stream's cursor back to the run's start, runs the pipeline bounded to its
// end (the pipeline first reads back from Kafka everything published since
// an hour before the range, by record timestamp, and publishes only msgids
// Kafka does not hold), and finally moves the cursor forward to where it
// was. The dedupe set of the checkpoint is not trusted for these ranges
// (its msgids may be exactly those the topic lost): Kafka is.
//
// Buckets beyond a stream's cursor are left to the pipeline; buckets with
// more in the topics than the API serves, or with duplicates, cannot be
// mended by publishing and are named in the notes.
func Repair(ctx context.Context, rep *Report, rc RepairConfig) (*RepairReport, error) {
	out := &RepairReport{}
	state, err := rc.Store.Load()
	if err != nil {
		return out, fmt.Errorf("repair: %w", err)
	}
	for _, sr := range rep.Streams {
		cursor, ok := state.Cursors[sr.Stream]
		ranges := repairRanges(sr, cursor, ok, out)
		if len(ranges) == 0 {
			continue
		}
		s, err := streamOf(sr.Stream)
		if err != nil {
			return out, err
		}
		for _, r := range ranges {
			rr, err := repairRange(ctx, rc, s, r, cursor, state.PrunedBefore)
			out.Ranges = append(out.Ranges, rr)
			out.Published += rr.Published
			out.DeadLettered += rr.DeadLettered
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// OpenCheckpoint opens the pipeline's checkpoint for a repair: it must
// exist, its lock must be free (ErrLocked while the pipeline runs: the error
// says to stop it) and it must be bound to id.
func OpenCheckpoint(path string, lockTimeout time.Duration, id checkpoint.Identity) (*checkpoint.Store, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("repair: no checkpoint at %s (IMREPORT_CHECKPOINT_PATH): repair runs on the pipeline's checkpoint", path)
	}
	store, err := checkpoint.Open(checkpoint.Options{Path: path, LockTimeout: lockTimeout})
	if errors.Is(err, checkpoint.ErrLocked) {
		return nil, fmt.Errorf("repair: %w: the pipeline is running; stop it (kubectl scale --replicas=0), run audit --repair, start it again", err)
	}
	if err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	if err := store.Bind(id); err != nil {
		store.Close()
		return nil, fmt.Errorf("repair: %w", err)
	}
	return store, nil
}

// repairRanges merges the stream's missing buckets into ranges, clipped to
// the cursor, and notes what cannot be repaired.
func repairRanges(sr StreamReport, cursor time.Time, hasCursor bool, out *RepairReport) []RepairRange {
	var ranges []RepairRange
	for _, b := range sr.Buckets {
		switch b.Status {
		case StatusOK:
			continue
		case StatusExtra:
			out.Notes = append(out.Notes, fmt.Sprintf("%s %s: the topics hold %d more than the API serves now; publishing cannot mend that", sr.Stream, b.From.UTC().Format(time.RFC3339), -b.Difference))
			continue
		case StatusDuplicates:
			out.Notes = append(out.Notes, fmt.Sprintf("%s %s: %d duplicate records; Kafka records cannot be taken back (consumers dedupe by the msgid header)", sr.Stream, b.From.UTC().Format(time.RFC3339), b.Duplicates))
			continue
		}
		switch {
		case !hasCursor:
			out.Notes = append(out.Notes, fmt.Sprintf("%s: not in the checkpoint (never run): the pipeline publishes it when it runs", sr.Stream))
			return nil
		case !b.From.Before(cursor):
			out.Notes = append(out.Notes, fmt.Sprintf("%s %s: beyond the stream's cursor %s: the pipeline has not got there yet", sr.Stream, b.From.UTC().Format(time.RFC3339), cursor.UTC().Format(time.RFC3339)))
			continue
		}
		to := b.To
		if to.After(cursor) {
			to = cursor
		}
		if n := len(ranges); n > 0 && ranges[n-1].To.Equal(b.From) {
			ranges[n-1].To = to
			continue
		}
		ranges = append(ranges, RepairRange{Stream: sr.Stream, From: b.From, To: to})
	}
	return ranges
}

// repairRange rewinds the stream to r.From, runs the pipeline to r.To and
// moves the cursor forward to cursor again (also when the run failed: the
// range is then no worse off than before, and a new audit --repair goes on).
func repairRange(ctx context.Context, rc RepairConfig, s source.Stream, r RepairRange, cursor time.Time, prunedBefore int64) (rr RepairRange, err error) {
	rr = r
	log := rc.Pipeline.Logger
	if err := rc.Store.Commit(checkpoint.Commit{Cursors: map[string]time.Time{r.Stream: r.From}, Force: true}); err != nil {
		return rr, fmt.Errorf("repair %s: rewind to %s: %w", r.Stream, r.From.UTC().Format(time.RFC3339), err)
	}
	defer func() {
		if cerr := rc.Store.Commit(checkpoint.Commit{Cursors: map[string]time.Time{r.Stream: cursor}}); cerr != nil {
			err = errors.Join(err, fmt.Errorf("repair %s: move the cursor back to %s: %w", r.Stream, cursor.UTC().Format(time.RFC3339), cerr))
		}
	}()
	cfg := rc.Pipeline
	cfg.Streams = []source.Stream{s}
	cfg.Start, cfg.End, cfg.Lookback = r.From, r.To, 0
	cfg.OnCommit = nil
	p, err := pipeline.New(cfg, rc.Fetcher, rc.Publisher, repairStore{rc.Store, prunedBefore})
	if err != nil {
		return rr, fmt.Errorf("repair %s: %w", r.Stream, err)
	}
	if log != nil {
		log.Info("repair: publishing what the topics lack", "stream", r.Stream, "from", r.From, "to", r.To)
	}
	err = p.Run(ctx)
	st := p.Stats()
	rr.Published, rr.DeadLettered, rr.Duplicates = st.Published, st.DeadLettered, st.Duplicates
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // Run returns nil when cancelled
	}
	if err != nil {
		return rr, fmt.Errorf("repair %s [%s, %s): %w", r.Stream, r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), err)
	}
	return rr, nil
}

// repairStore is the checkpoint as a repair's pipeline sees it. Load
// presents an empty dedupe set pruned everywhere, so that the pipeline
// dedupes against Kafka alone (it reads back what was published since an
// hour before the range); Commit never prunes, and leaves out msgids whose
// horizon the real checkpoint has already pruned past (the pipeline would
// drop them at its next commit; a query reaching there reads Kafka back).
type repairStore struct {
	s            Store
	prunedBefore int64
}

func (r repairStore) Load() (checkpoint.State, error) {
	st, err := r.s.Load()
	if err != nil {
		return st, err
	}
	st.Seen = map[int64]int64{}
	st.PrunedBefore = math.MaxInt64
	return st, nil
}

func (r repairStore) Commit(c checkpoint.Commit) error {
	c.PruneBefore = 0
	if r.prunedBefore > 0 && len(c.Seen) > 0 {
		kept := make(map[int64]int64, len(c.Seen))
		for id, h := range c.Seen {
			if h >= r.prunedBefore {
				kept[id] = h
			}
		}
		c.Seen = kept
	}
	return r.s.Commit(c)
}

func streamOf(key string) (source.Stream, error) {
	s, err := source.ParseStream(key)
	if err != nil {
		return s, fmt.Errorf("repair: %w", err)
	}
	return s, nil
}
