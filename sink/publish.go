package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/imreport/imreport/internal/retry"
	"github.com/segmentio/kafka-go"
)

// Publish writes recs and returns when all are acknowledged, or with a
// *WriteError naming the records that were not (indexes into recs). Records
// with DeadLetter set go to the dead-letter topic, the others to the main
// topic; the two groups are written concurrently. Every record Kafka
// acknowledged has its Topic, Partition and Offset set when Publish
// returns, whatever it returns.
//
// When Publish returns an error, no record of recs can land in Kafka any
// more: each one has landed already or never will (up to a broker that
// appends a request after its WriteTimeout expired; see the package
// documentation, "Fencing"). A read-back tells which landed.
func (w *Writer) Publish(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	var mainIdx, dlqIdx []int
	for i, r := range recs {
		if r.DeadLetter != nil {
			dlqIdx = append(dlqIdx, i)
		} else {
			mainIdx = append(mainIdx, i)
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return &WriteError{Failed: indexes(len(recs)), Errs: []error{ErrClosed}}
	}
	var mainErr, dlqErr *WriteError
	switch {
	case len(dlqIdx) == 0:
		mainErr = w.write(ctx, w.main, recs, mainIdx)
	case len(mainIdx) == 0:
		dlqErr = w.write(ctx, w.dlq, recs, dlqIdx)
	default:
		var wg sync.WaitGroup
		wg.Go(func() { dlqErr = w.write(ctx, w.dlq, recs, dlqIdx) })
		mainErr = w.write(ctx, w.main, recs, mainIdx)
		wg.Wait()
	}
	if mainErr == nil && dlqErr == nil {
		return nil
	}
	w.fence()
	switch {
	case dlqErr == nil:
		return mainErr
	case mainErr == nil:
		return dlqErr
	}
	return mergeErrors(mainErr, dlqErr)
}

// mergeErrors combines the errors of the two groups of one Publish: Failed
// ascending, and Errs aligned with it if both are record by record.
func mergeErrors(a, b *WriteError) *WriteError {
	type pair struct {
		i   int
		err error
	}
	if len(a.Errs) != len(a.Failed) || len(b.Errs) != len(b.Failed) {
		failed := slices.Concat(a.Failed, b.Failed)
		slices.Sort(failed)
		return &WriteError{Failed: failed, Errs: slices.Concat(a.Errs, b.Errs)}
	}
	pairs := make([]pair, 0, len(a.Failed)+len(b.Failed))
	for _, we := range []*WriteError{a, b} {
		for k, i := range we.Failed {
			pairs = append(pairs, pair{i, we.Errs[k]})
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int { return x.i - y.i })
	out := &WriteError{Failed: make([]int, len(pairs)), Errs: make([]error, len(pairs))}
	for k, p := range pairs {
		out.Failed[k], out.Errs[k] = p.i, p.err
	}
	return out
}

// write writes recs[i] for every i in idx with kw and returns nil or the
// failed ones, named by their index in recs.
func (w *Writer) write(ctx context.Context, kw *kafka.Writer, recs []Record, idx []int) *WriteError {
	msgs := make([]kafka.Message, len(idx))
	a := w.newArena(len(idx))
	for j, i := range idx {
		msgs[j] = w.messageIn(a, recs[i])
		msgs[j].WriterData = &recs[i] // landed fills in where it landed
	}
	// kafka-go reads BatchSize only in WriteMessages, in this goroutine
	// (under w.mu), and allocates every batch at that capacity.
	parts, _ := w.partitionsOf.Load(kw.Topic)
	n, _ := parts.(int)
	kw.BatchSize = batchSize(len(msgs), n)
	err := kw.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		we := &WriteError{Errs: make([]error, 0, werrs.Count())}
		for j, e := range werrs {
			if e != nil {
				we.Failed = append(we.Failed, idx[j])
				we.Errs = append(we.Errs, e)
			}
		}
		if len(we.Failed) == 0 {
			return nil
		}
		return we
	}
	return &WriteError{Failed: slices.Clone(idx), Errs: []error{err}}
}

// landed is the kafka-go writers' Completion: it sets Topic, Partition and
// Offset of every acknowledged record. kafka-go calls it before
// WriteMessages returns (and Close waits for it), from the goroutine of
// each partition's batch: each call writes records no other call does.
func landed(msgs []kafka.Message, err error) {
	if err != nil {
		return
	}
	for i := range msgs {
		if r, ok := msgs[i].WriterData.(*Record); ok {
			r.Topic, r.Partition, r.Offset = msgs[i].Topic, msgs[i].Partition, msgs[i].Offset
		}
	}
}

// batchSize is the kafka-go BatchSize for a write of n records to a topic of
// partitions partitions (0 = unknown): twice a partition's even share and
// 16 more, so that a page still goes out as one batch per partition unless
// its keys crowd one partition (then the rest follows in another batch at
// once, BatchTimeout being a microsecond), instead of n: kafka-go allocates
// every batch at full capacity, and n per partition was most of the
// process's allocations.
func batchSize(n, partitions int) int {
	if partitions <= 0 {
		return max(n, 1)
	}
	return max(min(n, 2*((n+partitions-1)/partitions)+16), 1)
}

// indexes returns 0, 1, ..., n-1.
func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// WriteError is returned by Publish when some or all records were not
// acknowledged. Failed holds their indexes in the slice passed to Publish,
// ascending. Errs holds the causes: one per failed record (in Failed's
// order) when kafka-go reported record by record, or one for each group
// (main, dead-letter) that failed as a whole; so len(Errs) may be less than
// len(Failed).
type WriteError struct {
	Failed []int
	Errs   []error
}

func (e *WriteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafka write: %d record(s) failed", len(e.Failed))
	seen := map[string]bool{}
	for _, err := range e.Errs {
		if s := err.Error(); !seen[s] && len(seen) < 3 {
			seen[s] = true
			b.WriteString(": " + s)
		}
	}
	return b.String()
}

// Unwrap returns the causes: one per failed record, or the one error of the
// whole call.
func (e *WriteError) Unwrap() []error { return e.Errs }

// Temporary reports whether every failure may succeed on retry.
func (e *WriteError) Temporary() bool {
	for _, err := range e.Errs {
		if !retry.Temporary(err) {
			return false
		}
	}
	return true
}
