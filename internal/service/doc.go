// Package service runs the pipeline the way `imreport run` does: as a
// service, with its observability and its shutdown.
//
// # Start-up
//
// Run serves /metrics, /healthz, /readyz and /status first (when an address
// is set), gets the value codec (registering the schema for the Confluent
// format), opens and binds the checkpoint, builds the Report API client and
// the Kafka writer, and waits for the topic (a few attempts: Kafka may come
// up after the pod). Then it starts the status board's Kafka probe, the
// progress reporter and, when configured, the callback receiver, and runs
// the pipeline until it is done, cancelled or failed.
//
// # Shutdown
//
// Cancelling Run's context first marks the service not ready, then drains:
// the pipeline runs on a context of its own that is cancelled next, so that
// the Kafka write in flight is finished and committed. A cancel during
// start-up returns nil.
//
// # Retries
//
// Report API requests retry with the source's policy (Config.Source.Retry),
// each retry counted and filed on the board; a Kafka outage pauses the
// pipeline without limit (bounded memory: the stages block) until the
// broker is back, while non-retryable errors stop it.
package service
