package handlers

import (
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
