package main

import (
	"os"
	"strings"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/schema/registry"
)

// loadRegistry reads the Schema Registry and value format variables into c,
// reporting each problem through bad. It needs c.KafkaTopic (the subject).
func (c *Config) loadRegistry(e env, bad func(name, format string, args ...any)) {
	const (
		urlVar   = "IMREPORT_SCHEMA_REGISTRY_URL"
		userVar  = "IMREPORT_SCHEMA_REGISTRY_USERNAME"
		passVar  = "IMREPORT_SCHEMA_REGISTRY_PASSWORD"
		tokenVar = "IMREPORT_SCHEMA_REGISTRY_BEARER_TOKEN"
		caVar    = "IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE"
	)
	r := registry.Config{
		URLs:        splitList(e.get("IMREPORT_SCHEMA_REGISTRY_URL")),
		Username:    strings.TrimSpace(e.get("IMREPORT_SCHEMA_REGISTRY_USERNAME")),
		Password:    e.get("IMREPORT_SCHEMA_REGISTRY_PASSWORD"),
		BearerToken: strings.TrimSpace(e.get("IMREPORT_SCHEMA_REGISTRY_BEARER_TOKEN")),
		TLSCAFile:   strings.TrimSpace(e.get("IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE")),
	}
	https := false
	for _, u := range r.URLs {
		if err := registry.CheckURL(u); err != nil {
			bad(urlVar, "%v", err)
		}
		https = https || strings.HasPrefix(u, "https://")
	}
	if len(r.URLs) == 0 {
		for _, v := range [][2]string{{userVar, r.Username}, {passVar, r.Password}, {tokenVar, r.BearerToken}, {caVar, r.TLSCAFile}} {
			if v[1] != "" {
				bad(v[0], "is set but %s is not", urlVar)
			}
		}
	} else {
		switch {
		case r.Username != "" && r.Password == "":
			bad(passVar, "required with %s", userVar)
		case r.Username == "" && r.Password != "":
			bad(userVar, "required with %s", passVar)
		}
		if r.BearerToken != "" && r.Username != "" {
			bad(tokenVar, "and %s are both set: use one", userVar)
		}
		if r.TLSCAFile != "" {
			if !https {
				bad(caVar, "is set but no %s is https://", urlVar)
			} else if _, err := os.Stat(r.TLSCAFile); err != nil {
				bad(caVar, "%q cannot be read", r.TLSCAFile)
			}
		}
	}
	c.Registry = r

	subject, err := registry.Subject(strings.TrimSpace(e.get("IMREPORT_SCHEMA_SUBJECT_STRATEGY")), c.KafkaTopic, schema.FullName)
	if err != nil {
		bad("IMREPORT_SCHEMA_SUBJECT_STRATEGY", "%q is not one of topic, record, topic_record", e.get("IMREPORT_SCHEMA_SUBJECT_STRATEGY"))
	}
	c.Subject = subject

	switch f := strings.ToLower(strings.TrimSpace(e.get("IMREPORT_VALUE_FORMAT"))); f {
	case "auto":
		c.ValueFormat = schema.SingleObject
		if len(r.URLs) > 0 {
			c.ValueFormat = schema.Confluent
		}
	case "confluent", "single-object":
		c.ValueFormat, _ = schema.ParseFraming(f)
		if c.ValueFormat == schema.Confluent && len(r.URLs) == 0 {
			bad("IMREPORT_VALUE_FORMAT", "confluent needs %s", urlVar)
		}
	default:
		bad("IMREPORT_VALUE_FORMAT", "%q is not one of auto, confluent, single-object", e.get("IMREPORT_VALUE_FORMAT"))
	}
}
