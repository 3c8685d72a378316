package main

// variable is one IMREPORT_* setting. The list below is the single source
// of truth: "imreport run --help" prints it, and tests check that it agrees
// with the env struct's tags (names and defaults) and with README.md's
// configuration table, row for row, both ways. To add a variable: add its
// field to env (config.go), its entry here, and the row the failing test
// prints to README.md.
type variable struct {
	Name    string
	Default string // exactly the env tag's default; "" = none
	Shown   string // README's default column when Default is "" (Markdown); "" = "empty"
	Meaning string // Markdown, one line
}

// variables lists every configuration variable, in README order.
var variables = []variable{
	{Name: "IMREPORT_APP_KEY", Shown: "required",
		Meaning: "JMessage app key"},
	{Name: "IMREPORT_MASTER_SECRET", Shown: "required",
		Meaning: "master secret (Basic auth); never logged"},
	{Name: "IMREPORT_API_URL", Default: "https://report.im.jpush.cn",
		Meaning: "Report API base URL, without `/v1` or `/v2`"},
	{Name: "IMREPORT_API_VERSION", Default: "v2",
		Meaning: "`v2` (cursor paging; groups and chatrooms) or `v1` (deprecated by the vendor); see \"Which API version\""},
	{Name: "IMREPORT_API_TIMEZONE", Default: "Asia/Shanghai",
		Meaning: "IANA zone of the API's time strings (the vendor does not document it)"},
	{Name: "IMREPORT_API_TIMEOUT", Default: "30s",
		Meaning: "timeout of one API request"},
	{Name: "IMREPORT_API_MAX_ATTEMPTS", Default: "20",
		Meaning: "attempts per request before the run fails (0 = retry temporary failures forever); with the 30 s backoff cap, 20 is about 8 minutes"},
	{Name: "IMREPORT_USERS",
		Meaning: "comma-separated user names: poll `/{version}/users/{u}/messages` for each"},
	{Name: "IMREPORT_GROUPS",
		Meaning: "comma-separated group ids: poll `/v2/groups/{gid}/messages` for each (v2 only)"},
	{Name: "IMREPORT_CHATROOMS",
		Meaning: "comma-separated chatroom ids: poll `/v2/chatrooms/{id}/messages` for each (v2 only). With none of users, groups, chatrooms set, the whole app's `/messages` is read. Each stream has its own cursor: a stream added later backfills from `IMREPORT_START` without touching the others, and a message served by two streams (a user's and a group's) is published once"},
	{Name: "IMREPORT_START", Default: "-24h",
		Meaning: "where a stream without a checkpoint begins: RFC 3339 time or a negative duration from now; earlier than the 60-day retention is clamped (to a minute inside it), with a warning"},
	{Name: "IMREPORT_END",
		Meaning: "RFC 3339 time: publish everything sent before it, checkpoint, exit 0 (a bounded backfill; with a lookback it first waits until `END + LOOKBACK` for late arrivals); empty = tail forever"},
	{Name: "IMREPORT_WINDOW", Default: "5m",
		Meaning: "largest window per query (at least 1s)"},
	{Name: "IMREPORT_SETTLE", Default: "30s",
		Meaning: "never query closer than this to now"},
	{Name: "IMREPORT_LOOKBACK", Default: "10m",
		Meaning: "once caught up, check this far behind the cursor every poll for late-arriving messages (0 = never); must exceed the API's indexing delay"},
	{Name: "IMREPORT_POLL_INTERVAL", Default: "10s",
		Meaning: "pause between polls once caught up"},
	{Name: "IMREPORT_PAGE_SIZE", Default: "1000",
		Meaning: "`count` per request (1..1000)"},
	{Name: "IMREPORT_RATE_LIMIT", Default: "8",
		Meaning: "API requests per second, at most, retries included (the free plan allows 600/minute per app key, shared by all its callers)"},
	{Name: "IMREPORT_FETCH_CONCURRENCY", Default: "1",
		Meaning: "windows fetched at once (1..64); checkpoints still advance strictly in order"},
	{Name: "IMREPORT_KAFKA_BROKERS", Shown: "required for `run`",
		Meaning: "comma-separated `host:port`"},
	{Name: "IMREPORT_KAFKA_TOPIC", Default: "imreport.messages",
		Meaning: "topic"},
	{Name: "IMREPORT_KAFKA_DLQ_TOPIC", Shown: "`<topic>.dlq`",
		Meaning: "dead-letter topic for messages that cannot be transformed (must differ from the topic)"},
	{Name: "IMREPORT_KAFKA_CREATE_TOPIC", Default: "true",
		Meaning: "create the topic and the dead-letter topic if they do not exist"},
	{Name: "IMREPORT_KAFKA_PARTITIONS", Default: "6",
		Meaning: "partitions of a created topic"},
	{Name: "IMREPORT_KAFKA_REPLICATION_FACTOR", Default: "auto",
		Meaning: "replication factor of a created topic (1..32); `auto` = the cluster's `default.replication.factor` (Kafka 2.4 and later), else min(3, brokers); the log says which"},
	{Name: "IMREPORT_KAFKA_COMPRESSION", Default: "snappy",
		Meaning: "`none`, `gzip`, `snappy`, `lz4`, `zstd`"},
	{Name: "IMREPORT_KAFKA_SASL_MECHANISM",
		Meaning: "`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; empty = no SASL"},
	{Name: "IMREPORT_KAFKA_SASL_USERNAME",
		Meaning: "SASL user"},
	{Name: "IMREPORT_KAFKA_SASL_PASSWORD",
		Meaning: "SASL password; never logged"},
	{Name: "IMREPORT_KAFKA_TLS", Default: "false",
		Meaning: "connect to Kafka over TLS"},
	{Name: "IMREPORT_KAFKA_TLS_CA_FILE",
		Meaning: "PEM bundle to trust (empty = system roots)"},
	{Name: "IMREPORT_KAFKA_TLS_SKIP_VERIFY", Default: "false",
		Meaning: "do not verify the brokers' certificates (testing only)"},
	{Name: "IMREPORT_CHECKPOINT_PATH", Default: "imreport.db",
		Meaning: "bbolt checkpoint file"},
	{Name: "IMREPORT_CHECKPOINT_LOCK_TIMEOUT", Default: "2s",
		Meaning: "how long to wait for the checkpoint's file lock before failing with \"checkpoint locked\""},
	{Name: "IMREPORT_HTTP_ADDR", Default: ":8080",
		Meaning: "address of `/metrics`, `/healthz`, `/readyz`; empty = no server"},
	{Name: "IMREPORT_LOG_LEVEL", Default: "info",
		Meaning: "`debug`, `info`, `warn`, `error` (JSON logs on stderr)"},
	{Name: "IMREPORT_PROGRESS_INTERVAL", Default: "15s",
		Meaning: "how often each stream behind its target logs a `progress` line (cursor, `done_pct`, `remaining`, `published`, `msg_per_s`, `requests_per_s`, `eta`) and the progress gauges are updated (at least 1s); on a terminal a live progress bar replaces the lines"},
	{Name: "IMREPORT_SHUTDOWN_TIMEOUT", Default: "20s",
		Meaning: "on SIGTERM, how long a Kafka write in flight may take to be acknowledged (a write abandoned then is fenced: up to 10 s more, see \"Delivery guarantee\")"},
}
