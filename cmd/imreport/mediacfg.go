package main

import (
	"strings"
	"time"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/schema/registry"
	"github.com/imreport/imreport/sink"
)

// mediaConfig is the configuration of imreport media.
type mediaConfig struct {
	APIURL          string
	StoreURL        string
	Topic           string
	Group           string
	RateLimit       float64
	Concurrency     int
	MaxSize         int
	MaxAttempts     int
	DownloadTimeout time.Duration
	SpoolDir        string
	SessionTimeout  time.Duration
	Subject         string // the media records' registry subject (IMREPORT_SCHEMA_SUBJECT_STRATEGY)
}

// loadMedia reads imreport media's variables (needs c.KafkaTopic).
func (c *Config) loadMedia(e env, p *problems) {
	m := &c.Media
	m.APIURL = strings.TrimRight(strings.TrimSpace(e.get("IMREPORT_IM_API_URL")), "/")
	if !strings.HasPrefix(m.APIURL, "http://") && !strings.HasPrefix(m.APIURL, "https://") {
		p.bad("IMREPORT_IM_API_URL", "%q is not an http(s) URL", e.get("IMREPORT_IM_API_URL"))
	}
	m.StoreURL = strings.TrimSpace(e.get("IMREPORT_MEDIA_URL"))
	if !strings.HasPrefix(m.StoreURL, "file:///") && !strings.HasPrefix(m.StoreURL, "s3://") {
		p.bad("IMREPORT_MEDIA_URL", "is neither file:///dir nor s3://bucket/prefix")
	}
	m.Topic = strings.TrimSpace(e.get("IMREPORT_MEDIA_TOPIC"))
	if m.Topic == "" {
		m.Topic = c.KafkaTopic + ".media"
	}
	if !sink.ValidTopic(m.Topic) || m.Topic == c.KafkaTopic || m.Topic == c.KafkaDLQTopic {
		p.bad("IMREPORT_MEDIA_TOPIC", "%q is not a valid topic name distinct from the topic and its dead-letter topic", m.Topic)
	}
	// The subject follows the messages' strategy: topic -> <media topic>-value,
	// record -> io.imreport.MediaItem, topic_record -> both (a bad strategy
	// is reported with the registry's variables).
	m.Subject, _ = registry.Subject(strings.TrimSpace(e.get("IMREPORT_SCHEMA_SUBJECT_STRATEGY")), m.Topic, schema.MediaFullName)
	m.Group = strings.TrimSpace(e.get("IMREPORT_MEDIA_GROUP"))
	if m.Group == "" {
		p.bad("IMREPORT_MEDIA_GROUP", "required")
	}
	p.rate("IMREPORT_MEDIA_RATE_LIMIT", e.get("IMREPORT_MEDIA_RATE_LIMIT"), &m.RateLimit)
	p.integer("IMREPORT_MEDIA_CONCURRENCY", e.get("IMREPORT_MEDIA_CONCURRENCY"), &m.Concurrency, 1, 256)
	p.integer("IMREPORT_MEDIA_MAX_SIZE", e.get("IMREPORT_MEDIA_MAX_SIZE"), &m.MaxSize, 1, 1<<40)
	p.integer("IMREPORT_MEDIA_MAX_ATTEMPTS", e.get("IMREPORT_MEDIA_MAX_ATTEMPTS"), &m.MaxAttempts, 1, 100)
	p.dur("IMREPORT_MEDIA_DOWNLOAD_TIMEOUT", e.get("IMREPORT_MEDIA_DOWNLOAD_TIMEOUT"), &m.DownloadTimeout, time.Second)
	m.SpoolDir = strings.TrimSpace(e.get("IMREPORT_MEDIA_SPOOL_DIR"))
	p.dur("IMREPORT_MEDIA_SESSION_TIMEOUT", e.get("IMREPORT_MEDIA_SESSION_TIMEOUT"), &m.SessionTimeout, 6*time.Second)
}
