package demo

import (
	"errors"
	"fmt"

	"github.com/imreport/imreport/schema"
)

// Check returns the first problem with o, as imreport demo's flags name
// them: the live traffic's switches, the history's sizes and fractions,
// then the value format.
func (o Options) Check() error {
	if o.Live != nil {
		if err := o.Live.Check(); err != nil {
			return err
		}
	}
	if o.Messages < 0 || o.Bursts < 0 || o.BurstSize < 0 || o.Hours < 1 || o.Faults < 0 || o.Faults > 0.1 || o.Poison < 0 || o.Poison > 0.1 {
		return errors.New("--messages, --bursts and --burst-size must be >= 0, --hours >= 1, --faults and --poison within 0..0.1")
	}
	if _, err := schema.ParseFraming(o.Format); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	return nil
}
