// Package progress tells an operator how a run is going: per stream, where
// its cursor is, what share of its range is done, how fast messages and API
// requests go, and when it should be done.
//
// # Samples and the meter
//
// A Sample is every stream's state at one moment (the committed cursor,
// where the run began, the target it heads for, counters). A Meter turns
// successive samples into a Status per stream: the share done, the range
// remaining, rates over the last Span (a minute by default) and an ETA from
// the pace at which the remaining range shrank over that span, which also
// holds when the target moves (a tailing run heads for now minus the
// settle time). The meter is pure: time comes only from the samples.
//
// # Outputs
//
// Log writes one "progress" line per stream still behind its target (a
// stream within Reporter's Quiet of its target is caught up and logs
// nothing). Bars draws one live bar per stream on a terminal (more than
// MaxBars streams share one), with
// github.com/vbauerster/mpb, and prints log lines above them. A Reporter
// samples at an interval and feeds either, and any further observer (the
// Prometheus gauges).
//
// # A pipeline run
//
// ForPipeline builds the Reporter of a pipeline run from its Plan (interval,
// settle time, end, lookback, window): each stream heads for the end of a
// bounded run or now minus the settle time, and Plan.AnnounceWait says once
// when a bounded run waits for END + LOOKBACK. Reporter.Start runs it until
// stopped.
package progress
