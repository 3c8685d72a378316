package main

import (
	"github.com/imreport/imreport/internal/service/progress"
)

// progressPlan is what the progress reporter of a run of cfg needs.
func progressPlan(cfg Config) progress.Plan {
	return progress.Plan{Interval: cfg.ProgressEvery, Settle: cfg.Settle, End: cfg.End, Lookback: cfg.Lookback, Window: cfg.Window}
}
