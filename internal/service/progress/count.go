package progress

import (
	"bytes"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// CountLines shows on bars (as the bar "read") how many lines were written
// to out against a planned count, redrawn every refresh: imreport read,
// whose records are one line each. Set the plan with planned (negative:
// unknown, e.g. following); stop draws the final count and closes the bars.
func CountLines(bars *Bars, out io.Writer, refresh time.Duration) (counted io.Writer, planned func(int64), stop func()) {
	var plan, lines atomic.Int64
	plan.Store(-1)
	draw := func() {
		n, total := lines.Load(), plan.Load()
		text := fmt.Sprintf(" %d records", n)
		if total >= 0 {
			text = fmt.Sprintf(" %d/%d records", n, total)
		}
		bars.Count("read", n, total, text)
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(refresh)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				draw()
			}
		}
	}()
	counted = writerFunc(func(p []byte) (int, error) {
		lines.Add(int64(bytes.Count(p, []byte("\n"))))
		return out.Write(p)
	})
	return counted, plan.Store, func() {
		close(done)
		<-stopped
		draw()
		bars.Close()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
