package sink

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// New reports every problem of a config at once, each in its own words.
func TestNewListsEveryProblem(t *testing.T) {
	missingCA := filepath.Join(t.TempDir(), "no-such-ca.pem")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{
			name: "first batch",
			cfg: Config{
				Brokers:       []string{"kafka-1", "kafka-2:9092", "kafka-3:", "kafka-4:notaport", "kafka-5:70000", "kafka-6:0"},
				Compression:   "brotli",
				SASLMechanism: "PLAIN",
				SASLPassword:  "pw",
				TLSSkipVerify: true,
			},
			want: []string{
				`broker "kafka-1" is not host:port`,
				`broker "kafka-3:" is not host:port`,
				`broker "kafka-4:notaport" is not host:port`,
				`broker "kafka-5:70000" is not host:port`,
				`broker "kafka-6:0" is not host:port`,
				"topic is empty",
				`compression "brotli" is not one of`,
				"SASL PLAIN needs a username",
				"TLS options are set but TLS is off",
			},
		},
		{
			name: "second batch",
			cfg: Config{
				SASLMechanism: "GSSAPI",
				SASLUsername:  "u",
				TLS:           true,
				TLSCAFile:     missingCA,
			},
			want: []string{
				"no brokers",
				"topic is empty",
				`SASL mechanism "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`,
				"TLS CA file",
				"no-such-ca.pem",
			},
		},
		{
			name: "scram without username, CA not PEM, TLS CA with TLS off",
			cfg: Config{
				Brokers:       []string{"127.0.0.1:9092"},
				Topic:         "t",
				SASLMechanism: "scram-sha-512",
				TLSCAFile:     notPEM,
			},
			want: []string{
				"SASL scram-sha-512 needs a username",
				"TLS options are set but TLS is off",
			},
		},
		{
			name: "CA file without a certificate",
			cfg: Config{
				Brokers:   []string{"127.0.0.1:9092"},
				Topic:     "t",
				TLS:       true,
				TLSCAFile: notPEM,
			},
			want: []string{"holds no PEM certificate"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(tc.cfg)
			if err == nil {
				t.Fatalf("New = %v, nil; want an error", w)
			}
			if w != nil {
				t.Errorf("New returned a writer with an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "kafka writer: ") {
				t.Errorf("error %q lacks the kafka writer prefix", msg)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not say %q:\n%s", want, msg)
				}
			}
			// One joined error per problem (a CA path shows in its own).
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) {
				t.Fatalf("error %T is not a joined list", err)
			}
			wantN := len(tc.want)
			if strings.Contains(msg, "no-such-ca.pem") {
				wantN--
			}
			if got := len(joined.Unwrap()); got != wantN {
				t.Errorf("%d problems reported, want %d:\n%s", got, wantN, msg)
			}
		})
	}
}

func TestNewAcceptsGoodConfigs(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	caPEM, _ := testCA(t)
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{Brokers: []string{"localhost:9092", ":9093"}, Topic: "t"},
		{Brokers: []string{"k1:9092", "[::1]:9093", "10.0.0.1:1"}, Topic: "t", Compression: "ZSTD"},
		{Brokers: []string{"k:9092"}, Topic: "t", Compression: "none"},
		{Brokers: []string{"k:9092"}, Topic: "t", Compression: "gzip"},
		{Brokers: []string{"k:9092"}, Topic: "t", Compression: "lz4"},
		{Brokers: []string{"k:9092"}, Topic: "t", SASLMechanism: "plain", SASLUsername: "u", SASLPassword: "p"},
		{Brokers: []string{"k:9092"}, Topic: "t", SASLMechanism: "SCRAM-SHA-256", SASLUsername: "u", SASLPassword: "p"},
		{Brokers: []string{"k:9092"}, Topic: "t", SASLMechanism: "SCRAM-SHA-512", SASLUsername: "u", SASLPassword: "p"},
		{Brokers: []string{"k:9092"}, Topic: "t", TLS: true},
		{Brokers: []string{"k:9092"}, Topic: "t", TLS: true, TLSCAFile: ca, TLSSkipVerify: true},
	} {
		w, err := New(cfg)
		if err != nil {
			t.Errorf("New(%+v) = %v", cfg, err)
			continue
		}
		if w.cfg.Partitions != 6 || w.cfg.ReplicationFactor != 0 || w.cfg.Logger == nil {
			t.Errorf("defaults not applied: %+v", w.cfg)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close of an unused writer: %v", err)
		}
	}
}

// A password SASLprep rejects must not be echoed in New's error: the
// error ends up in logs.
func TestNewNeverEchoesPassword(t *testing.T) {
	const secret = "hunter2-very-secret"
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		for _, pw := range []string{secret + "\x07", "\x00" + secret, secret + "\u0221"} {
			_, err := New(Config{
				Brokers:       []string{"k:9092"},
				Topic:         "t",
				SASLMechanism: mech,
				SASLUsername:  "svc-imreport",
				SASLPassword:  pw,
			})
			if err == nil {
				t.Errorf("%s: New accepted a password SASLprep prohibits (%q)", mech, pw)
				continue
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: New's error leaks the password: %q", mech, err)
			}
			if !strings.Contains(err.Error(), "SASL "+mech) {
				t.Errorf("%s: error %q does not say which setting is wrong", mech, err)
			}
		}
	}
}

func TestValidTopic(t *testing.T) {
	for _, c := range []struct {
		topic string
		want  bool
	}{
		{"imreport.messages", true},
		{"a_b-C.9", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"has space", false},
		{"slash/no", false},
		{"ünicode", false},
	} {
		if got := ValidTopic(c.topic); got != c.want {
			t.Errorf("ValidTopic(%q) = %v, want %v", c.topic, got, c.want)
		}
	}
}
