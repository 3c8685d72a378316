// Package pipeline moves messages from the Report API to Kafka exactly once.
//
// # Stages
//
// A planner cuts each stream into windows (NextWindow; with
// Config.WindowMessages sized by the API's totals, see Sizer), fetchers page
// through them (a Fetcher) and decode and encode each page across the cores,
// and one publisher deduplicates each page in order and queues its records
// for the next Kafka write (a Publisher; see "Writes in flight"), then
// records progress in the checkpoint (a Checkpointer), whose transactions
// run in the background, in order. Stages run in one errgroup and talk over
// bounded channels, so a slow Kafka slows the fetchers instead of filling
// memory; every send also watches the context.
//
// # Ordering and checkpoints
//
// Windows tile each stream's time line. Several may be fetched at once
// (Config.FetchConcurrency, or automatically: Config.AutoConcurrency), but a
// stream's cursor moves to the end of a window only when that window and
// every window before it were fully acknowledged by Kafka (an ordered tracker,
// keyed by each window's start: a window cut smaller after its first page is
// replaced by windows over the same range). Releases are committed one
// transaction at a time: what comes due while one runs goes into the next
// (group commit). A release's commit writes no msgid (a light commit): the
// msgids its cursors pass are never written (no query returns them again),
// the others are held in memory and the commit's marks stay below their
// records, so a crash reads them back from Kafka. Held msgids are written
// (a full commit) once 200,000 wait, after a read-back, and by the
// publisher's last commit.
//
// # Writes in flight
//
// The publisher never waits for Kafka. A write (one Publish) runs in the
// background while the publisher takes the next pages, deduplicates them
// against the seen set and the records queued or in flight, and gathers
// their records for the next write (at most 20,000 records or 8 MiB; then
// it takes no more pages until the write lands). A write starts as soon as
// the one before it is acknowledged and carries whatever gathered, so a
// Kafka cluster far away sets how many pages one write carries, not how
// many pages a second move. A batch carries its ack: a window's end is
// released, and its cursor may move, only once every record of its pages
// is acknowledged, in order. One write is in flight at a time: kafka-go
// sends one produce request per partition at a time anyway, and a second
// writer would let a conversation's later page land before its earlier
// one. A failed write is handled in the publisher as before (fence, read
// back, write only what did not land), with nothing else in flight.
//
// # Windows of a bounded run
//
// Once the first total of a stream is known, a bounded run plans the rest
// as windows of equal count (WindowCount): few enough to waste few part
// pages, rounds of them fetched side by side so that none walks alone at
// the end (WalksNeeded), and of those counts the one whose windows take the
// fewest pages.
//
// # Deduplication
//
// Queries overlap by up to a second (inclusive and strict bounds are both
// covered) and late arrivals are looked for again behind the cursor
// (Config.Lookback), so the same message can be served twice. The publisher
// skips any msgid in the seen set, which the checkpoint persists until the
// cursor is far enough ahead that no query can return it again
// (PruneBefore).
//
// # Late arrivals and rescans
//
// Once every stream is caught up, each poll re-checks [cursor-Lookback,
// cursor) window by window. A rescan first asks the API for the window's
// total (Fetcher.Count, one small request) and fetches the window only when
// the total differs from the number of distinct msgids the stream already
// served with a create_time in it (an index kept by the publisher). Any doubt
// means fetch. A bounded run (Config.End) with a lookback ends only after
// End+Lookback, with one full fetch of the lookback before End.
//
// # Reconciliation with Kafka
//
// Every commit stores, with the cursors and msgids, Kafka offsets ("marks"):
// every record of this app below them is recorded (a light commit's are the
// marks from before the oldest msgid it holds back). The marks are raised
// past every acknowledged record (Publish says where each landed; with one
// write in flight and each partition written in order, every record of
// this app below them is acknowledged or was read back), and raised to
// Kafka's end offsets when nothing is in flight or waiting, so partitions
// that only others write move too: a commit asks Kafka nothing while
// writes flow, which a far cluster would make slow. Run
// starts by reading back everything written at or after the stored marks
// (Publisher.ReadBack) and committing the msgids found, so a crash between
// Kafka's acknowledgement and the commit never republishes. A failed write
// is treated the same way: Publisher.Publish guarantees that a failed write
// cannot land later, and the publisher reads back before retrying, writing
// only what did not land. Marks do not move while a failed write is
// unresolved. When a stream's queries reach below the checkpoint's pruning
// horizon (a stream added later, a cursor moved back), the read-back also
// covers everything published since that stream's start.
//
// # State in Kafka
//
// Every commit also carries a Snapshot (Config.OnSnapshot, after the commit
// is durable): the cursors, a commit sequence that continues the
// checkpoint's, the pruning horizon, and the floor: Kafka offsets below
// every record whose msgid the dedupe set still holds. The publisher keeps,
// per Kafka write, the marks of the records acknowledged before it and the
// largest horizon it published (an epoch); an epoch matters until pruning
// passes that horizon, and the floor is the oldest epoch's marks (or the
// last commit's end offsets when none matters). A checkpoint seeded from a
// snapshot alone (its floor as marks) therefore recovers, by the start-up
// read-back, every msgid a query can still return; the read-back is about
// the lookback's records, not the history's.
//
// # Dead letters
//
// A message with a readable msgid that cannot be decoded, transformed or
// encoded is published to the dead-letter topic with its raw JSON and the
// reason, and counts as handled. Only a message without a msgid stops Run.
//
// # Pushed batches
//
// Push hands the publisher a batch the vendor pushed (a message routing
// callback, see source/callback); concurrent batches are coalesced into one
// Kafka write. A message already in the seen set is skipped, the others are
// published like a page's and kept in the seen set with the horizon
// create_time+1, which holds them until the cursors have passed them by
// more than the lookback, so polling skips them; a message behind that
// horizon already was polled and is skipped too. Push returns only after
// Kafka acknowledged the batch; the msgids are committed within
// pushCommitDelay, and a crash before that is a read-back at the next Run
// (the commit's marks are behind those records), not a duplicate.
//
// # Shutdown
//
// When the context is cancelled, the planner and fetchers stop at once; a
// Kafka write in flight is allowed to finish (up to Config.ShutdownTimeout),
// and what Kafka acknowledged is committed before Run returns nil.
package pipeline
