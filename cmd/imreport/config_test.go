package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

var fixedNow = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

func validEnv() map[string]string {
	return map[string]string{
		"IMREPORT_APP_KEY":       "app",
		"IMREPORT_MASTER_SECRET": "secret",
		"IMREPORT_KAFKA_BROKERS": "k1:9092, k2:9092",
	}
}

// configOf loads the configuration of env at fixedNow.
func configOf(env map[string]string) (Config, error) {
	return loadConfig(context.Background(), envconfig.MapLookuper(env), fixedNow, true)
}

// mustConfig is configOf's configuration; the test fails on any problem.
func mustConfig(t *testing.T, env map[string]string) Config {
	t.Helper()
	return configAt(t, env, fixedNow)
}

// configError is configOf's error; the test fails unless it is a
// *ConfigError.
func configError(t *testing.T, env map[string]string) *ConfigError {
	t.Helper()
	_, err := configOf(env)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	return ce
}

// startupLog is the start-up log line of c (with args), as run writes it.
func startupLog(c Config, args ...any) string {
	var buf strings.Builder
	newLogger(&buf, slog.LevelInfo).Info("starting imreport", append([]any{"config", c}, args...)...)
	return buf.String()
}

func TestConfigDefaults(t *testing.T) {
	c := mustConfig(t, validEnv())
	checks := []struct {
		name      string
		got, want any
	}{
		{"api url", c.APIURL, "https://report.im.jpush.cn"},
		{"zone", c.Location.String(), "Asia/Shanghai"},
		{"start", c.Start, fixedNow.Add(-24 * time.Hour)},
		{"end", c.End.IsZero(), true},
		{"window", c.Window, 7 * 24 * time.Hour},
		{"window messages", c.WindowMsgs, 20000},
		{"fetch concurrency", concurrencyText(c), "auto (at most 8)"},
		{"settle", c.Settle, 30 * time.Second},
		{"lookback", c.Lookback, 10 * time.Minute},
		{"poll", c.PollInterval, 10 * time.Second},
		{"page size", c.PageSize, 1000},
		{"rate", c.RateLimit, 8.0},
		{"brokers", strings.Join(c.KafkaBrokers, "|"), "k1:9092|k2:9092"},
		{"topic", c.KafkaTopic, "imreport.messages"},
		{"create topic", c.KafkaCreateTopic, true},
		{"partitions", c.KafkaPartitions, 6},
		{"replication", c.KafkaReplication, 0}, // auto
		{"compression", c.KafkaCompression, "snappy"},
		{"checkpoint", c.CheckpointPath, "imreport.db"},
		{"http", c.HTTPAddr, ":8080"},
		{"log level", c.LogLevel.String(), "INFO"},
		{"users", len(c.Users), 0},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestConfigParses(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) bool
	}{
		{"start RFC 3339", map[string]string{"IMREPORT_START": "2026-11-20T00:00:00+08:00"},
			func(c Config) bool { return c.Start.Equal(time.Date(2026, 11, 19, 16, 0, 0, 0, time.UTC)) }},
		{"start negative duration", map[string]string{"IMREPORT_START": "-90m"},
			func(c Config) bool { return c.Start.Equal(fixedNow.Add(-90 * time.Minute)) }},
		{"end", map[string]string{"IMREPORT_END": "2026-11-25T12:00:00Z"},
			func(c Config) bool { return c.End.Equal(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) }},
		{"users trimmed", map[string]string{"IMREPORT_USERS": " alice, bob ,,"},
			func(c Config) bool { return strings.Join(c.Users, "|") == "alice|bob" }},
		{"zone", map[string]string{"IMREPORT_API_TIMEZONE": "America/New_York"},
			func(c Config) bool { return c.Location.String() == "America/New_York" }},
		{"sasl", map[string]string{"IMREPORT_KAFKA_SASL_MECHANISM": "scram-sha-512", "IMREPORT_KAFKA_SASL_USERNAME": "u", "IMREPORT_KAFKA_SASL_PASSWORD": "p"},
			func(c Config) bool { return c.KafkaSASLMechanism == "SCRAM-SHA-512" }},
		{"http off", map[string]string{"IMREPORT_HTTP_ADDR": ""},
			func(c Config) bool { return c.HTTPAddr == "" }},
		{"trailing slash", map[string]string{"IMREPORT_API_URL": "http://sim:8081/"},
			func(c Config) bool { return c.APIURL == "http://sim:8081" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tc.env {
				env[k] = v
			}
			c := mustConfig(t, env)
			if !tc.check(c) {
				t.Fatalf("unexpected config: %+v", c)
			}
		})
	}
}

func TestConfigListsEveryProblemAtOnce(t *testing.T) {
	env := map[string]string{
		"IMREPORT_MASTER_SECRET":         "top-secret-value",
		"IMREPORT_API_URL":               "ftp://x",
		"IMREPORT_API_TIMEZONE":          "Mars/Olympus",
		"IMREPORT_START":                 "yesterday",
		"IMREPORT_END":                   "tomorrow",
		"IMREPORT_WINDOW":                "0s",
		"IMREPORT_SETTLE":                "abc",
		"IMREPORT_PAGE_SIZE":             "1001",
		"IMREPORT_RATE_LIMIT":            "-1",
		"IMREPORT_KAFKA_TOPIC":           "bad topic!",
		"IMREPORT_KAFKA_COMPRESSION":     "brotli",
		"IMREPORT_KAFKA_SASL_MECHANISM":  "PLAIN",
		"IMREPORT_KAFKA_SASL_PASSWORD":   "kafka-password-value",
		"IMREPORT_KAFKA_TLS_SKIP_VERIFY": "true",
		"IMREPORT_LOG_LEVEL":             "loud",
		"IMREPORT_USERS":                 "a,b,a",
		"IMREPORT_HTTP_ADDR":             "nonsense",
	}
	ce := configError(t, env)
	msg := ce.Error()
	for _, name := range []string{
		"IMREPORT_APP_KEY", "IMREPORT_API_URL", "IMREPORT_API_TIMEZONE", "IMREPORT_START", "IMREPORT_END",
		"IMREPORT_WINDOW", "IMREPORT_SETTLE", "IMREPORT_PAGE_SIZE", "IMREPORT_RATE_LIMIT", "IMREPORT_KAFKA_BROKERS",
		"IMREPORT_KAFKA_TOPIC", "IMREPORT_KAFKA_COMPRESSION", "IMREPORT_KAFKA_SASL_USERNAME", "IMREPORT_KAFKA_TLS",
		"IMREPORT_LOG_LEVEL", "IMREPORT_USERS", "IMREPORT_HTTP_ADDR",
	} {
		if !strings.Contains(msg, name+":") {
			t.Errorf("the error does not mention %s:\n%s", name, msg)
		}
	}
	if len(ce.Problems) < 17 {
		t.Errorf("want at least 17 problems, got %d:\n%s", len(ce.Problems), msg)
	}
	for _, secret := range []string{"top-secret-value", "kafka-password-value"} {
		if strings.Contains(msg, secret) {
			t.Errorf("the error quotes a secret:\n%s", msg)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"future start", "IMREPORT_START", "2030-01-01T00:00:00Z", "future"},
		{"positive duration start", "IMREPORT_START", "24h", "neither"},
		{"end before start", "IMREPORT_END", "2026-11-01T00:00:00Z", "not after IMREPORT_START"},
		{"versioned url", "IMREPORT_API_URL", "https://report.im.jpush.cn/v1", "version path"},
		{"page size zero", "IMREPORT_PAGE_SIZE", "0", "outside 1..1000"},
		{"broker without port", "IMREPORT_KAFKA_BROKERS", "kafka", "not host:port"},
		{"user with slash", "IMREPORT_USERS", "a/b", "slash"},
		{"bad bool", "IMREPORT_KAFKA_CREATE_TOPIC", "maybe", "true or false"},
		{"blank secret", "IMREPORT_MASTER_SECRET", "  ", "IMREPORT_MASTER_SECRET: required"},
		{"sasl user without mechanism", "IMREPORT_KAFKA_SASL_USERNAME", "u", "IMREPORT_KAFKA_SASL_MECHANISM"},
		{"unknown api version", "IMREPORT_API_VERSION", "v3", "IMREPORT_API_VERSION: \"v3\" is not v1 or v2"},
		{"groups on v1", "IMREPORT_GROUPS", "g1|IMREPORT_API_VERSION=v1", "IMREPORT_GROUPS: needs IMREPORT_API_VERSION=v2"},
		{"chatrooms on v1", "IMREPORT_CHATROOMS", "c1|IMREPORT_API_VERSION=v1", "IMREPORT_CHATROOMS: needs IMREPORT_API_VERSION=v2"},
		{"group twice", "IMREPORT_GROUPS", "g1, g2,g1", "listed more than once: g1"},
		{"chatroom with space", "IMREPORT_CHATROOMS", "a b", "chatroom id \"a b\" contains a slash or a space"},
		{"dlq equals topic", "IMREPORT_KAFKA_DLQ_TOPIC", "imreport.messages", "must differ from IMREPORT_KAFKA_TOPIC"},
		{"bad dlq topic", "IMREPORT_KAFKA_DLQ_TOPIC", "dead letters!", "IMREPORT_KAFKA_DLQ_TOPIC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv()
			value, extra, _ := strings.Cut(tc.value, "|")
			env[tc.key] = value
			if k, v, ok := strings.Cut(extra, "="); ok {
				env[k] = v
			}
			_, err := configOf(env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestConfigStreamsAndDefaults(t *testing.T) {
	env := validEnv()
	env["IMREPORT_USERS"] = "alice,bob"
	env["IMREPORT_GROUPS"] = "g1"
	env["IMREPORT_CHATROOMS"] = "c1"
	cfg := mustConfig(t, env)
	if cfg.APIVersion != "v2" || cfg.KafkaDLQTopic != cfg.KafkaTopic+".dlq" {
		t.Errorf("defaults: api version %q, dlq topic %q; want v2 and <topic>.dlq", cfg.APIVersion, cfg.KafkaDLQTopic)
	}
	var got []string
	for _, s := range configStreams(cfg) {
		got = append(got, s.String())
	}
	if want := "users/alice users/bob groups/g1 chatrooms/c1"; strings.Join(got, " ") != want {
		t.Errorf("streams %v, want %s", got, want)
	}
	delete(env, "IMREPORT_USERS")
	delete(env, "IMREPORT_GROUPS")
	delete(env, "IMREPORT_CHATROOMS")
	cfg = mustConfig(t, env)
	if s := configStreams(cfg); len(s) != 1 || s[0].String() != "messages" {
		t.Errorf("streams with no entity listed: %v, want messages", s)
	}
}

func TestBadConfigExitsTwo(t *testing.T) {
	code, _, stderr := runMain(context.Background(), map[string]string{"IMREPORT_WINDOW": "x"}, "run")
	if code != exitUsage {
		t.Fatalf("want exit 2, got %d", code)
	}
	wantIn(t, "stderr", stderr, "IMREPORT_APP_KEY: required", "IMREPORT_MASTER_SECRET: required", "IMREPORT_KAFKA_BROKERS: required", "IMREPORT_WINDOW:")
}

func TestCommandsHelpAndUsage(t *testing.T) {
	for _, c := range commands() {
		code, out, stderr := runMain(context.Background(), nil, c.name, "--help")
		if code != exitOK || !strings.Contains(out, "imreport "+c.name) {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", c.name, code, out, stderr)
		}
	}
	if code, _, stderr := runMain(context.Background(), nil, "frobnicate"); code != exitUsage || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, stderr)
	}
	if code, _, _ := runMain(context.Background(), nil); code != exitUsage {
		t.Errorf("no command: exit %d", code)
	}
	if code, _, _ := runMain(context.Background(), nil, "run", "extra"); code != exitUsage {
		t.Errorf("run with an argument: exit %d", code)
	}
	code, out, _ := runMain(context.Background(), nil, "schema")
	if code != exitOK || !strings.Contains(out, `"name": "Message"`) && !strings.Contains(out, `"name":"Message"`) {
		t.Errorf("schema: exit %d, %q", code, out)
	}
	if code, out, _ := runMain(context.Background(), nil, "version"); code != exitOK || !strings.HasPrefix(out, "imreport ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestDemo(t *testing.T) {
	code, out, stderr := runMain(context.Background(), nil, "demo", "--messages", "3000", "--hours", "3", "--bursts", "1", "--burst-size", "1200")
	if code != exitOK {
		t.Fatalf("demo exited %d:\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	wantIn(t, "the output", out, "distinct msgids       4200 of 4200 generated (missing 0, duplicates 0, unexpected 0)", "per msg_type", "messages/second", "OK: every simulated message is in Kafka exactly once.")
}

// The start-up line is readable: durations as Go writes them, snake_case
// keys, secrets only as "(set)".
func TestConfigLogReadable(t *testing.T) {
	env := validEnv()
	env["IMREPORT_MASTER_SECRET"] = "m4st3r-Zq9"
	c := mustConfig(t, env)
	logged := startupLog(c, "wait", 1500*time.Millisecond)
	var line struct {
		Config map[string]any
		Wait   any
	}
	if err := json.Unmarshal([]byte(logged), &line); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"window": "168h0m0s", "settle": "30s", "lookback": "10m0s", "poll_interval": "10s", "api_timeout": "30s",
		"shutdown_timeout": "20s", "checkpoint_lock_timeout": "2s", "kafka_replication_factor": "auto",
		"master_secret": "(set)", "kafka_sasl_password": "(unset)",
	} {
		if got := line.Config[key]; got != want {
			t.Errorf("config.%s logged as %v, want %v", key, got, want)
		}
	}
	if line.Wait != "1.5s" {
		t.Errorf("a duration outside the config logged as %v", line.Wait)
	}
	if strings.Contains(logged, "m4st3r-Zq9") {
		t.Errorf("secret logged: %s", logged)
	}
}
