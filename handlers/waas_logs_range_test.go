package handlers

import (
	"math"
	"testing"
)

// TestWaaSLogsWindowAtTheEdges: from and size at the edges of int64 make a window of the
// entries, never one that wraps around (from+size past the largest int64).
func TestWaaSLogsWindowAtTheEdges(t *testing.T) {
	for _, tt := range []struct {
		name          string
		i, from, size int64
		want          bool
	}{
		{"a size up to the largest int64 takes the rest", 5, 1, math.MaxInt64, true},
		{"size -1 takes the rest", 5, 0, -1, true},
		{"an entry before from is out", 0, 1, math.MaxInt64, false},
		{"a from at the largest int64 takes nothing before it", 5, math.MaxInt64, math.MaxInt64, false},
		{"a size of one takes from only", 2, 1, 1, false},
		{"a size of one takes from", 1, 1, 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := inWindow(tt.i, tt.from, tt.size); got != tt.want {
				t.Fatalf("inWindow(%d, %d, %d) = %v", tt.i, tt.from, tt.size, got)
			}
		})
	}
}
