package invoke

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// StepRequest is a call that a workflow step makes: resolved now, and accepted by the
// workflow engine in the same store write as the change of its run (store.UpdateRun).
type StepRequest struct {
	App string
	// AppID, when set, is the app the step must call: the app of that name when the
	// workflow was defined, not a later one of the same name (another developer's, perhaps).
	AppID  string
	Path   string // the path under the app, as /r/ calls take it
	Method string
	Header http.Header
	Body   []byte
	// Timeout, when positive, is the call's time limit instead of its route's (whole
	// seconds, rounded up).
	Timeout time.Duration
	// Parent and Step name the run and the step whose attempt this call is.
	Parent, Step string
	// Secrets are secrets the call gets besides its route's: the step's, by name, with
	// "ssh:@caller" already resolved to the run's caller ("ssh:<user>"). Names only: the
	// task keeps them (Task.Secrets), and the values are read when a container starts.
	Secrets []string
	// SecretsOwner owns the secrets of Secrets (the workflow's owner), but for the SSH key
	// of SecretsLent (the run's caller, "ssh:@caller"). See store.Task.
	SecretsOwner, SecretsLent string
}

// StepCall resolves a step's call to its function as an async call would be (the route
// and app as they are now, kept in the task) and returns it ready for the queue. The
// route's max_retries does not apply: the step's own retry policy makes each further
// attempt a new call, which the run lists. Gantry's and Docker's own failures are retried
// within the call as for every async call. The step's secrets are checked when the call
// runs, as every call's: one that does not exist fails the call (FAILED, naming it).
func (s *Service) StepCall(req StepRequest) (store.StepCall, error) {
	if req.Parent == "" {
		return store.StepCall{}, fmt.Errorf("step call of %s%s: no parent run", req.App, req.Path)
	}
	if err := store.ValidateSecretRefs("secrets", req.Secrets, false); err != nil { // "ssh:@caller" must be resolved by now
		return store.StepCall{}, err
	}
	c, _, err := s.prepare(queuedCall{App: req.App, Path: req.Path, AppID: req.AppID, Method: req.Method, Header: req.Header, Body: req.Body})
	if err != nil {
		return store.StepCall{}, err
	}
	c.Task.Route.MaxRetries = 0
	if req.Timeout > 0 {
		c.Task.Route.Timeout = int64(math.Ceil(req.Timeout.Seconds()))
	}
	c.Task.Parent, c.Execution.Parent, c.Execution.Step = req.Parent, req.Parent, req.Step
	c.Task.Secrets, c.Task.SecretsOwner, c.Task.SecretsLent = slices.Clone(req.Secrets), req.SecretsOwner, req.SecretsLent
	return c, nil
}
