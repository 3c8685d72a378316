package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/ownership"
	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/schema/registry"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// Clients are what imreport audit audits and repairs with, built from the
// run's configurations: the Report API client (counts, pages, statistics),
// the Kafka writer (read only unless a repair publishes; it never creates
// a topic) and the value decoder.
type Clients struct {
	api      *source.Client
	kafka    *sink.Writer
	dec      *schema.Decoder
	registry registry.Config
	identity checkpoint.Identity
}

// Open builds the clients: api for the Report API, kafka for the topics
// (CreateTopic is turned off), reg to decode Confluent values (no URLs:
// single-object only).
func Open(api source.Config, kafka sink.Config, reg registry.Config) (*Clients, error) {
	client, err := source.New(api)
	if err != nil {
		return nil, err
	}
	kafka.CreateTopic = false // read-only unless --repair, and never creates
	writer, err := sink.New(kafka)
	if err != nil {
		return nil, err
	}
	dec, err := registry.Decoder(reg)
	if err != nil {
		_ = writer.Close()
		return nil, err
	}
	return &Clients{api: client, kafka: writer, dec: dec, registry: reg,
		identity: checkpoint.Identity{AppKey: kafka.AppKey, Topic: kafka.Topic}}, nil
}

// Close closes the Kafka writer.
func (c *Clients) Close() error { return c.kafka.Close() }

// RepairJob is what a repair needs beyond the clients.
type RepairJob struct {
	CheckpointPath string
	LockTimeout    time.Duration
	Subject        string          // the value schema's subject
	ValueFormat    schema.Framing  // the value format the pipeline writes
	Pipeline       pipeline.Config // the template of RepairConfig; APIVersion, Codec and PublishRetry are set here
	// Owner, when set, runs the repair as the owner of the app in its
	// owner group (repairAsOwner); its Topic is set here (the state topic).
	// Nil: the checkpoint's lock is the only guard.
	Owner *ownership.Config
}

// Run audits with cfg (its Decode set to the clients' decoder) and, with
// repair set, repairs and audits again (RunAndRepair).
func (c *Clients) Run(ctx context.Context, cfg Config, repair *RepairJob) (Outcome, error) {
	cfg.Decode = SchemaDecoder(c.dec)
	var fn RepairFunc
	if repair != nil {
		fn = func(ctx context.Context, rep *Report) (*RepairReport, error) { return c.repair(ctx, rep, *repair) }
	}
	return RunAndRepair(ctx, cfg, c.api, c.kafka, c.api, fn)
}

// repair takes the checkpoint's lock and repairs; with an owner group, as
// the owner (repairAsOwner).
func (c *Clients) repair(ctx context.Context, rep *Report, job RepairJob) (*RepairReport, error) {
	if job.Owner != nil {
		return c.repairAsOwner(ctx, rep, job)
	}
	store, err := OpenCheckpoint(job.CheckpointPath, job.LockTimeout, c.identity)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	return c.repairWith(ctx, rep, job, c.kafka, store, "")
}

// repairWith repairs on store, publishing with pub; lineage, when not
// empty, is the history the repair's commits continue.
func (c *Clients) repairWith(ctx context.Context, rep *Report, job RepairJob, pub pipeline.Publisher, store Store, lineage string) (*RepairReport, error) {
	codec, err := registry.FramingCodec(ctx, job.ValueFormat, c.registry, job.Subject, job.Pipeline.Logger)
	if err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	pc := job.Pipeline
	pc.APIVersion, pc.Codec, pc.Lineage = c.api.APIVersion(), codec, lineage
	pc.PublishRetry = retry.Policy{Initial: 500 * time.Millisecond, Max: 5 * time.Second, MaxAttempts: 20}
	return Repair(ctx, rep, RepairConfig{Pipeline: pc, Fetcher: c.api, Publisher: pub, Store: store})
}
