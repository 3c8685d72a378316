package progress

import (
	"io"
	"os"

	"golang.org/x/term"
)

// TerminalOutput returns live progress bars on w when w is a terminal, and
// where logs go: above the bars then, else w (JSON lines only, no bars).
// Closing the bars more than once is harmless.
func TerminalOutput(w io.Writer) (logs io.Writer, bars *Bars) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bars = NewBars(w)
		return bars, bars
	}
	return w, nil
}
