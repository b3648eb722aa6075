package handlers

import (
	"math"
	"testing"
	"time"
)

// TestWaaSLogsWindowAtTheEdges: from and size at the edges of int64 answer a window of
// the entries, never a panic (from+size would wrap around).
func TestWaaSLogsWindowAtTheEdges(t *testing.T) {
	entries := []waasLogEntry{{content: "a", time: time.Now()}, {content: "b", time: time.Now()}}
	for _, tt := range []struct {
		name       string
		from, size int64
		want       int
	}{
		{"a size up to the largest int64 takes the rest", 1, math.MaxInt64, 1},
		{"size -1 takes the rest", 0, -1, 2},
		{"a from past the end takes nothing", math.MaxInt64, math.MaxInt64, 0},
		{"a size of one takes one", 0, 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := waasLogs(entries, tt.from, tt.size)
			if len(got.Logs) != tt.want || got.TotalResults == nil || *got.TotalResults != 2 {
				t.Fatalf("%d entries (total %v), want %d of 2", len(got.Logs), got.TotalResults, tt.want)
			}
		})
	}
}
