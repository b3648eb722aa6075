package handlers

import (
	"context"
	"testing"

	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store/bolt"
	"github.com/gantry-dev/gantry/workflow"
)

// idleEngine is the real workflow engine over the tests' store, not started: it checks
// and stores definitions, triggers, cancels and deletes as a server's does, but moves no
// run on by itself (no movers, no async workers behind it), so that the tests move runs
// through the store as they need. The engine itself is tested end to end in package
// workflow and in cmd/gantry, over Docker.
func idleEngine(s *bolt.DB) *workflow.Engine {
	return workflow.New(s, invoke.New(s, &seenRunner{}, invoke.Options{}), workflow.Options{})
}

// startEvents is a started events service over s, whose deliveries' calls stay queued (no
// worker runs them) and whose workflow runs are engine's.
func startEvents(t testing.TB, s *bolt.DB, engine *workflow.Engine) *events.Service {
	t.Helper()
	svc := events.New(s, invoke.New(s, &seenRunner{}, invoke.Options{}), engine, events.Options{})
	svc.Start(context.Background())
	t.Cleanup(svc.Stop)
	return svc
}
