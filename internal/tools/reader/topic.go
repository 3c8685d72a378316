package reader

import (
	"context"
	"io"

	"github.com/imreport/imreport/schema/registry"
	"github.com/imreport/imreport/sink"
)

// PrintTopic is Print over the topic of kafka (read only: nothing is
// created or written), decoding through reg's registry (no URLs: the
// single-object format only).
func PrintTopic(ctx context.Context, kafka sink.Config, reg registry.Config, opts sink.ConsumeOptions, out io.Writer) (Stats, error) {
	w, err := sink.New(kafka)
	if err != nil {
		return Stats{}, err
	}
	defer w.Close()
	dec, err := registry.Decoder(reg)
	if err != nil {
		return Stats{}, err
	}
	return Print(ctx, w, dec, opts, out)
}
