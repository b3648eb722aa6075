package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/executions"
	"github.com/gantry-dev/gantry/store"
)

// ListExecutions answers one page of executions, newest first: calls (filtered by app,
// route and status), workflow runs (by workflow and status), or both merged when no
// filter of one kind is given.
func (a *API) ListExecutions(ctx context.Context, params executions.ListExecutionsParams) middleware.Responder {
	who := caller(ctx)
	var (
		cf     store.ExecutionFilter
		rf     store.RunFilter
		status string
		kind   string
	)
	if params.Status != nil {
		status = *params.Status
	}
	cf.Status, rf.Status = status, status
	if params.Kind != nil {
		kind = *params.Kind
	}
	if params.App != nil {
		cf.App = *params.App
	}
	if params.Route != nil && *params.Route != "" {
		cf.Route = routeParam(*params.Route)
	}
	if params.Workflow != nil {
		rf.Workflow = *params.Workflow
	}
	if params.Since != nil {
		cf.Since = time.Time(*params.Since)
	}
	if params.Until != nil {
		cf.Until = time.Time(*params.Until)
		if !cf.Since.IsZero() && !cf.Until.After(cf.Since) {
			return a.badRequest("until", "until (%s) must be after since (%s)", params.Until, params.Since)
		}
	}
	since, until := cf.IDBounds() // runs: IDs are ULIDs too
	byCall, byRun := cf.App != "" || cf.Route != "", rf.Workflow != ""
	switch {
	case byCall && (byRun || kind == kindWorkflow):
		return a.badRequest("workflow", "app and route filter calls, workflow filters workflow runs: they cannot be combined")
	case byRun && kind == kindCall:
		return a.badRequest("kind", "workflow filters workflow runs, not calls")
	case byCall:
		kind = kindCall
	case byRun:
		kind = kindWorkflow
	}
	if who.Role == auth.RoleUser { // end users see runs only
		if kind == kindCall {
			return executions.NewListExecutionsOK().WithPayload(&models.ExecutionsWrapper{Executions: []*models.Execution{}})
		}
		kind = kindWorkflow
	}
	if kind != kindWorkflow && !who.IsAdmin() {
		if cf.App != "" {
			if err := a.checkApp(ctx, cf.App); err != nil {
				return a.errorResponse(err)
			}
		}
		cf.Apps = a.store.AppsOwnedBy(who.Name)
		if cf.Apps == nil {
			cf.Apps = map[string]string{}
		}
	}
	calls := func(cursor string, n int) ([]*models.Execution, string, error) {
		list, next, err := a.store.ListExecutions(ctx, cf, store.Page{Cursor: cursor, Limit: n})
		out := make([]*models.Execution, 0, len(list))
		for _, ex := range list {
			out = append(out, executionToModel(ex))
		}
		return out, next, err
	}
	runs := func(cursor string, n int) ([]*models.Execution, string, error) {
		if cursor == "" && until != "" { // the time window's end: where the list starts
			cursor = base64.RawURLEncoding.EncodeToString([]byte(until))
		}
		list, next, err := a.store.ListRuns(ctx, runFilter(who, rf), store.Page{Cursor: cursor, Limit: n})
		out := make([]*models.Execution, 0, len(list))
		for _, r := range list {
			if r.ID < since { // older than the time window, as every next one
				next = ""
				break
			}
			if mayView(who, r) {
				out = append(out, runToModel(r))
			}
		}
		return out, next, err
	}
	pg := page(params.PerPage, params.Cursor)
	var (
		list []*models.Execution
		next string
		err  error
	)
	switch kind {
	case kindCall:
		list, next, err = calls(pg.Cursor, pg.Size())
	case kindWorkflow:
		list, next, err = runs(pg.Cursor, pg.Size())
	default:
		list, next, err = mergeExecutions(pg, calls, runs)
	}
	if err != nil {
		return a.errorResponse(err)
	}
	return executions.NewListExecutionsOK().WithPayload(&models.ExecutionsWrapper{Executions: list, NextCursor: next})
}

// GetExecutionEvents answers a run's events after a sequence number, as JSON, or streams
// them as Server-Sent Events when the client accepts text/event-stream.
func (a *API) GetExecutionEvents(ctx context.Context, params executions.GetExecutionEventsParams) middleware.Responder {
	run, err := a.visibleRun(ctx, params.ID)
	if err != nil {
		if _, cerr := a.visibleExecution(ctx, params.ID); cerr == nil {
			err = store.Errorf(store.ErrNotFound, "execution %q is a function call: only workflow runs have events", params.ID)
		}
		return a.errorResponse(err)
	}
	var after int64
	if params.After != nil {
		after = *params.After
	}
	if params.LastEventID != nil && *params.LastEventID != "" {
		if after, err = strconv.ParseInt(strings.TrimSpace(*params.LastEventID), 10, 64); err != nil || after < 0 {
			return a.badRequest("Last-Event-ID", "Last-Event-ID %q is not an event's id", *params.LastEventID)
		}
	}
	if wantsEventStream(params.HTTPRequest.Header.Values("Accept")) {
		return a.eventStream(params.HTTPRequest.Context(), run.ID, after)
	}
	limit := 100
	if params.Limit != nil {
		limit = int(*params.Limit)
	}
	events, err := a.store.ListRunEvents(ctx, run.ID, after, limit)
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.ExecutionEventsWrapper{Events: make([]*models.ExecutionEvent, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, eventToModel(e))
	}
	// JSON whatever the router negotiated: with no Accept header it may pick the stream's type.
	return middleware.ResponderFunc(func(w http.ResponseWriter, _ runtime.Producer) {
		w.Header().Set("Content-Type", runtime.JSONMime)
		w.WriteHeader(http.StatusOK)
		if err := runtime.JSONProducer().Produce(w, out); err != nil {
			a.log.Debug("the client went away before the answer was written", "err", err)
		}
	})
}

// wantsEventStream tells whether an Accept header asks for text/event-stream before (or
// rather than) JSON.
func wantsEventStream(accept []string) bool {
	for _, value := range accept {
		for part := range strings.SplitSeq(value, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			switch {
			case err != nil:
			case mt == "text/event-stream":
				return true
			case mt == "application/json":
				return false
			}
		}
	}
	return false
}

// listPage reads one page of a list, newest first: its items (executions) and the cursor
// of the next page ("" on the last).
type listPage func(cursor string, n int) ([]*models.Execution, string, error)

// mergedCursor is where a merged list of calls and runs goes on: for each list, the cursor
// of the page that holds its next item (or that it is done), and the last ID answered (the
// items of those pages up to it were answered already).
type mergedCursor struct {
	Calls     string `json:"c,omitempty"`
	CallsDone bool   `json:"cd,omitempty"`
	Runs      string `json:"r,omitempty"`
	RunsDone  bool   `json:"rd,omitempty"`
	Last      string `json:"l"`
}

// mergeSource walks one list for a merge.
type mergeSource struct {
	read   listPage
	n      int
	cursor string // of the page buf came from
	buf    []*models.Execution
	next   string
	loaded bool
	done   bool
}

// head returns the source's next item with an ID below last ("": any), reading pages as needed.
func (s *mergeSource) head(last string) (*models.Execution, error) {
	for !s.done {
		if !s.loaded {
			items, next, err := s.read(s.cursor, s.n)
			if err != nil {
				return nil, err
			}
			s.buf, s.next, s.loaded = nil, next, true
			for _, it := range items {
				if last == "" || it.ID < last {
					s.buf = append(s.buf, it)
				}
			}
		}
		if len(s.buf) > 0 {
			return s.buf[0], nil
		}
		if s.next == "" {
			s.done = true
		} else {
			s.cursor, s.loaded = s.next, false
		}
	}
	return nil, nil
}

// mergeExecutions answers a page of two lists both ordered by ID descending, merged.
func mergeExecutions(pg store.Page, calls, runs listPage) ([]*models.Execution, string, error) {
	var cur mergedCursor
	if pg.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(pg.Cursor)
		if err != nil || json.Unmarshal(raw, &cur) != nil || cur.Last == "" {
			return nil, "", store.Invalid("cursor", "cursor %q is not one this server gave out", pg.Cursor)
		}
	}
	n := pg.Size()
	c := &mergeSource{read: calls, n: n, cursor: cur.Calls, done: cur.CallsDone}
	r := &mergeSource{read: runs, n: n, cursor: cur.Runs, done: cur.RunsDone}
	out := make([]*models.Execution, 0, n)
	last := cur.Last
	for {
		ch, err := c.head(last)
		if err != nil {
			return nil, "", err
		}
		rh, err := r.head(last)
		if err != nil {
			return nil, "", err
		}
		if ch == nil && rh == nil {
			return out, "", nil
		}
		if len(out) == n {
			break
		}
		src, it := c, ch
		if ch == nil || (rh != nil && rh.ID > ch.ID) {
			src, it = r, rh
		}
		src.buf = src.buf[1:]
		out = append(out, it)
		last = it.ID
	}
	b, err := json.Marshal(mergedCursor{Calls: c.cursor, CallsDone: c.done, Runs: r.cursor, RunsDone: r.done, Last: last})
	if err != nil {
		return nil, "", err
	}
	return out, base64.RawURLEncoding.EncodeToString(b), nil
}
