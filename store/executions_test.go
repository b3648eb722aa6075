package store

import (
	"testing"
	"time"
)

func TestExecutionDurationAndDone(t *testing.T) {
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		ex   Execution
		dur  time.Duration
		done bool
	}{
		{Execution{Status: StatusQueued}, 0, false},
		{Execution{Status: StatusRunning, StartedAt: start}, 0, false},
		{Execution{Status: StatusSuccess, StartedAt: start, CompletedAt: start.Add(1500 * time.Millisecond)}, 1500 * time.Millisecond, true},
		{Execution{Status: StatusFailed, CompletedAt: start}, 0, true},
		{Execution{Status: StatusCancelled}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.ex.Status, func(t *testing.T) {
			if got := tt.ex.Duration(); got != tt.dur {
				t.Errorf("Duration() = %s, want %s", got, tt.dur)
			}
			if got := tt.ex.Done(); got != tt.done {
				t.Errorf("Done() = %v, want %v", got, tt.done)
			}
		})
	}
}
