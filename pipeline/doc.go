// Package pipeline moves messages from the Report API to Kafka exactly once.
//
// # Stages
//
// A planner cuts each stream into windows (NextWindow), fetchers page through
// them (a Fetcher), and one publisher decodes, deduplicates, transforms,
// encodes and publishes each page (a Publisher), then records progress in the
// checkpoint (a Checkpointer). Stages run in one errgroup and talk over
// bounded channels, so a slow Kafka slows the fetchers instead of filling
// memory; every send also watches the context.
//
// # Ordering and checkpoints
//
// Windows carry a sequence number per stream. Several may be fetched at once
// (Config.FetchConcurrency), but a stream's cursor moves to the end of a
// window only when that window and every window before it were fully
// acknowledged by Kafka (an ordered tracker). Each release is one checkpoint
// commit holding the new cursors and the msgids published since the last one.
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
// # Shutdown
//
// When the context is cancelled, the planner and fetchers stop at once; a
// Kafka write in flight is allowed to finish (up to Config.ShutdownTimeout),
// and what Kafka acknowledged is committed before Run returns nil.
package pipeline
