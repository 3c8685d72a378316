package audit

import (
	"runtime"
	"testing"

	"github.com/imreport/imreport/sink"
)

// BenchmarkTallyMemory reports the heap the audit keeps per msgid read.
func BenchmarkTallyMemory(b *testing.B) {
	member := func(Fields, string) []int { return []int{0} }
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t := newTally()
		const n = 1_000_000
		for i := range n {
			t.add(sink.Found{MsgID: int64(i) + 1}, Fields{CreateTime: 1_700_000_000 + int64(i%86400), TargetType: string([]byte("single"))}, nil, member)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/msgid")
		runtime.KeepAlive(t)
	}
}
