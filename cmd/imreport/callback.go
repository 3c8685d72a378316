package main

import (
	"flag"
	"time"

	"github.com/imreport/imreport/internal/demo"
	"github.com/imreport/imreport/internal/fake/simulator"
)

// callbackFlags are the simulated vendor's message routing switches of
// simulate.
func callbackFlags(fs *flag.FlagSet) *simulator.PushSpec {
	s := &simulator.PushSpec{}
	fs.StringVar(&s.URL, "callback", "", "push live messages to this receiver URL as the vendor's message routing would")
	pushFaultFlags(fs, s, 0, 0, 0, 0)
	return s
}

func pushFaultFlags(fs *flag.FlagSet, s *simulator.PushSpec, lost, dup, errs, reorder float64) {
	fs.Float64Var(&s.Lost, "callback-lost", lost, "fraction of callbacks never sent (0..1)")
	fs.Float64Var(&s.Duplicate, "callback-duplicate", dup, "fraction of callbacks sent twice (0..1)")
	fs.Float64Var(&s.Errors, "callback-5xx", errs, "fraction of callbacks answered 503 once, then retried (0..1)")
	fs.Float64Var(&s.Reorder, "callback-reorder", reorder, "fraction of callbacks sent up to 2s late (0..1)")
}

// demoLiveFlags are demo --callback and its live traffic's switches.
func demoLiveFlags(fs *flag.FlagSet) *demo.Live {
	d := &demo.Live{}
	fs.BoolVar(&d.On, "callback", false, "also receive message routing callbacks: the simulated vendor pushes live traffic while the run polls")
	fs.DurationVar(&d.Duration, "callback-live", 10*time.Second, "with --callback: seconds of live traffic (100 messages a second)")
	pushFaultFlags(fs, &d.Push, 0.10, 0.10, 0.05, 0.10)
	return d
}
