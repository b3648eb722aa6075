package invoke

import (
	"net/http"
	neturl "net/url"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// queuedCall is what the calls that Gantry itself makes (a workflow step's, an event
// delivery's, a schedule's tick's) have in common: a call of path under app, resolved now
// as an async call is (the route and app as they are now, kept in the task).
type queuedCall struct {
	App  string
	Path string // the path under the app, as /r/ calls take it
	// AppID, when set, is the app the call must reach: the app of that name when the call's
	// maker was written, not a later one of the same name (another developer's, perhaps).
	AppID string
	// Owner, when set, must still own the app.
	Owner  string
	Method string // default POST
	Header http.Header
	Body   []byte
}

// prepare resolves a queued call and returns its task and QUEUED execution, ready for the
// queue, with a new ID; the caller adds what its kind of call carries (parent, delivery,
// retry policy). The header is forwarded as a caller's is (no Gantry-* nor hop-by-hop
// headers), and checked against the default format's environment bounds.
func (s *Service) prepare(c queuedCall) (store.StepCall, store.Target, error) {
	tg, err := s.store.Target(c.App, c.Path, "", "")
	switch {
	case err != nil:
		return store.StepCall{}, tg, err
	case c.AppID != "" && tg.AppID != c.AppID:
		return store.StepCall{}, tg, store.Errorf(store.ErrNotFound, "app %q is not the app the call was defined over (it was deleted, and this one made since)", c.App)
	case c.Owner != "" && tg.AppOwner != c.Owner:
		return store.StepCall{}, tg, store.Errorf(store.ErrNotFound, "app %q is not %s's (it changed hands since the call was defined)", c.App, c.Owner)
	}
	route := tg.Route
	if err := s.runner.NetworkAllowed(tg.AppOwner, route.Network); err != nil {
		return store.StepCall{}, tg, err
	}
	url := (&neturl.URL{Path: c.Path}).EscapedPath()
	header := runner.ForwardHeader(c.Header)
	if route.Format == store.FormatDefault {
		if err := runner.CheckCallEnv(url, tg.Params, header); err != nil {
			return store.StepCall{}, tg, err
		}
	}
	method := c.Method
	if method == "" {
		method = http.MethodPost
	}
	id := s.store.NewID()
	t := store.Task{ID: id, Route: route, AppConfig: tg.AppConfig, AppID: tg.AppID, AppVersion: tg.AppVersion, Params: tg.Params,
		Method: method, URL: url, Header: header, Body: c.Body}
	ex := store.Execution{ID: id, App: route.App, AppID: tg.AppID, Route: route.Path, Type: store.TypeAsync}
	return store.StepCall{Task: t, Execution: ex}, tg, nil
}
