package main

import "testing"

func TestDrainFiguresSayWhatTheDrainWaitsFor(t *testing.T) {
	for _, tc := range []struct {
		f    drainFigures
		want string
	}{
		{drainFigures{}, "nothing"},
		{drainFigures{running: 1}, "1 running call (1 sync, 0 async)"},
		{drainFigures{running: 3, async: 1}, "3 running calls (2 sync, 1 async)"},
		{drainFigures{running: 0, async: 2}, "2 running calls (0 sync, 2 async)"}, // leased, not started yet
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.f.String(); got != tc.want {
				t.Fatalf("%+v: %q, want %q", tc.f, got, tc.want)
			}
		})
	}
}
