package audit

import "context"

// RepairFunc repairs what rep found missing (Repair, with the pipeline's
// checkpoint).
type RepairFunc func(ctx context.Context, rep *Report) (*RepairReport, error)

// RepairError is returned by RunAndRepair when the repair failed; the
// Outcome then holds the first audit and what the repair did.
type RepairError struct{ Err error }

func (e *RepairError) Error() string { return e.Err.Error() }
func (e *RepairError) Unwrap() error { return e.Err }

// RunAndRepair audits (Run) and, when repair is set and the audit is not
// clean, repairs and audits again. An error of either audit returns an
// empty Outcome; a failed repair a *RepairError.
func RunAndRepair(ctx context.Context, cfg Config, api API, topics Topics, stats Statistics, repair RepairFunc) (Outcome, error) {
	before, err := Run(ctx, cfg, api, topics, stats)
	if err != nil {
		return Outcome{}, err
	}
	if repair == nil || before.Summary.Clean {
		return Outcome{Before: before}, nil
	}
	rr, err := repair(ctx, before)
	if err != nil {
		return Outcome{Before: before, Repair: rr}, &RepairError{Err: err}
	}
	after, err := Run(ctx, cfg, api, topics, stats)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Before: before, Repair: rr, After: after}, nil
}
