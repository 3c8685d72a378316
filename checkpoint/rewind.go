package checkpoint

import (
	"fmt"
	"sort"
	"time"
)

// Rewind moves one stream's cursor in the checkpoint at path back to to
// (a Commit with Force) and returns the cursor it had. Everything else
// stays: the next run deduplicates against the checkpoint and, below its
// horizon, against Kafka. It returns Open's and Commit's errors (ErrLocked
// while a pipeline holds the file), and an error when the checkpoint has no
// such stream or to is not before its cursor.
func Rewind(path, stream string, to time.Time) (from time.Time, err error) {
	s, err := Open(Options{Path: path})
	if err != nil {
		return time.Time{}, err
	}
	defer s.Close()
	st, err := s.Load()
	if err != nil {
		return time.Time{}, err
	}
	cur, ok := st.Cursors[stream]
	switch {
	case !ok:
		return time.Time{}, fmt.Errorf("the checkpoint has no stream %q (it has %v)", stream, streamNames(st.Cursors))
	case !to.Before(cur):
		return time.Time{}, fmt.Errorf("%s is not before the cursor of %s (%s)", to.UTC().Format(time.RFC3339), stream, cur.UTC().Format(time.RFC3339))
	}
	if err := s.Commit(Commit{Cursors: map[string]time.Time{stream: to}, Force: true}); err != nil {
		return time.Time{}, err
	}
	return cur, nil
}

func streamNames(cursors map[string]time.Time) []string {
	names := make([]string, 0, len(cursors))
	for k := range cursors {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
