package sink

import "testing"

func TestBatchSize(t *testing.T) {
	for _, c := range []struct{ n, partitions, want int }{
		{1000, 0, 1000}, // unknown: never split
		{1000, 1, 1000},
		{1000, 6, 2*167 + 16},
		{1000, 12, 2*84 + 16},
		{10, 6, 10}, // never above n
		{0, 6, 1},
		{0, 0, 1},
	} {
		if got := batchSize(c.n, c.partitions); got != c.want {
			t.Errorf("batchSize(%d, %d) = %d, want %d", c.n, c.partitions, got, c.want)
		}
	}
}
