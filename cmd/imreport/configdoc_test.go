package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from vars.go")

// configurationDocPath is the generated configuration reference.
var configurationDocPath = filepath.Join("..", "..", "docs", "configuration.md")

// docs/configuration.md is what configurationDoc renders from vars.go;
// -update (go generate ./cmd/imreport) rewrites it.
func TestConfigurationDocUpToDate(t *testing.T) {
	want := configurationDoc()
	if *update {
		if err := os.WriteFile(configurationDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(configurationDocPath)
	if err != nil {
		t.Fatalf("%v (generate it: go generate ./cmd/imreport)", err)
	}
	if string(got) != want {
		t.Errorf("docs/configuration.md is stale: run go generate ./cmd/imreport (go test ./cmd/imreport -run TestConfigurationDocUpToDate -update)")
	}
}

// Every variable is declared with what the start-up log shows, under a key
// of its own; a name that looks secret is declared secret.
func TestVariablesDeclaredForTheLog(t *testing.T) {
	keys := map[string]string{}
	for _, v := range variables {
		if v.Log == nil {
			t.Errorf("%s: no Log (what the start-up log shows)", v.Name)
		}
		if other, dup := keys[v.logKey()]; dup {
			t.Errorf("%s and %s share the log key %q", v.Name, other, v.logKey())
		}
		keys[v.logKey()] = v.Name
		for _, word := range []string{"SECRET", "PASSWORD", "TOKEN"} {
			if strings.Contains(v.Name, word) && !v.Secret {
				t.Errorf("%s looks like a secret but is not declared Secret", v.Name)
			}
		}
	}
}

// The start-up line has one key per variable, and every secret variable,
// set, shows as "(set)" and never its value.
func TestConfigLogRedactsEverySecret(t *testing.T) {
	env := validEnv()
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = "http://registry.example:8081"
	secrets := map[string]string{}
	for _, v := range variables {
		if v.Secret {
			secrets[v.Name] = "s3cr3t-" + strings.ToLower(strings.TrimPrefix(v.Name, "IMREPORT_"))
		}
	}
	if len(secrets) < 4 {
		t.Fatalf("only %d secret variables declared", len(secrets))
	}
	// Kafka SASL and the registry's basic auth need their partners; the
	// registry's bearer token excludes basic auth, so check it on its own.
	for _, group := range [][]string{
		{"IMREPORT_MASTER_SECRET", "IMREPORT_KAFKA_SASL_PASSWORD", "IMREPORT_SCHEMA_REGISTRY_PASSWORD"},
		{"IMREPORT_SCHEMA_REGISTRY_BEARER_TOKEN"},
	} {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for _, name := range group {
			e[name] = secrets[name]
		}
		if e["IMREPORT_KAFKA_SASL_PASSWORD"] != "" {
			e["IMREPORT_KAFKA_SASL_MECHANISM"], e["IMREPORT_KAFKA_SASL_USERNAME"] = "PLAIN", "user"
		}
		if e["IMREPORT_SCHEMA_REGISTRY_PASSWORD"] != "" {
			e["IMREPORT_SCHEMA_REGISTRY_USERNAME"] = "user"
		}
		c := mustConfig(t, e)
		logged := startupLog(c)
		var line struct{ Config map[string]any }
		if err := json.Unmarshal([]byte(logged), &line); err != nil {
			t.Fatal(err)
		}
		if len(line.Config) != len(variables) {
			t.Errorf("the start-up line has %d config keys, want one per variable (%d)", len(line.Config), len(variables))
		}
		for _, name := range group {
			if strings.Contains(logged, secrets[name]) {
				t.Errorf("%s logged: %s", name, logged)
			}
			for _, v := range variables {
				if v.Name == name && line.Config[v.logKey()] != "(set)" {
					t.Errorf("%s logged as %v, want (set)", name, line.Config[v.logKey()])
				}
			}
		}
	}
}
