package sink

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// Dialer returns a kafka-go dialer with cfg's SASL and TLS settings, for
// consumer groups and partition readers (imreport media). The error names
// the setting at fault, never a secret.
func (cfg Config) Dialer() (*kafka.Dialer, error) {
	mech, err := mechanism(cfg)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{ClientID: "imreport", Timeout: 10 * time.Second, DualStack: true, SASLMechanism: mech, TLS: tlsCfg}, nil
}

// Client returns a kafka-go client of cfg's brokers (for group offset
// requests, which Writer does not make).
func (cfg Config) Client() (*kafka.Client, error) {
	mech, err := mechanism(cfg)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsConfig(cfg)
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
