package simulator

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// PushSpec is the simulated vendor's message routing as imreport simulate
// and demo ask for it: the receiver and the fraction of callbacks each
// fault hits.
type PushSpec struct {
	URL                              string // the receiver; "" = no pushes
	Lost, Duplicate, Errors, Reorder float64
}

// Check returns an error when a fraction is outside 0..1 or URL is set but
// not an http(s) URL.
func (s PushSpec) Check() error {
	for _, v := range []float64{s.Lost, s.Duplicate, s.Errors, s.Reorder} {
		if v < 0 || v > 1 {
			return errors.New("--callback-* fractions must be within 0..1")
		}
	}
	if s.URL == "" {
		return nil
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--callback %q is not an http(s) URL", s.URL)
	}
	return nil
}

func (s PushSpec) String() string {
	return fmt.Sprintf("lost %.0f%%, duplicated %.0f%%, 503 then retried %.0f%%, reordered %.0f%%", 100*s.Lost, 100*s.Duplicate, 100*s.Errors, 100*s.Reorder)
}

// Pusher returns the simulated vendor for s: the Errors fraction is split
// between answers lost before and after the receiver saw the callback.
func (s PushSpec) Pusher(appKey, secret string, seed uint64) *Pusher {
	return NewPusher(PushConfig{URL: s.URL, AppKey: appKey, MasterSecret: secret, RetryMax: 500 * time.Millisecond,
		Faults: PushFaults{Seed: seed, Lost: s.Lost, Duplicate: s.Duplicate, Reject: s.Errors / 2, AckLost: s.Errors / 2,
			Reorder: s.Reorder, ReorderMax: 500 * time.Millisecond}})
}
