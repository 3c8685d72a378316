// Package sink publishes encoded messages to Kafka with kafka-go, and reads
// back what it published.
//
// # Topics
//
// A Writer writes to two topics: the main topic (Config.Topic), which holds
// one Avro record per message, and the dead-letter topic (Config.DLQTopic,
// default Topic + ".dlq"), which holds the messages that could not be
// decoded, transformed or encoded, as the vendor's raw JSON. EnsureTopic
// checks both and creates a missing one when Config.CreateTopic is set, with
// Config.Partitions and Config.ReplicationFactor; an existing topic is left
// as it is. A zero ReplicationFactor means the cluster's own
// default.replication.factor where the broker takes -1 for it (CreateTopics
// v4, Kafka 2.4 and later), else min(3, brokers); the log line of a created
// topic says which, and the replication it got. With CreateTopic off, a missing dead-letter topic fails
// EnsureTopic like a missing main topic.
//
// # Records and headers
//
// A main-topic record is keyed by conversation and carries the headers
// msgid, app_key, msg_type and content-type (Record.ContentType, default
// ContentType). Every record's timestamp is Record.Time, the message's event
// time (msg_ctime), or the time of publishing when that is zero; so
// timestamps within a partition are not monotonic. A dead letter
// (Record.DeadLetter set) has the raw JSON as its value, the Record's Key
// or, if that is empty, the decimal msgid as its key, and the headers msgid,
// app_key, msg_type (possibly empty), content-type (DeadLetterContentType),
// imreport-stage, imreport-error, imreport-stream and imreport-endpoint
// (HeaderStage, HeaderError, HeaderStream, HeaderEndpoint).
//
// # Delivery
//
// Writer.Publish is synchronous: it returns once every record is acknowledged
// by all in-sync replicas (RequiredAcks: RequireAll), or with a *WriteError
// saying which records failed, by their index in the slice given. Every
// acknowledged record has its Topic, Partition and Offset set then (from
// kafka-go's Completion), so a caller knows where each landed without
// asking Kafka. Main and
// dead-letter records of one call are written concurrently by two kafka-go
// writers sharing one transport. kafka-go has no idempotent producer, so a
// retried record may be written twice: the writers make one attempt per
// write (writeAttempts) and leave retrying to the pipeline, which reads back
// what landed before it writes again.
//
// # Fencing
//
// kafka-go's WriteMessages returns as soon as its context ends, while the
// produce requests of its batches keep going in the background and may land
// later. Publish does not let that happen: whenever it returns an error, it
// first closes the kafka-go writers, which waits until every batch is
// acknowledged or has failed its last attempt, and replaces them with fresh
// ones (see Writer.fence for the kafka-go source this relies on). So after a
// failed Publish no record of it can land any more: each has landed or
// never will, and a read-back from marks taken before it tells which. This
// also means a cancelled Publish returns only once its requests in flight
// are finished: at most writeAttempts (1) x Config.WriteTimeout (default
// 10s) for each batch queued on a partition, in the worst case (a broker that
// accepts requests and never answers); usually at once.
//
// One gap remains, and no client without Kafka's idempotent or
// transactional producer can close it: a produce request whose WriteTimeout
// expires while the broker still holds it (an overloaded broker) may be
// appended by the broker afterwards, even though kafka-go has given up on it;
// if the pipeline's read-back runs before that and writes the record again,
// it is a duplicate. Keep WriteTimeout well above the brokers' worst produce
// latency.
//
// # Marks and read-back
//
// Marks returns the end offset (high watermark) of every partition of both
// topics, or, given a time, the first offset whose record timestamp is at or
// after it (what a broker answers to ListOffsets by timestamp: correct with
// non-monotonic timestamps, since every record before it is older). ReadBack reads both topics from given offsets (marks) up to their
// end offsets at the time of the call and reports every record of this app
// (app_key header equal to Config.AppKey) with its msgid; it returns the end
// offsets it read up to. A pipeline stores marks with its checkpoint: a
// record at or above a stored mark may be unknown to the checkpoint, and
// after a crash or a failed Publish a read-back from the marks finds it.
// Partitions unknown to the marks are read from their first offset;
// partitions already read to the end are not read at all. ReadBack reads up
// to 4 partitions at once, each with its own connection.
//
// # Reading
//
// Every read of a partition (ReadBack, Scan, Consume) is a loop of kafka-go
// Client.Fetch requests over a transport of the read's own (fresh metadata,
// never behind the writers' produce requests). Each request may take
// Config.ReadTimeout (30s) to be answered, and a bounded read fails with a
// temporary error only after it made no progress for that long; temporary
// fetch errors meanwhile are retried with a short backoff. The broker's
// fetch wait (500ms) is only what a request asks the broker to hold it while
// it has no data, never a deadline of the client's: a broker far away, or
// one slow to answer a 16 MiB fetch, makes reads slower, not stuck. (kafka-go's
// Reader is not used: it sets the connection's read deadline to its MaxWait
// before each fetch, so any answer slower than that was an i/o timeout,
// retried forever.) Metadata and ListOffsets requests have the same budget.
//
// # Consuming
//
// Consume reads the main topic (or another, ConsumeOptions.Topic) for
// readers such as `imreport read`: every partition or one, from the first
// offset, the end or a given offset, up to the end offsets listed at the
// start or, following, until cancelled, with an optional record count.
// TimeConfig reads the topic's retention.ms and message.timestamp.type, and
// WarnTimeConfig logs when they work against event-time timestamps.
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
// Temporary when every failure is and not when any is fatal, and
// retry.Temporary reads that through any %w wrapping. Temporary: a broker
// that is down or restarting (connection refused or reset, EOF, i/o or dial
// timeout, leader not available, not leader, unknown topic or partition,
// request timed out, not enough replicas). Fatal: SASL authentication
// failed, topic or cluster authorization failed, a record too large
// (MessageSizeTooLarge, or bigger than a batch's 900 KiB), a cancelled
// context, and Publish after Close (ErrClosed). Marks and ReadBack errors
// follow the same rules (a partition that kafka-go could not ask because
// its broker was unreachable is temporary; a read that made no progress for
// Config.ReadTimeout is a temporary timeout).
//
// # Concurrency
//
// Concurrent Publish calls are serialised (one at a time). Marks, ReadBack,
// Scan and EnsureTopic do not use the kafka-go writers and may be called
// from any goroutine, also while Publish runs. Close waits for a Publish in
// progress.
package sink
