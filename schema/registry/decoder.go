package registry

import "github.com/imreport/imreport/schema"

// Decoder returns a decoder of record values by their framing, resolving
// Confluent schema ids at cfg's registry; with no URLs it decodes
// single-object values only. The error is schema.NewCodec's or New's.
func Decoder(cfg Config) (*schema.Decoder, error) {
	codec, err := schema.NewCodec()
	if err != nil {
		return nil, err
	}
	var reg schema.Registry
	if len(cfg.URLs) > 0 {
		if reg, err = New(cfg); err != nil {
			return nil, err
		}
	}
	return schema.NewDecoder(codec, reg), nil
}
