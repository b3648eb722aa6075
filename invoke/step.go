package invoke

import (
	"fmt"
	"math"
	"net/http"
	neturl "net/url"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/runner"
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
	tg, err := s.store.Target(req.App, req.Path, "", "")
	if err != nil {
		return store.StepCall{}, err
	}
	if req.AppID != "" && tg.AppID != req.AppID {
		return store.StepCall{}, store.Errorf(store.ErrNotFound, "app %q is not the app the workflow was defined over (it was deleted, and this one made since)", req.App)
	}
	route := tg.Route
	if err := s.runner.NetworkAllowed(tg.AppOwner, route.Network); err != nil {
		return store.StepCall{}, err
	}
	route.MaxRetries = 0
	if req.Timeout > 0 {
		route.Timeout = int64(math.Ceil(req.Timeout.Seconds()))
	}
	url := (&neturl.URL{Path: req.Path}).EscapedPath()
	header := runner.ForwardHeader(req.Header)
	if route.Format == store.FormatDefault {
		if err := runner.CheckCallEnv(url, tg.Params, header); err != nil {
			return store.StepCall{}, err
		}
	}
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	if req.Parent == "" {
		return store.StepCall{}, fmt.Errorf("step call of %s%s: no parent run", req.App, req.Path)
	}
	if err := store.ValidateSecretRefs("secrets", req.Secrets, false); err != nil { // "ssh:@caller" must be resolved by now
		return store.StepCall{}, err
	}
	id := s.store.NewID()
	t := store.Task{ID: id, Route: route, AppConfig: tg.AppConfig, AppID: tg.AppID, AppVersion: tg.AppVersion, Params: tg.Params,
		Method: method, URL: url, Header: header, Body: req.Body, Parent: req.Parent,
		Secrets: slices.Clone(req.Secrets), SecretsOwner: req.SecretsOwner, SecretsLent: req.SecretsLent}
	ex := store.Execution{ID: id, App: route.App, AppID: tg.AppID, Route: route.Path, Type: store.TypeAsync, Parent: req.Parent, Step: req.Step}
	return store.StepCall{Task: t, Execution: ex}, nil
}
