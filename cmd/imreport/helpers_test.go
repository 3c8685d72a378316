package main

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/testkit"
)

// runMain runs Main with env and returns its exit code, stdout and stderr.
func runMain(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var out, errb testkit.Buffer
	code := Main(ctx, args, &out, &errb, envconfig.MapLookuper(env))
	return code, out.String(), errb.String()
}

func basic(appKey, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(appKey + ":" + secret))
}

func mapLookup(env map[string]string) envconfig.Lookuper { return envconfig.MapLookuper(env) }

// configAt loads env's configuration as of now; the test fails on any
// problem.
func configAt(t testing.TB, env map[string]string, now time.Time) Config {
	t.Helper()
	cfg, err := loadConfig(context.Background(), mapLookup(env), now, true)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// wantIn checks that s (what it is: "stderr", "the output") holds each of
// wants.
func wantIn(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, s)
		}
	}
}
