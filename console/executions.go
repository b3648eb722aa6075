package console

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/gen/models"
)

// The executions pages: the list (filtered by URL, its rows live while any is not final)
// and an execution's page (status, timings, output and log live until it is final; Cancel).

func (c *Console) executionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"executions", c.listExecutions)
	mux.HandleFunc("GET "+Base+"executions/stream", c.streamExecutions)
	mux.HandleFunc("GET "+Base+"executions/{id}", c.showExecution)
	mux.HandleFunc("GET "+Base+"executions/{id}/stream", c.streamExecution)
	mux.HandleFunc("POST "+Base+"executions/{id}/cancel", c.cancelExecution)
}

// sinceWindows are the time filter's choices: ?since= is one of these relative windows
// (last 15 minutes, ...), turned into the API's since=now-window on every read (so that a
// shared link means "recent" when opened), or an RFC 3339 time given as is; ?until= too.
var sinceWindows = []struct{ Value, Label string }{
	{"15m", "Last 15 minutes"}, {"1h", "Last hour"}, {"24h", "Last 24 hours"}, {"168h", "Last 7 days"},
}

// executionFilter is the list's filter, as the URL carries it.
type executionFilter struct {
	App, Route, Status, Kind, Since, Until string
}

func filterOf(r *http.Request) executionFilter {
	q := r.URL.Query()
	return executionFilter{App: q.Get("app"), Route: q.Get("route"), Status: q.Get("status"), Kind: q.Get("kind"),
		Since: q.Get("since"), Until: q.Get("until")}
}

// apiTime reads a time filter: a relative window ("15m": that long before now) or an RFC
// 3339 time. Anything else goes to the API as it is, which refuses it naming the field.
func (c *Console) apiTime(v string) (*strfmt.DateTime, *apiError) {
	if v == "" {
		return nil, nil
	}
	for _, w := range sinceWindows {
		if v == w.Value {
			d, _ := time.ParseDuration(v)
			t := strfmt.DateTime(c.now().Add(-d).UTC())
			return &t, nil
		}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Fields: "since",
			Message: "the time " + v + " is neither one of the windows offered nor an RFC 3339 time (2006-01-02T15:04:05Z)"}
	}
	dt := strfmt.DateTime(t)
	return &dt, nil
}

type executionsData struct {
	Filter     executionFilter
	Windows    any
	Statuses   []string
	Executions []*models.Execution
	Pages      pageLinks
	Stream     string // the rows' live stream, "" when every row is final
}

// readExecutions reads the page of executions the request's URL asks for.
func (c *Console) readExecutions(r *http.Request) ([]*models.Execution, string, error) {
	f := filterOf(r)
	p := executions.NewListExecutionsParams().
		WithApp(optional(r, "app")).WithRoute(optional(r, "route")).WithStatus(optional(r, "status")).
		WithKind(optional(r, "kind")).WithCursor(optional(r, "cursor")).WithPerPage(perPage(r))
	since, e := c.apiTime(f.Since)
	if e != nil {
		return nil, "", e
	}
	until, e := c.apiTime(f.Until)
	if e != nil {
		e.Fields = "until"
		return nil, "", e
	}
	ok, err := c.api.Executions.ListExecutionsContext(as(r), p.WithSince(since).WithUntil(until), nil)
	if err != nil {
		return nil, "", err
	}
	return ok.Payload.Executions, ok.Payload.NextCursor, nil
}

func (c *Console) listExecutions(w http.ResponseWriter, r *http.Request) {
	data := executionsData{Filter: filterOf(r), Windows: sinceWindows, Statuses: statuses}
	list, next, err := c.readExecutions(r)
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest { // a bad filter in the URL
			c.page(w, r, e.Status, "executions", "Executions", "executions", data, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	data.Executions, data.Pages = list, pager(r, next)
	if !allFinal(list) {
		data.Stream = withQuery(Base+"executions/stream", r.URL.Query())
	}
	c.page(w, r, http.StatusOK, "executions", "Executions", "executions", data, nil)
}

// streamExecutions is the list's live rows: the page of the URL, read again every interval
// while any of its rows is not final.
func (c *Console) streamExecutions(w http.ResponseWriter, r *http.Request) {
	c.stream(w, r, liveInterval, func(context.Context) (string, bool, error) {
		list, _, err := c.readExecutions(r)
		if err != nil {
			return "", true, err
		}
		html, err := c.renderString("executions", "rows", view{Data: executionsData{Executions: list}})
		return html, allFinal(list), err
	})
}

var statuses = []string{"QUEUED", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"}

func allFinal(list []*models.Execution) bool {
	for _, ex := range list {
		if !final(ex.Status) {
			return false
		}
	}
	return true
}

func final(status string) bool {
	return status == "SUCCESS" || status == "FAILED" || status == "CANCELLED"
}

// executionData is an execution's page, and its live part.
type executionData struct {
	Ex        *models.Execution
	Log       string
	LogErr    *apiError
	Final     bool
	Cancel    bool // the Cancel button: QUEUED or RUNNING
	Duration  string
	QueueWait string
	Output    string
}

// readExecution reads an execution and its log, as its page shows them.
func (c *Console) readExecution(r *http.Request, id string) (executionData, error) {
	ok, err := c.api.Executions.GetExecutionContext(as(r), executions.NewGetExecutionParams().WithID(id), nil)
	if err != nil {
		return executionData{}, err
	}
	return c.executionView(r, ok.Payload.Execution), nil
}

func (c *Console) executionView(r *http.Request, ex *models.Execution) executionData {
	d := executionData{Ex: ex, Final: final(ex.Status), Cancel: ex.Status == "QUEUED" || ex.Status == "RUNNING", Output: ex.Output}
	if ex.Output == "" && ex.Outputs != nil {
		d.Output = funcs["json"].(func(any) string)(ex.Outputs)
	}
	created, started, completed := timeOf(ex.CreatedAt), timeOf(ex.StartedAt), timeOf(ex.CompletedAt)
	switch {
	case ex.DurationMs != nil:
		d.Duration = formatMillis(float64(*ex.DurationMs))
	case !started.IsZero() && !completed.IsZero():
		d.Duration = formatMillis(float64(completed.Sub(started).Microseconds()) / 1000)
	case !started.IsZero() && !d.Final:
		d.Duration = formatMillis(float64(c.now().Sub(started).Milliseconds())) + " so far"
	}
	if !created.IsZero() && !started.IsZero() {
		d.QueueWait = formatMillis(float64(started.Sub(created).Microseconds()) / 1000)
	}
	log, err := c.api.Executions.GetExecutionLogContext(as(r), executions.NewGetExecutionLogParams().WithID(ex.ID), nil)
	if err != nil {
		d.LogErr = errorOf(err)
	} else {
		d.Log = log.Payload
	}
	return d
}

func timeOf(t *strfmt.DateTime) time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Time(*t)
}

func (c *Console) showExecution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := c.readExecution(r, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "execution", "Execution "+id, "executions", d, nil)
}

// streamExecution is an execution's live part (status, timings, attempts, output, log,
// Cancel), read again every interval until the execution is final.
func (c *Console) streamExecution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	first, err := c.readExecution(r, id)
	if err != nil { // not found (or not the caller's): an answer, not a stream
		c.fail(w, r, err)
		return
	}
	csrf := c.csrfToken(w, r) // for the Cancel form it renders; set before the stream starts
	c.stream(w, r, liveInterval, func(context.Context) (string, bool, error) {
		d, err := first, error(nil)
		if d.Ex == nil {
			if d, err = c.readExecution(r, id); err != nil {
				return "", true, err
			}
		}
		first = executionData{}
		html, err := c.renderString("execution", "live", view{CSRF: csrf, Data: d})
		return html, d.Final, err
	})
}

// cancelExecution cancels through the API. From htmx it answers the live part as the
// API answered (CANCELLED at once for a queued call; the stream shows the end of a running
// one); from a plain form, a redirect to the execution's page.
func (c *Console) cancelExecution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ok, err := c.api.Executions.CancelExecutionContext(as(r), executions.NewCancelExecutionParams().WithID(id), nil)
	htmx := r.Header.Get("HX-Request") == "true"
	if err != nil {
		e := errorOf(err)
		if !htmx || e.Status == http.StatusNotFound || e.Status == http.StatusUnauthorized {
			c.fail(w, r, err)
			return
		}
		d, rerr := c.readExecution(r, id)
		if rerr != nil {
			c.fail(w, r, rerr)
			return
		}
		c.fragment(w, r, e.Status, "execution", "live", d, e)
		return
	}
	if !htmx {
		http.Redirect(w, r, Base+"executions/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	c.fragment(w, r, http.StatusOK, "execution", "live", c.executionView(r, ok.Payload.Execution), nil)
}
