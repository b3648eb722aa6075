package console

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/client/functions"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/models"
)

// The function (route) pages. A route's path has slashes ("/hello/world", "/users/:id"), so
// it is the final wildcard of the URL, without its leading slash and each segment escaped;
// each action has its own prefix, so that no route path can shadow another page:
//
//	GET  /ui/functions                          every function of the caller's apps (?app=, ?owner=)
//	GET  /ui/apps/{app}/new-function            the form of a new function
//	POST /ui/apps/{app}/new-function            create it
//	GET  /ui/apps/{app}/functions/{path...}     the function page: settings, executions, Call panel
//	GET  /ui/apps/{app}/edit-function/{path...} the form of the function
//	POST /ui/apps/{app}/edit-function/{path...} save it (PUT of the API: the form has every field)
//	POST /ui/apps/{app}/delete-function/{path...}
//	POST /ui/apps/{app}/call/{path...}          the Call panel (call.go)
func (c *Console) functionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"functions", c.listFunctions)
	mux.HandleFunc("GET "+Base+"apps/{app}/new-function", c.newFunction)
	mux.HandleFunc("POST "+Base+"apps/{app}/new-function", c.createFunction)
	mux.HandleFunc("GET "+Base+"apps/{app}/functions/{path...}", c.showFunction)
	mux.HandleFunc("GET "+Base+"apps/{app}/edit-function/{path...}", c.editFunction)
	mux.HandleFunc("POST "+Base+"apps/{app}/edit-function/{path...}", c.saveFunction)
	mux.HandleFunc("POST "+Base+"apps/{app}/delete-function/{path...}", c.deleteFunction)
	mux.HandleFunc("POST "+Base+"apps/{app}/call/{path...}", c.callFunction)
}

func init() { funcs["fnURL"] = functionURL }

// functionURL is the console URL of action ("functions", "edit-function", "call", ...) of
// the route path of app.
func functionURL(action, app, path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return Base + "apps/" + url.PathEscape(app) + "/" + action + "/" + strings.Join(segs, "/")
}

// routePath is the route path of a function URL's {path...}.
func routePath(r *http.Request) string { return "/" + r.PathValue("path") }

// functionsData is the functions list.
type functionsData struct {
	Functions []*models.Function
	App       string
	Owner     string
	Pages     pageLinks
}

// listFunctions lists the functions of the caller's apps (GET /v1/functions), or those of
// one app with ?app= (the app's routes).
func (c *Console) listFunctions(w http.ResponseWriter, r *http.Request) {
	d := functionsData{App: r.URL.Query().Get("app"), Owner: r.URL.Query().Get("owner")}
	var err error
	if d.App != "" {
		var ok *routes.ListRoutesOK
		ok, err = c.api.Routes.ListRoutesContext(as(r), routes.NewListRoutesParams().WithApp(d.App).
			WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
		if err == nil {
			for _, rt := range ok.Payload.Routes {
				f := &models.Function{App: d.App, Path: rt.Path, Image: rt.Image, Format: rt.Format, Type: rt.Type, UpdatedAt: rt.UpdatedAt}
				if rt.Memory != nil {
					f.Memory = *rt.Memory
				}
				if rt.Timeout != nil {
					f.Timeout = *rt.Timeout
				}
				d.Functions = append(d.Functions, f)
			}
			d.Pages = pager(r, ok.Payload.NextCursor)
		}
	} else {
		var ok *functions.ListFunctionsOK
		ok, err = c.api.Functions.ListFunctionsContext(as(r), functions.NewListFunctionsParams().
			WithOwner(optional(r, "owner")).WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
		if err == nil {
			d.Functions, d.Pages = ok.Payload.Functions, pager(r, ok.Payload.NextCursor)
		}
	}
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden ||
			(e.Status == http.StatusNotFound && d.App != "") { // a bad filter in the URL
			c.page(w, r, e.Status, "functions", "Functions", "functions", d, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "functions", "Functions", "functions", d, nil)
}

// fnForm is the function form as typed.
type fnForm struct {
	App, Path, Image, Format, Type, Auth                           string
	Memory, Timeout, IdleTimeout, Cpus, MaxConcurrency, MaxRetries string
	Network, Config, Headers, Secrets                              string
	Editing                                                        bool
}

func formOf(app string, rt *models.Route) fnForm {
	f := fnForm{App: app, Path: rt.Path, Image: rt.Image, Format: rt.Format, Type: rt.Type, Auth: rt.Auth,
		Network: rt.Network, Config: formatConfig(rt.Config), Secrets: strings.Join(rt.Secrets, ", "), Editing: true}
	num := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	f.Memory, f.Timeout, f.IdleTimeout = num(rt.Memory), num(rt.Timeout), num(rt.IdleTimeout)
	f.MaxConcurrency, f.MaxRetries = num(rt.MaxConcurrency), num(rt.MaxRetries)
	if rt.Cpus != nil && *rt.Cpus != 0 {
		f.Cpus = strconv.FormatFloat(*rt.Cpus, 'f', -1, 64)
	}
	names := make([]string, 0, len(rt.Headers))
	for k := range rt.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		for _, v := range rt.Headers[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	f.Headers = b.String()
	return f
}

func readFnForm(r *http.Request, app string) fnForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return fnForm{App: app, Path: v("path"), Image: v("image"), Format: v("format"), Type: v("type"), Auth: v("auth"),
		Memory: v("memory"), Timeout: v("timeout"), IdleTimeout: v("idle_timeout"), Cpus: v("cpus"),
		MaxConcurrency: v("max_concurrency"), MaxRetries: v("max_retries"), Network: v("network"),
		Config: r.PostFormValue("config"), Headers: r.PostFormValue("headers"), Secrets: v("secrets")}
}

// route is the route the form describes; a value that is not a number is a 400 naming its
// field, as the API would.
func (f fnForm) route() (*models.Route, error) {
	rt := &models.Route{Path: f.Path, Image: f.Image, Format: f.Format, Type: f.Type, Auth: f.Auth, Network: f.Network}
	ints := []struct {
		text, field string
		to          **int64
	}{
		{f.Memory, "memory", &rt.Memory}, {f.Timeout, "timeout", &rt.Timeout}, {f.IdleTimeout, "idle_timeout", &rt.IdleTimeout},
		{f.MaxConcurrency, "max_concurrency", &rt.MaxConcurrency}, {f.MaxRetries, "max_retries", &rt.MaxRetries},
	}
	for _, n := range ints {
		if n.text == "" {
			continue
		}
		i, err := strconv.ParseInt(n.text, 10, 64)
		if err != nil {
			return nil, &apiError{Status: http.StatusBadRequest, Fields: "route." + n.field,
				Message: fmt.Sprintf("route.%s must be a whole number, not %q", n.field, n.text)}
		}
		*n.to = &i
	}
	if f.Cpus != "" {
		x, err := strconv.ParseFloat(f.Cpus, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, &apiError{Status: http.StatusBadRequest, Fields: "route.cpus",
				Message: fmt.Sprintf("route.cpus must be a number of cores (0.5 is half a core), not %q", f.Cpus)}
		}
		rt.Cpus = &x
	}
	config, err := parseConfig(f.Config, "route.config")
	if err != nil {
		return nil, err
	}
	rt.Config = config
	for i, line := range strings.Split(f.Headers, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, &apiError{Status: http.StatusBadRequest, Fields: "route.headers",
				Message: fmt.Sprintf("headers line %d is not Name: value", i+1)}
		}
		if rt.Headers == nil {
			rt.Headers = map[string][]string{}
		}
		k = http.CanonicalHeaderKey(strings.TrimSpace(k))
		rt.Headers[k] = append(rt.Headers[k], strings.TrimSpace(v))
	}
	rt.Secrets = []string{}
	for s := range strings.SplitSeq(f.Secrets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			rt.Secrets = append(rt.Secrets, s)
		}
	}
	return rt, nil
}

func (c *Console) newFunction(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if _, err := c.getApp(r, app); err != nil { // another's app: the 404 page
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "function-form", "New function of "+app, "functions", fnForm{App: app, Format: "default", Type: "sync", Auth: "none"}, nil)
}

func (c *Console) createFunction(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	form := readFnForm(r, app)
	rt, err := form.route()
	if err == nil {
		_, err = c.api.Routes.CreateRouteContext(as(r), routes.NewCreateRouteParams().WithApp(app).
			WithBody(&models.RouteWrapper{Route: rt}), nil)
	}
	if err != nil {
		if e := errorOf(err); formError(e) {
			c.page(w, r, e.Status, "function-form", "New function of "+app, "functions", form, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, functionURL("functions", app, form.Path), http.StatusSeeOther) //nolint:gosec // G710: a console path, its segments escaped
}

func (c *Console) getRoute(r *http.Request, app, path string) (*models.Route, error) {
	ok, err := c.api.Routes.GetRouteContext(as(r), routes.NewGetRouteParams().WithApp(app).WithRoute(path), nil)
	if err != nil {
		return nil, err
	}
	return ok.Payload.Route, nil
}

func (c *Console) editFunction(w http.ResponseWriter, r *http.Request) {
	app, path := r.PathValue("app"), routePath(r)
	rt, err := c.getRoute(r, app, path)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "function-form", "Edit "+app+path, "functions", formOf(app, rt), nil)
}

// saveFunction replaces the route with the form (PUT): every field is in the form, and a
// field left empty takes its default.
func (c *Console) saveFunction(w http.ResponseWriter, r *http.Request) {
	app, path := r.PathValue("app"), routePath(r)
	form := readFnForm(r, app)
	form.Path, form.Editing = path, true
	rt, err := form.route()
	if err == nil {
		_, _, err = c.api.Routes.PutRouteContext(as(r), routes.NewPutRouteParams().WithApp(app).WithRoute(path).
			WithBody(&models.RouteWrapper{Route: rt}), nil)
	}
	if err != nil {
		if e := errorOf(err); formError(e) {
			c.page(w, r, e.Status, "function-form", "Edit "+app+path, "functions", form, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, functionURL("functions", app, path), http.StatusSeeOther) //nolint:gosec // G710: a console path, its segments escaped
}

func (c *Console) deleteFunction(w http.ResponseWriter, r *http.Request) {
	app, path := r.PathValue("app"), routePath(r)
	_, err := c.api.Routes.DeleteRouteContext(as(r), routes.NewDeleteRouteParams().WithApp(app).WithRoute(path), nil)
	if err != nil {
		e := errorOf(err)
		if formError(e) && isHTMX(r) {
			c.fragment(w, r, e.Status, "function", "delete-result", nil, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	redirect(w, r, Base+"apps/"+url.PathEscape(app))
}

func (c *Console) getApp(r *http.Request, name string) (*models.App, error) {
	ok, err := c.api.Apps.GetAppContext(as(r), apps.NewGetAppParams().WithApp(name), nil)
	if err != nil {
		return nil, err
	}
	return ok.Payload.App, nil
}

// fnData is the function page.
type fnData struct {
	App        string
	Route      *models.Route
	Executions []*models.Execution // the most recent first, shown
	Finished   int                 // how many of the recent executions p50 and p99 are over
	P50, P99   string
	CPUs       string
	Call       callForm
	Result     *callResult // the Call panel's answer, when the page answers a call without htmx
}

// recentExecutions is how many executions the function page reads (p50 and p99 are over
// the finished ones), and shownExecutions how many it lists.
const (
	recentExecutions = 100
	shownExecutions  = 20
)

func (c *Console) loadFunction(r *http.Request, app, path string) (*fnData, error) {
	rt, err := c.getRoute(r, app, path)
	if err != nil {
		return nil, err
	}
	d := &fnData{App: app, Route: rt, Call: callForm{Method: http.MethodPost, Path: path}, CPUs: "no limit"}
	if rt.Cpus != nil && *rt.Cpus > 0 {
		d.CPUs = strconv.FormatFloat(*rt.Cpus, 'f', -1, 64)
	}
	n := int64(recentExecutions)
	list, err := c.api.Executions.ListExecutionsContext(as(r), executions.NewListExecutionsParams().
		WithApp(&app).WithRoute(&path).WithPerPage(&n), nil)
	if err != nil {
		return nil, err
	}
	var durations []int64
	for _, e := range list.Payload.Executions {
		if e.DurationMs != nil && e.Status != "QUEUED" && e.Status != "RUNNING" {
			durations = append(durations, *e.DurationMs)
		}
	}
	d.Executions = list.Payload.Executions
	if len(d.Executions) > shownExecutions {
		d.Executions = d.Executions[:shownExecutions]
	}
	d.Finished = len(durations)
	if len(durations) > 0 {
		d.P50, d.P99 = formatMillis(float64(percentile(durations, 50))), formatMillis(float64(percentile(durations, 99)))
	}
	return d, nil
}

// percentile is the nearest-rank p-th percentile of values (sorted in place).
func percentile(values []int64, p float64) int64 {
	sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
	rank := int(math.Ceil(p / 100 * float64(len(values))))
	if rank < 1 {
		rank = 1
	}
	return values[rank-1]
}

func (c *Console) showFunction(w http.ResponseWriter, r *http.Request) {
	app, path := r.PathValue("app"), routePath(r)
	d, err := c.loadFunction(r, app, path)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "function", app+path, "functions", d, nil)
}
