package pipeline

// seenSet holds the msgids already in Kafka, each with its horizon (the Unix
// second of the end of the window it was published under), indexed by
// horizon so pruning touches only what it removes.
type seenSet struct {
	ids       map[int64]int64
	byHorizon map[int64][]int64
}

func newSeenSet(from map[int64]int64) *seenSet {
	s := &seenSet{ids: make(map[int64]int64, len(from)), byHorizon: map[int64][]int64{}}
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
	if old, ok := s.ids[id]; ok && old >= horizon {
		return
	}
	s.ids[id] = horizon
	s.byHorizon[horizon] = append(s.byHorizon[horizon], id)
}

// prune drops ids whose horizon is below before.
func (s *seenSet) prune(before int64) {
	for h, ids := range s.byHorizon {
		if h >= before {
			continue
		}
		for _, id := range ids {
			if s.ids[id] == h {
				delete(s.ids, id)
			}
		}
		delete(s.byHorizon, h)
	}
}
