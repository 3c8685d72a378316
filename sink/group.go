package sink

import (
	"crypto/tls"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Dialer returns a kafka-go dialer with cfg's SASL and TLS settings, for
// consumer groups and partition readers (imreport media). The error names
// the setting at fault, never a secret.
func (cfg Config) Dialer() (*kafka.Dialer, error) {
	mech, tlsCfg, err := cfg.auth()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{ClientID: "imreport", Timeout: 10 * time.Second, DualStack: true, SASLMechanism: mech, TLS: tlsCfg}, nil
}

// Client returns a kafka-go client of cfg's brokers (for group offset
// requests, which Writer does not make).
func (cfg Config) Client() (*kafka.Client, error) {
	mech, tlsCfg, err := cfg.auth()
	if err != nil {
		return nil, err
	}
	timeout := cfg.ReadTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: timeout,
		Transport: &kafka.Transport{DialTimeout: 10 * time.Second, SASL: mech, TLS: tlsCfg, ClientID: "imreport", IdleTimeout: 30 * time.Second}}, nil
}

// auth returns cfg's SASL mechanism and TLS configuration (nil when off).
func (cfg Config) auth() (sasl.Mechanism, *tls.Config, error) {
	mech, err := mechanism(cfg)
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, err := tlsConfig(cfg)
	return mech, tlsCfg, err
}
