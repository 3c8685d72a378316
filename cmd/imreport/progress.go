package main

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/imreport/imreport/internal/service/progress"
)

// terminalOutput returns live progress bars on w when w is a terminal, and
// where logs go: above the bars then, else w (JSON lines only, no bars).
// runPipeline closes the bars; closing them again is harmless.
func terminalOutput(w io.Writer) (logs io.Writer, bars *progress.Bars) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bars = progress.NewBars(w)
		return bars, bars
	}
	return w, nil
}

// progressPlan is what the progress reporter of a run of cfg needs.
func progressPlan(cfg Config) progress.Plan {
	return progress.Plan{Interval: cfg.ProgressEvery, Settle: cfg.Settle, End: cfg.End, Lookback: cfg.Lookback, Window: cfg.Window}
}
