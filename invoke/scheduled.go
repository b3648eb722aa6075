package invoke

import (
	"fmt"
	"net/http"
	neturl "net/url"
	"time"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Headers that a call made by a schedule carries (in its task): the schedule's name and
// the tick it fires, RFC 3339 in UTC. A tick's call is made once, so the tick is the
// call's idempotency key.
const (
	HeaderSchedule     = "Gantry-Schedule"
	HeaderScheduleTick = "Gantry-Schedule-Tick"
)

// ScheduledRequest is the call that a schedule's tick makes: resolved when it fires, and
// accepted by the scheduler in the same store write as the claim of its tick
// (store.ClaimTick).
type ScheduledRequest struct {
	App    string
	Path   string // the path under the app, as /r/ calls take it
	Method string // default POST
	Header http.Header
	Body   []byte
	// Schedule and Tick name the schedule and the tick that makes the call.
	Schedule string
	Tick     time.Time
}

// ScheduledCall resolves a schedule's call to its function as an async call would be (the
// route and app as they are now, kept in the task) and returns it ready for the queue,
// with HeaderSchedule and HeaderScheduleTick set over the schedule's own headers (whose
// Gantry-* ones are dropped, as a caller's are). The route's max_retries applies, as to
// every async call: a tick fires once, and its call is retried as any call.
func (s *Service) ScheduledCall(req ScheduledRequest) (store.StepCall, error) {
	if req.Schedule == "" || req.Tick.IsZero() {
		return store.StepCall{}, fmt.Errorf("scheduled call of %s%s: no schedule or tick", req.App, req.Path)
	}
	tg, err := s.store.Target(req.App, req.Path, "", "")
	if err != nil {
		return store.StepCall{}, err
	}
	route := tg.Route
	if err := s.runner.NetworkAllowed(tg.AppOwner, route.Network); err != nil {
		return store.StepCall{}, err
	}
	url := (&neturl.URL{Path: req.Path}).EscapedPath()
	header := runner.ForwardHeader(req.Header)
	header.Set(HeaderSchedule, req.Schedule)
	header.Set(HeaderScheduleTick, req.Tick.UTC().Format(time.RFC3339))
	if route.Format == store.FormatDefault {
		if err := runner.CheckCallEnv(url, tg.Params, header); err != nil {
			return store.StepCall{}, err
		}
	}
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	id := s.store.NewID()
	t := store.Task{ID: id, Route: route, AppConfig: tg.AppConfig, AppID: tg.AppID, AppVersion: tg.AppVersion, Params: tg.Params,
		Method: method, URL: url, Header: header, Body: req.Body}
	ex := store.Execution{ID: id, App: route.App, AppID: tg.AppID, Route: route.Path, Type: store.TypeAsync}
	return store.StepCall{Task: t, Execution: ex}, nil
}
