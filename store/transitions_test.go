package store

import (
	"errors"
	"testing"
)

// TestTransitionTable checks the shape of the table; storetest walks every pair through
// each backend.
func TestTransitionTable(t *testing.T) {
	all := []string{StatusQueued, StatusRunning, StatusSuccess, StatusFailed, StatusCancelled}
	for _, from := range all {
		for _, to := range append([]string{""}, all...) {
			if StatusFinal(from) && CanTransition(from, to) {
				t.Errorf("%s is final, yet may go to %q", from, to)
			}
		}
		if CanTransition(from, "") {
			t.Errorf("%s may go back to no status", from)
		}
	}
	for _, ok := range [][2]string{
		{"", StatusQueued}, {"", StatusRunning},
		{StatusQueued, StatusRunning}, {StatusQueued, StatusCancelled},
		{StatusRunning, StatusRunning}, {StatusRunning, StatusQueued},
		{StatusRunning, StatusSuccess}, {StatusRunning, StatusFailed}, {StatusRunning, StatusCancelled},
	} {
		if !CanTransition(ok[0], ok[1]) {
			t.Errorf("%q to %s is refused; the queue and the sync path make it", ok[0], ok[1])
		}
	}
	for _, bad := range [][2]string{{StatusQueued, StatusSuccess}, {StatusQueued, StatusFailed}, {StatusQueued, StatusQueued}, {"", "DONE"}, {"DONE", StatusRunning}} {
		if CanTransition(bad[0], bad[1]) {
			t.Errorf("%q to %q is allowed", bad[0], bad[1])
		}
	}
	if err := TransitionError("x", StatusSuccess, StatusRunning); !errors.Is(err, ErrConflict) {
		t.Fatalf("TransitionError is %v, want ErrConflict", err)
	}
}
