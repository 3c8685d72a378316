// Package doctor is imreport's preflight check: before a first run (or
// when one fails) it asks everything a run needs, once each, and says for
// each check whether it passed and, if not, how to fix it. It changes
// nothing: no topic is created, no schema registered, no checkpoint
// written.
//
// # Checks
//
// In order: the Report API credentials (one count=1 request on the app's
// /messages), the API version (that request's endpoint), each configured stream (one count=1 request on its
// endpoint), Kafka (reachable with the configured TLS and SASL), the topic
// the dead-letter topic and the state topic (exists, or the broker would create it as
// configured; cleanup.policy not compact, whose compaction would drop
// records that exactly-once read-back relies on; retention long enough),
// the Schema Registry when one is configured (reachable, credentials
// accepted, the schema compatible with the subject's latest version), and
// the checkpoint (readable, bound to this app key and topic, not locked by
// a running imreport), and imreport media's store when IMREPORT_MEDIA_URL is
// set (a probe object written, read back and deleted: the one change the
// doctor makes, undone). A check that depends on a failed one is skipped.
// Rows never hold a secret: errors are the ones imreport logs.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// API is the Report API: source.Client.
type API interface {
	Count(ctx context.Context, s source.Stream, w source.Window) (int, error)
}

// Kafka describes topics: sink.Writer.
type Kafka interface {
	Inspect(ctx context.Context, topic string) (sink.TopicInfo, error)
}

// MediaStore is imreport media's store: store.Store.
type MediaStore interface {
	Check(ctx context.Context) error
}

// Registry checks a registration: registry.Client.
type Registry interface {
	Check(ctx context.Context, subject, text string) error
}

// Config is what the doctor checks.
type Config struct {
	API        API
	AppKey     string
	APIVersion string
	Streams    []source.Stream

	Kafka      Kafka
	Brokers    []string
	Topic      string
	DLQTopic   string
	StateTopic string // "" = not checked
	SASL       bool   // SASL is configured: a failed connection may be a wrong password
	Registry   Registry
	Subject    string
	SchemaText string

	CheckpointPath string

	// MediaStore, when set, is imreport media's store (IMREPORT_MEDIA_URL),
	// checked with a probe object written, read back and deleted.
	MediaStore MediaStore
	MediaURL   string // shown; no credentials in it

	// MinRetention is the least retention.ms accepted; 0 = 7 days.
	MinRetention time.Duration
	Now          func() time.Time // nil = time.Now
	Timeout      time.Duration    // per check; 0 = 15s
}

// Status of a check.
const (
	OK   = "ok"
	Fail = "fail"
	Skip = "skip"
)

// Row is one check's outcome.
type Row struct {
	Check  string
	Status string // OK, Fail or Skip
	Detail string // what was found
	Fix    string // how to fix a failure
}

// Passed reports whether every check passed.
func Passed(rows []Row) bool {
	for _, r := range rows {
		if r.Status != OK {
			return false
		}
	}
	return len(rows) > 0
}

// Run runs every check and returns one row each.
func Run(ctx context.Context, cfg Config) []Row {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MinRetention <= 0 {
		cfg.MinRetention = 7 * 24 * time.Hour
	}
	d := &run{cfg: cfg, ctx: ctx}
	rows := d.api()
	rows = append(rows, d.kafka()...)
	if cfg.Registry != nil {
		rows = append(rows, d.registry())
	}
	rows = append(rows, d.checkpoint())
	if cfg.MediaStore != nil {
		rows = append(rows, d.mediaStore())
	}
	return rows
}

// mediaStore checks imreport media's store: a probe object written, read
// back and deleted (the check imreport media runs at its start).
func (d *run) mediaStore() Row {
	r := Row{Check: "media store " + d.cfg.MediaURL}
	ctx, cancel := d.timeout()
	defer cancel()
	if err := d.cfg.MediaStore.Check(ctx); err != nil {
		r.Status, r.Detail = Fail, err.Error()
		r.Fix = "check IMREPORT_MEDIA_URL: a file:/// directory imreport can write, or an s3:// bucket that exists, with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or a role) allowed to put, get and delete objects"
		return r
	}
	r.Status, r.Detail = OK, "a probe object was written, read back and deleted"
	return r
}

type run struct {
	cfg Config
	ctx context.Context
}

func (d *run) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(d.ctx, d.cfg.Timeout)
}

// window is a recent minute, for count=1 requests.
func (d *run) window() source.Window {
	to := d.cfg.Now().UTC().Add(-time.Minute).Truncate(time.Minute)
	return source.Window{From: to.Add(-time.Minute), To: to}
}

// api checks the credentials, then each stream.
func (d *run) api() []Row {
	ctx, cancel := d.timeout()
	defer cancel()
	creds := Row{Check: "report api credentials"}
	n, err := d.cfg.API.Count(ctx, source.Messages, d.window())
	switch {
	case errors.Is(err, source.ErrAuth):
		creds.Status, creds.Detail = Fail, err.Error()
		creds.Fix = "set IMREPORT_APP_KEY and IMREPORT_MASTER_SECRET to the app's key and master secret (JMessage console, app settings)"
	case err != nil:
		creds.Status, creds.Detail = Fail, err.Error()
		creds.Fix = "check IMREPORT_API_URL and that this host reaches it (proxy, firewall, DNS)"
	default:
		creds.Status = OK
		creds.Detail = fmt.Sprintf("app key %s accepted; /%s/messages answered (%d messages in the last full minute)", d.cfg.AppKey, d.cfg.APIVersion, n)
	}
	rows := []Row{creds, d.version(creds, err)}
	for _, s := range d.cfg.Streams {
		if s.Kind == source.KindMessages {
			continue // the credentials check asked it
		}
		r := Row{Check: "stream " + s.String()}
		if creds.Status != OK {
			r.Status, r.Detail = Skip, "skipped: the credentials check failed"
			rows = append(rows, r)
			continue
		}
		ctx, cancel := d.timeout()
		n, err := d.cfg.API.Count(ctx, s, d.window())
		cancel()
		if err != nil {
			r.Status, r.Detail = Fail, err.Error()
			r.Fix = "check the name in IMREPORT_USERS, IMREPORT_GROUPS or IMREPORT_CHATROOMS exists in this app"
			if errors.Is(err, source.ErrUnsupported) {
				r.Fix = "groups and chatrooms need IMREPORT_API_VERSION=v2"
			}
		} else {
			r.Status, r.Detail = OK, fmt.Sprintf("%s answered (%d messages in the last full minute)", s.Endpoint(d.cfg.APIVersion), n)
		}
		rows = append(rows, r)
	}
	return rows
}

// version judges the API version from the credentials request, which went
// to /{version}/messages: a 404 there means the version is not served.
func (d *run) version(creds Row, err error) Row {
	r := Row{Check: "report api version " + d.cfg.APIVersion}
	var ae *source.APIError
	switch {
	case errors.As(err, &ae) && ae.Status == 404:
		r.Status, r.Detail = Fail, err.Error()
		r.Fix = "set IMREPORT_API_VERSION to the other version (v2 is the vendor's recommended one), or check IMREPORT_API_URL has no path"
	case creds.Status != OK:
		r.Status, r.Detail = Skip, "skipped: the credentials check failed"
	case d.cfg.APIVersion == "v1":
		r.Status, r.Detail = OK, "v1 answers (deprecated by the vendor, no group or chatroom endpoints: prefer v2)"
	default:
		r.Status, r.Detail = OK, d.cfg.APIVersion+" answers (cursor paging; users, groups and chatrooms)"
	}
	return r
}

// kafka checks the brokers, the topic and the dead-letter topic.
func (d *run) kafka() []Row {
	reach := Row{Check: "kafka brokers"}
	ctx, cancel := d.timeout()
	main, err := d.cfg.Kafka.Inspect(ctx, d.cfg.Topic)
	cancel()
	if err != nil {
		reach.Status, reach.Detail = Fail, err.Error()
		reach.Fix = "check IMREPORT_KAFKA_BROKERS and that this host reaches them; with TLS, IMREPORT_KAFKA_TLS and the CA"
		if d.cfg.SASL {
			reach.Fix += "; with SASL, a wrong username or password shows up as an unexpected EOF"
		}
		skip := func(name string) Row {
			return Row{Check: name, Status: Skip, Detail: "skipped: kafka is not reachable"}
		}
		rows := []Row{reach, skip("topic " + d.cfg.Topic), skip("dead-letter topic " + d.cfg.DLQTopic)}
		if d.cfg.StateTopic != "" {
			rows = append(rows, skip("state topic "+d.cfg.StateTopic))
		}
		return rows
	}
	reach.Status, reach.Detail = OK, "reachable: "+strings.Join(d.cfg.Brokers, ", ")
	ctx, cancel = d.timeout()
	dlq, dlqErr := d.cfg.Kafka.Inspect(ctx, d.cfg.DLQTopic)
	cancel()
	rows := []Row{reach, d.topic("topic "+d.cfg.Topic, d.cfg.Topic, main, nil), d.topic("dead-letter topic "+d.cfg.DLQTopic, d.cfg.DLQTopic, dlq, dlqErr)}
	if d.cfg.StateTopic != "" {
		ctx, cancel = d.timeout()
		st, stErr := d.cfg.Kafka.Inspect(ctx, d.cfg.StateTopic)
		cancel()
		rows = append(rows, d.stateTopic(st, stErr))
	}
	return rows
}

// stateTopic judges the state topic: one partition or more (the first is
// used), compacted so that the newest snapshot per app key stays.
func (d *run) stateTopic(info sink.TopicInfo, err error) Row {
	r := Row{Check: "state topic " + d.cfg.StateTopic}
	switch {
	case unusable(&r, info, err, "create it (1 partition, cleanup.policy=compact), or set IMREPORT_KAFKA_CREATE_TOPIC=true"):
	case !info.Exists:
		r.Status, r.Detail = OK, "missing: run will create it (1 partition, cleanup.policy=compact)"
	case !strings.Contains(info.CleanupPolicy, "compact"):
		r.Status = Fail
		r.Detail = fmt.Sprintf("cleanup.policy=%s: the newest snapshot of an idle app could expire, and a lost checkpoint could not be restored", info.CleanupPolicy)
		r.Fix = "kafka-configs.sh --alter --entity-type topics --entity-name " + d.cfg.StateTopic + " --add-config cleanup.policy=compact"
	default:
		r.Status, r.Detail = OK, fmt.Sprintf("%d partition(s), cleanup.policy=%s", info.Partitions, info.CleanupPolicy)
	}
	return r
}

// unusable fills r and reports true when a topic could not be described,
// or is missing and would not be created (createFix says how to fix that).
func unusable(r *Row, info sink.TopicInfo, err error, createFix string) bool {
	switch {
	case err != nil:
		r.Status, r.Detail, r.Fix = Fail, err.Error(), "check the principal may describe topics (ACL DESCRIBE, DESCRIBE_CONFIGS)"
	case !info.Exists && info.CreateError != nil:
		r.Status, r.Detail, r.Fix = Fail, "missing, and it would not be created: "+info.CreateError.Error(), createFix
	default:
		return false
	}
	return true
}

// topic judges one topic.
func (d *run) topic(check, name string, info sink.TopicInfo, err error) Row {
	r := Row{Check: check}
	switch {
	case unusable(&r, info, err, "create it (cleanup.policy=delete), or set IMREPORT_KAFKA_CREATE_TOPIC=true and a replication factor the cluster accepts (IMREPORT_KAFKA_REPLICATION_FACTOR=auto)"):
	case !info.Exists:
		r.Status, r.Detail = OK, "missing: run will create it"
	case strings.Contains(info.CleanupPolicy, "compact"):
		r.Status, r.Detail = Fail, fmt.Sprintf("cleanup.policy=%s: compaction keeps one record per key, and exactly-once read-back needs every record", info.CleanupPolicy)
		r.Fix = "kafka-configs.sh --alter --entity-type topics --entity-name " + name + " --add-config cleanup.policy=delete"
	case info.RetentionMs >= 0 && time.Duration(info.RetentionMs)*time.Millisecond < d.cfg.MinRetention:
		r.Status = Fail
		r.Detail = fmt.Sprintf("retention.ms=%d (%s) is shorter than %s: records must outlive a stopped run for read-back", info.RetentionMs, time.Duration(info.RetentionMs)*time.Millisecond, d.cfg.MinRetention)
		r.Fix = fmt.Sprintf("kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config retention.ms=%d", name, d.cfg.MinRetention.Milliseconds())
	default:
		ret := "forever"
		if info.RetentionMs >= 0 {
			ret = (time.Duration(info.RetentionMs) * time.Millisecond).String()
		}
		r.Status, r.Detail = OK, fmt.Sprintf("%d partitions, cleanup.policy=%s, retention %s", info.Partitions, info.CleanupPolicy, ret)
	}
	return r
}

// registry checks the value schema could be registered.
func (d *run) registry() Row {
	r := Row{Check: "schema registry"}
	ctx, cancel := d.timeout()
	defer cancel()
	if err := d.cfg.Registry.Check(ctx, d.cfg.Subject, d.cfg.SchemaText); err != nil {
		r.Status, r.Detail = Fail, err.Error()
		r.Fix = "check IMREPORT_SCHEMA_REGISTRY_URL and its credentials; an incompatible subject needs a compatibility setting or another subject (IMREPORT_SCHEMA_SUBJECT_STRATEGY)"
		return r
	}
	r.Status, r.Detail = OK, fmt.Sprintf("subject %s accepts the value schema", d.cfg.Subject)
	return r
}

// checkpoint checks the file: readable, bound to this app key and topic,
// not locked. A missing file is fine when its directory is writable.
func (d *run) checkpoint() Row {
	r := Row{Check: "checkpoint " + d.cfg.CheckpointPath}
	if _, err := os.Stat(d.cfg.CheckpointPath); errors.Is(err, os.ErrNotExist) {
		dir := filepath.Dir(d.cfg.CheckpointPath)
		f, err := os.CreateTemp(dir, ".imreport-doctor-*")
		if err != nil {
			r.Status, r.Detail = Fail, "missing, and its directory is not writable: "+err.Error()
			r.Fix = "set IMREPORT_CHECKPOINT_PATH to a file on a writable, persistent volume"
			return r
		}
		f.Close()
		os.Remove(f.Name())
		r.Status, r.Detail = OK, "missing: run will create it (a first run starts at IMREPORT_START)"
		return r
	}
	store, err := checkpoint.Open(checkpoint.Options{Path: d.cfg.CheckpointPath, ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		r.Status, r.Detail = Fail, err.Error()
		r.Fix = "a corrupt file: move it away (a new one starts at IMREPORT_START)"
		if errors.Is(err, checkpoint.ErrLocked) {
			r.Fix = "another imreport runs on this file: stop it first (one writer per app key and topic)"
		}
		return r
	}
	defer store.Close()
	st, err := store.Load()
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, err.Error(), "a corrupt file: move it away (a new one starts at IMREPORT_START)"
		return r
	}
	if id := st.Identity; id.AppKey != "" && (id.AppKey != d.cfg.AppKey || id.Topic != d.cfg.Topic) {
		r.Status = Fail
		r.Detail = fmt.Sprintf("bound to %s, not app key %q, topic %q", id, d.cfg.AppKey, d.cfg.Topic)
		r.Fix = "use this app key's own checkpoint file (IMREPORT_CHECKPOINT_PATH), or the topic it was bound to"
		return r
	}
	r.Status, r.Detail = OK, fmt.Sprintf("readable, not locked, %d stream cursor(s)", len(st.Cursors))
	return r
}

// Print writes the rows as a table: check, status, detail, and the fix
// under a failed row.
func Print(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Check, r.Status, r.Detail)
		if r.Status == Fail && r.Fix != "" {
			fmt.Fprintf(tw, "\t\tfix: %s\n", r.Fix)
		}
	}
	return tw.Flush()
}
