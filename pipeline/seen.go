package pipeline

// seenSet holds the msgids already in Kafka, each with its horizon (the Unix
// second of the end of the window it was published under), indexed by
// horizon in buckets of bucketSpan seconds so that pruning touches little
// more than what it removes.
//
// A bucket lists the msgids added with a horizon in it. An id whose horizon
// moved later is listed in its old bucket too until a prune passes that
// bucket; pruning checks each listed id's current horizon.
type seenSet struct {
	ids      map[int64]int64
	byBucket map[int64][]int64 // horizon >> bucketShift -> ids
}

// bucketShift makes a bucket 64 seconds: a second holds a few messages of
// a backfill at most, and one slice per second cost an allocation per
// message.
const bucketShift = 6

func newSeenSet(from map[int64]int64) *seenSet {
	s := &seenSet{ids: make(map[int64]int64, len(from)), byBucket: map[int64][]int64{}}
	for id, h := range from {
		s.add(id, h)
	}
	return s
}

func (s *seenSet) has(id int64) bool { _, ok := s.ids[id]; return ok }

// horizon returns the horizon of id, if the set holds it.
func (s *seenSet) horizon(id int64) (int64, bool) { h, ok := s.ids[id]; return h, ok }

func (s *seenSet) len() int { return len(s.ids) }

// add records id; a later horizon wins, as in the checkpoint.
func (s *seenSet) add(id, horizon int64) {
	old, ok := s.ids[id]
	if ok && old >= horizon {
		return
	}
	s.ids[id] = horizon
	if b := horizon >> bucketShift; !ok || old>>bucketShift != b {
		s.byBucket[b] = append(s.byBucket[b], id)
	}
}

// prune drops ids whose horizon is below before.
func (s *seenSet) prune(before int64) {
	for b, ids := range s.byBucket {
		if b<<bucketShift >= before {
			continue // every horizon in it is at or above before
		}
		kept := ids[:0]
		for _, id := range ids {
			h, ok := s.ids[id]
			switch {
			case !ok || h>>bucketShift != b:
				// Pruned already, or listed in a later bucket too.
			case h < before:
				delete(s.ids, id)
			default:
				kept = append(kept, id)
			}
		}
		if len(kept) == 0 {
			delete(s.byBucket, b)
		} else {
			clear(ids[len(kept):])
			s.byBucket[b] = kept
		}
	}
}
