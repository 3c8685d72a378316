// Package sink publishes encoded messages to a Kafka topic with kafka-go.
//
// # Delivery
//
// Writer.Publish is synchronous: it returns once every record is acknowledged
// by all in-sync replicas (RequiredAcks: RequireAll), or with an error saying
// which records failed. kafka-go has no idempotent producer, so a retried
// record may be written twice; the pipeline's checkpoint decides what is
// retried, never this package.
//
// # Keys and partitions
//
// Records are keyed by conversation and partitioned with kafka-go's
// Murmur2Balancer, which matches the Java client's default partitioner, so a
// conversation stays on one partition and in order for any consumer.
//
// # Errors
//
// A failed Publish returns a *WriteError listing the failed records; it is
// Temporary when every failure is (a leader change, a broker restart, a
// timeout) and not when any is fatal (authorization, a record too large).
// retry.Temporary reads that.
package sink
