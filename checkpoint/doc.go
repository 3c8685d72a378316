/*
Package checkpoint stores imreport's progress durably in a single bbolt file,
so that messages copied from the vendor REST API reach Kafka exactly once
across restarts.

# Overview

The pipeline polls per-stream time windows (a stream is e.g. "messages" or
"users/alice"). Once every message of a window has been acknowledged by Kafka
it calls [Store.Commit] with

  - the stream's new cursor: the end of the last fully published window, and
  - the msgids published under that window, each with its horizon value (the
    Unix seconds of the end of the window it was published under), so that
    overlapping re-fetches can be deduplicated after a restart, and
  - optionally the Kafka marks ([Commit.Marks]): per topic and partition, an
    offset below which every record the pipeline wrote is recorded in the
    checkpoint. After a crash between Kafka's acknowledgement and the
    Commit, the pipeline reads back only what lies at or above the marks
    (see [State.Marks]).

Dedupe entries are pruned once they fall behind a horizon
([Commit.PruneBefore]). A Commit is exactly one bbolt read-write transaction
(fsynced before Commit returns): it applies all of its parts or none of them.

A typical writer does:

	s, err := checkpoint.Open(checkpoint.Options{Path: path})
	// ...
	defer s.Close()
	if err := s.Bind(checkpoint.Identity{AppKey: appKey, Topic: topic}); err != nil { ... }
	st, err := s.Load() // cursors and dedupe set to resume from
	// ... publish a window, wait for Kafka's acks ...
	err = s.Commit(checkpoint.Commit{Cursors: ..., Seen: ..., PruneBefore: ..., Marks: ...})

A file is bound to one [Identity] (vendor app key and Kafka topic) by its first
[Store.Bind]; a later Bind with another identity fails with
[ErrIdentityMismatch], so that a checkpoint is never reused for a different
app or topic. [Store.Commit] refuses to write to a file that has no identity
yet ([ErrUnbound]): call Bind first.

Cursors are stored as whole Unix seconds: a cursor with a fractional second is
truncated down to the second before it is stored (and compared), which can
only cause a re-fetch of an overlap that the dedupe set absorbs. Cursors are
returned in UTC.

Operator tools (imreport checkpoint ...) open the file with
[Options.ReadOnly] to inspect it with [Store.Load] and [Store.Stats].

# Layout on disk

The file is a bbolt database (mode 0600 when created) with five top-level
buckets. All integers are 8-byte big-endian unless noted; signed values are
stored as their two's-complement uint64.

	meta
	    "version"     layout version, uint64; this build reads and writes 1 only
	    "app_key"     Identity.AppKey (absent until the first Bind)
	    "topic"       Identity.Topic  (absent until the first Bind)
	    "commits"     number of Commits so far, uint64
	    "seen_count"  number of entries in seen, uint64 (kept by Commit, read by Stats)
	    "updated"     time of the last Commit, Unix nanoseconds int64 (absent until the first Commit)
	    "pruned_before" highest Commit.PruneBefore applied, Unix seconds int64 (absent until the
	                  first pruning): seen entries below it may be gone (State.PrunedBefore)
	    "floor"       Commit.Floor (absent until stored): per entry the topic's length (2 bytes), the
	                  topic, the partition (4 bytes), the offset (8 bytes); every record whose msgid
	                  is in seen is at or above it (a restore from Kafka reads back from there)
	    "sequence"    Commit.Sequence, uint64 (absent until stored): the commit sequence, which
	                  the snapshot in Kafka's state topic carries too
	    "lineage"     Commit.Lineage (absent until stored): the history the file continues
	cursors
	    stream name -> cursor, Unix seconds int64
	seen
	    msgid int64 -> horizon, Unix seconds int64
	seen_by_horizon
	    horizon int64 || msgid int64 (16 bytes) -> empty value
	marks
	    topic || 0x00 || partition (4 bytes, big-endian) -> Kafka offset int64 (not negative)

seen_by_horizon is an index of seen ordered by horizon: pruning walks it from
its first key and stops at the first entry at or above the prune horizon, so
it visits only the entries it deletes and never scans the whole set. The two
buckets always hold the same set of (msgid, horizon) pairs; horizons are never
negative (Commit rejects them) so that big-endian order is numeric order. If
a msgid is committed again with a different horizon the larger one is kept,
in both buckets.

The marks bucket was added to layout 1 after its first release, without a
version change (an older build ignores the bucket, and the marks it leaves
behind when it commits are only too low, which is safe). A file written
before it has the other four buckets only: a writable Open adds an empty
marks bucket in one transaction (a migration), a read-only Open leaves the
file alone and presents no marks (State.Marks empty, Stats.Marks 0). A
missing marks bucket is therefore never ErrCorrupt.

A writable Open of a new file, or of a valid bbolt file with no buckets at
all, creates the five buckets and writes version 1 in one transaction. A
read-only Open of such a bucket-less file does not fail: it presents an empty,
unbound checkpoint (Load returns empty maps, Stats returns zeros, Bind returns
[ErrReadOnly]). Anything else that does not match the layout above is
[ErrCorrupt]: a file that is not a bbolt database, an existing file of zero
bytes (which bbolt itself would silently initialise; one is left behind if
the process dies during the very first Open), a bbolt file holding other buckets but no meta bucket, a missing
bucket other than marks, an unknown layout version, a value of the wrong size
(or a negative mark), a malformed marks key, or the two seen buckets
disagreeing. A checkpoint is never silently started over: to start
over an operator removes the file.

# Kafka marks

[Commit.Marks] maps topic -> partition -> offset. A mark says: every record
the pipeline wrote to that partition at or above this offset may be unknown
to the checkpoint; everything below it is recorded. A Commit with nil or
empty Marks keeps the stored marks; otherwise each listed (topic, partition)
is set, and partitions and topics it does not list keep theirs. Marks are
written in the same transaction as the rest of the Commit. A mark may move
backwards without error (a lower mark only makes a read-back read more); an
offset must not be negative. [Store.Load] returns them in [State.Marks],
[Store.Stats] counts them in [Stats.Marks].

# Concurrency

A [Store] is safe for concurrent use by multiple goroutines. Reads (Load,
Stats) run in bbolt read transactions and may run concurrently with each
other and with one Commit; Commits and Binds are serialised by bbolt.
Close waits for transactions in flight; methods called after Close return
[ErrClosed].

Across processes (and across Stores in one process: bbolt takes flock(2) on
its own file descriptor, and on Linux two descriptors of one process conflict
like two processes do) the file is protected by an advisory lock:

  - a writable Store holds an exclusive lock for as long as it is open;
  - a read-only Store holds a shared lock for as long as it is open.

So at most one writer, or any number of readers, but never both. Open waits
up to [Options.LockTimeout] (default 1s) for the lock and then fails with
[ErrLocked]. In particular an operator's read-only inspection fails while the
pipeline is running, and the pipeline cannot start while an inspection holds
the file open: inspection tools should Open, read and Close promptly.

# Errors

Every error returned by this package starts with the operation and the
file, as in

	checkpoint commit: /var/lib/imreport/checkpoint.db: cursor moved backwards: ...

(the operation is open, bind, load, commit, stats or close; only Open with an
empty path names no file), and wraps its cause with %w, so the sentinel errors
below work with [errors.Is]:

  - [ErrLocked]: the lock was not obtained within LockTimeout.
  - [ErrCorrupt]: the file is not a checkpoint of this layout, or bbolt
    panicked (or faulted on its memory map) while reading it. The panic is
    recovered, on a best-effort basis: garbage behind valid bbolt meta pages
    is not guaranteed to be detected. After a panic in a transaction the
    Store is poisoned and every later call except Close returns ErrCorrupt
    too; after a panic inside Open the file's lock is released but bbolt's
    memory mapping of it stays until the process exits.
  - [ErrIdentityMismatch]: Bind with an identity other than the stored one.
  - [ErrUnbound]: Commit before any Bind stored an identity.
  - [ErrCursorBackwards]: Commit would move a cursor backwards without Force.
  - [ErrReadOnly]: a write on a read-only Store.
  - [ErrClosed]: a call after Close.

Open of a file that does not exist with ReadOnly set returns an error wrapping
[io/fs.ErrNotExist]; other operating-system errors are wrapped likewise.
Invalid arguments (an empty path, an empty stream name, a zero cursor, a
negative horizon, a mark with a negative offset, a partition outside 0 to
2^31-1 or an empty topic name, an Identity with an empty field) are reported
with plain errors that wrap no sentinel; nothing of such a Commit is
applied. Error messages name identities, stream names and topics but never
contain message bodies or credentials.
*/
package checkpoint
