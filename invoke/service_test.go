package invoke

import (
	"errors"
	"testing"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// TestImageAndNetworkChecksAreTheRunners: the route checks of the management API are the runner's.
func TestImageAndNetworkChecksAreTheRunners(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.EnsureImage(t.Context(), "img"); err != nil {
		t.Fatal(err)
	}
	e.fr.netErr = runner.ErrNetworkNotAllowed
	if err := e.svc.NetworkAllowed("ada", "team"); !errors.Is(err, runner.ErrNetworkNotAllowed) {
		t.Fatalf("NetworkAllowed: %v", err)
	}
}

// TestGantryHeaders: Gantry-* request headers, in any case, are Gantry's.
func TestGantryHeaders(t *testing.T) {
	for name, want := range map[string]bool{"Gantry-Priority": true, "gantry-call-id": true, "GANTRY-X": true, "Gantry": false, "X-Gantry-Id": false} {
		if got := IsGantryHeader(name); got != want {
			t.Errorf("IsGantryHeader(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestRouteValuesAreTheRunners: the formats and networks a route names are the runner's
// own values, passed through unchanged.
func TestRouteValuesAreTheRunners(t *testing.T) {
	for route, run := range map[string]string{
		store.FormatDefault: runner.FormatDefault, store.FormatHTTP: runner.FormatHTTP, store.FormatJSON: runner.FormatJSON,
		store.NetworkBridge: runner.NetworkBridge, "net:" + store.NetworkNone: "net:" + runner.NetworkNone,
	} {
		if route != run {
			t.Errorf("route value %q is %q to the runner", route, run)
		}
	}
	for reason, want := range map[string]string{runner.ReasonBadExit: store.ReasonBadExit, runner.ReasonKilled: store.ReasonKilled, "other": store.ReasonBadExit} {
		if got := failureReason(reason); got != want {
			t.Errorf("failureReason(%q) = %q, want %q", reason, got, want)
		}
	}
}
