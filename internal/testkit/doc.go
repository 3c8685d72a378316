// Package testkit holds what tests of several packages share: a buffer safe
// for concurrent writes (what a logger or a progress bar writes to), a clock
// tests move by hand, an in-process Kafka-protocol broker (kfake) and the
// Report API simulator served over HTTP on loopback.
//
// Only tests import it.
package testkit
