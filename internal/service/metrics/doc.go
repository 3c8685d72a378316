// Package metrics holds imreport's Prometheus series and the HTTP endpoint
// serving them.
//
// # Series
//
// New registers the series of a run (every name imreport_*): Report API
// requests, latency, retries and restarts; callback requests by outcome;
// freshness by path; cursors, remaining range and ETA per stream; readiness;
// and, once Watch is given the pipeline, its own counters (pages, messages,
// duplicates, windows, commits, read-backs, dead letters). The Observe
// methods are the hooks the wiring hands to the source, the receiver, the
// pipeline and the progress reporter.
//
// The series of imreport audit --http are the audit package's own
// (audit.Collectors).
//
// # Serving
//
// Serve serves /metrics, /healthz, and a status board's /readyz and
// /status on one listener.
package metrics
