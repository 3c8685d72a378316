package main

import (
	"strings"
	"testing"

	"github.com/imreport/imreport/schema"
)

func TestConfigValueFormat(t *testing.T) {
	cases := []struct {
		env     map[string]string
		format  schema.Framing
		subject string
	}{
		{map[string]string{}, schema.SingleObject, "imreport.messages-value"},
		{map[string]string{"IMREPORT_SCHEMA_REGISTRY_URL": "http://sr:8081, https://sr2:8081"}, schema.Confluent, "imreport.messages-value"},
		{map[string]string{"IMREPORT_SCHEMA_REGISTRY_URL": "http://sr:8081", "IMREPORT_VALUE_FORMAT": "single-object"}, schema.SingleObject, "imreport.messages-value"},
		{map[string]string{"IMREPORT_SCHEMA_REGISTRY_URL": "http://sr:8081", "IMREPORT_SCHEMA_SUBJECT_STRATEGY": "record"}, schema.Confluent, "io.imreport.Message"},
		{map[string]string{"IMREPORT_SCHEMA_REGISTRY_URL": "http://sr:8081", "IMREPORT_SCHEMA_SUBJECT_STRATEGY": "topic_record", "IMREPORT_KAFKA_TOPIC": "chat"}, schema.Confluent, "chat-io.imreport.Message"},
	}
	for _, tc := range cases {
		env := validEnv()
		for k, v := range tc.env {
			env[k] = v
		}
		c, err := configOf(env)
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if c.ValueFormat != tc.format || c.Subject != tc.subject {
			t.Errorf("%v: format %v subject %q, want %v %q", tc.env, c.ValueFormat, c.Subject, tc.format, tc.subject)
		}
	}
}

// TestConfigRegistryProblems: every registry problem at once, named by its
// variable, without quoting a password or token.
func TestConfigRegistryProblems(t *testing.T) {
	env := validEnv()
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = "https://u:pw-in-url-77@sr:8081,ftp://sr"
	env["IMREPORT_SCHEMA_REGISTRY_PASSWORD"] = "sr-password-55"
	env["IMREPORT_SCHEMA_REGISTRY_BEARER_TOKEN"] = "sr-token-66"
	env["IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE"] = "/nonexistent/ca.pem"
	env["IMREPORT_SCHEMA_SUBJECT_STRATEGY"] = "TopicNameStrategy"
	env["IMREPORT_VALUE_FORMAT"] = "json"
	msg := configError(t, env).Error()
	for _, want := range []string{
		"IMREPORT_SCHEMA_REGISTRY_URL: URL https://(credentials)@sr:8081 carries credentials",
		"IMREPORT_SCHEMA_REGISTRY_URL: URL ftp://sr is not http:// or https://",
		"IMREPORT_SCHEMA_REGISTRY_USERNAME: required with IMREPORT_SCHEMA_REGISTRY_PASSWORD",
		"IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE: \"/nonexistent/ca.pem\" cannot be read",
		"IMREPORT_SCHEMA_SUBJECT_STRATEGY: \"TopicNameStrategy\" is not one of topic, record, topic_record",
		"IMREPORT_VALUE_FORMAT: \"json\" is not one of auto, confluent, single-object",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	for _, secret := range []string{"pw-in-url-77", "sr-password-55", "sr-token-66"} {
		if strings.Contains(msg, secret) {
			t.Errorf("a secret in the error:\n%s", msg)
		}
	}

	env = validEnv()
	env["IMREPORT_VALUE_FORMAT"] = "confluent"
	env["IMREPORT_SCHEMA_REGISTRY_USERNAME"] = "u"
	env["IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE"] = "/etc/ca.pem"
	_, err := configOf(env)
	for _, want := range []string{
		"IMREPORT_VALUE_FORMAT: confluent needs IMREPORT_SCHEMA_REGISTRY_URL",
		"IMREPORT_SCHEMA_REGISTRY_USERNAME: is set but IMREPORT_SCHEMA_REGISTRY_URL is not",
		"IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE: is set but IMREPORT_SCHEMA_REGISTRY_URL is not",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	env = validEnv()
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = "http://sr:8081"
	env["IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE"] = "/etc/hostname"
	if _, err = configOf(env); err == nil || !strings.Contains(err.Error(), "no IMREPORT_SCHEMA_REGISTRY_URL is https://") {
		t.Errorf("CA file with http only: %v", err)
	}
}

func TestConfigRegistrySecretsLoggedAsSet(t *testing.T) {
	env := validEnv()
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = "http://sr:8081"
	env["IMREPORT_SCHEMA_REGISTRY_USERNAME"] = "svc"
	env["IMREPORT_SCHEMA_REGISTRY_PASSWORD"] = "sr-pass-Zq9"
	c := mustConfig(t, env)
	s := startupLog(c)
	wantIn(t, "the start-up log", s, `"schema_registry_password":"(set)"`, `"schema_registry_bearer_token":"(unset)"`, `"value_format":"confluent"`, `"schema_subject":"imreport.messages-value"`, `"schema_registry_username":"svc"`)
	if strings.Contains(s, "sr-pass-Zq9") {
		t.Errorf("password logged: %s", s)
	}
}
