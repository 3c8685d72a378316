package checkpoint

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkCommit measures one Commit of 1,000 new seen entries that also
// prunes the 1,000 entries of an older window, at a steady state of about
// 10,000 entries: the shape of a busy stream's per-window commit. Each
// Commit includes bbolt's fsync.
func BenchmarkCommit(b *testing.B) {
	s := openBound(b)
	const perWindow, keepWindows = 1000, 10
	window := int64(1_700_000_000)
	var next int64
	build := func(prune bool) Commit {
		c := Commit{
			Cursors: map[string]time.Time{"messages": ts(window)},
			Seen:    make(map[int64]int64, perWindow),
		}
		for range perWindow {
			next++
			c.Seen[next] = window
		}
		if prune {
			c.PruneBefore = window - (keepWindows-1)*60
		}
		window += 60
		return c
	}
	for range keepWindows {
		if err := s.Commit(build(false)); err != nil {
			b.Fatal(err)
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer() // building the caller's maps is not Commit's cost
		c := build(true)
		b.StartTimer()
		if err := s.Commit(c); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()

	st, err := s.Stats()
	if err != nil {
		b.Fatal(err)
	}
	if st.Seen != perWindow*keepWindows {
		b.Fatalf("steady state has %d seen entries, want %d", st.Seen, perWindow*keepWindows)
	}
}

// BenchmarkCommitWindow commits one window's worth of random msgids (as the
// pipeline does when windows hold 20,000 messages) while the previous
// window's are pruned.
func BenchmarkCommitWindow(b *testing.B) {
	for _, n := range []int{2000, 20000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := openBound(b)
			rng := rand.New(rand.NewPCG(1, 2))
			h := int64(1_700_000_000)
			b.ReportAllocs()
			for b.Loop() {
				seen := make(map[int64]int64, n)
				for range n {
					seen[rng.Int64N(1<<53)+1] = h
				}
				if err := s.Commit(Commit{Cursors: map[string]time.Time{"messages": time.Unix(h, 0)}, Seen: seen, PruneBefore: h - 1}); err != nil {
					b.Fatal(err)
				}
				h += 600
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msgid")
		})
	}
}
