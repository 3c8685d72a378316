// Package bench measures imreport end to end: the whole run path against the
// Report API simulator and an embedded Kafka broker, with a chosen latency,
// rate limit and history shape, next to a naive pipeline measured in the
// same run (this machine is shared and noisy: compare ratios, not absolute
// figures).
//
// # What is measured
//
// Run generates a history (Spec), serves it with the simulator (each answer
// delayed by Spec.Latency, requests over the rate limit answered 429), starts
// a one-broker kfake cluster and calls the caller's RunFunc, which runs
// "imreport run" as a bounded backfill over the history. It reports messages
// per second, API requests, messages per request, the fraction of the
// rate-limit bound (rate x page size messages per second) reached, the
// least number of requests the history needs (one per full page plus one
// per 7-day span) and how many 429s the simulator sent.
//
// # The naive pipeline
//
// Naive is the baseline the throughput figures are compared with: it pages
// one window over the whole history with v1 start/count, decodes each page
// into typed structs with encoding/json, encodes a smaller record with
// goavro, keeps msgids in memory only and writes each page synchronously
// with kafka-go (acks=all), with no checkpoint. It is benchmark code, not a
// product path.
package bench
