package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/client"
	"github.com/gantry-dev/gantry/gen/client/executions"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// newExecutionsTestHandler is newTestHandler that also returns the store, to seed executions.
func newExecutionsTestHandler(t testing.TB) (http.Handler, *bolt.DB) {
	t.Helper()
	s, err := bolt.Open(context.Background(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h, err := New(Deps{Store: s, Version: "test"}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	return h, s
}

// seedExecutions records executions of a:/x, a:/y/z and b:/x, oldest first, and returns their IDs.
func seedExecutions(t testing.TB, s *bolt.DB) []string {
	t.Helper()
	start := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	var ids []string
	for i := range 12 {
		code := i % 3
		ex := store.Execution{
			ID: s.NewID(), App: []string{"a", "a", "b"}[i%3], Route: []string{"/x", "/y/z", "/x"}[i%3], Type: store.TypeSync,
			Status: store.StatusSuccess, ExitCode: &code, Container: store.ContainerHot,
			CreatedAt: start, StartedAt: start, CompletedAt: start.Add(1500 * time.Millisecond),
		}
		if code != 0 {
			ex.Status, ex.Reason, ex.Error, ex.Container = store.StatusFailed, store.ReasonBadExit, "exit status", store.ContainerCold
		}
		s.RecordExecution(ex, []byte("stderr of "+ex.ID+"\n"))
		ids = append(ids, ex.ID)
		if i == 5 {
			if err := s.FlushExecutions(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

func listedIDs(t testing.TB, res response) []string {
	t.Helper()
	list, ok := get(res.body, "executions").([]any)
	if !ok {
		t.Fatalf("no executions array: %s", res.raw)
	}
	ids := make([]string, 0, len(list))
	for _, e := range list {
		ids = append(ids, get(e, "id").(string))
	}
	return ids
}

func TestListExecutions(t *testing.T) {
	h, s := newExecutionsTestHandler(t)
	ids := seedExecutions(t, s)
	newest := func(pick ...int) []string {
		out := make([]string, 0, len(pick))
		for i := len(ids) - 1; i >= 0; i-- {
			for _, p := range pick {
				if i%3 == p {
					out = append(out, ids[i])
				}
			}
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", newest(0, 1, 2)},
		{"?app=a", newest(0, 1)},
		{"?app=a&route=/x", newest(0)},
		{"?app=a&route=y/z", newest(1)}, // the leading slash is optional, as in route URLs
		{"?app=a&route=%2Fy%2Fz", newest(1)},
		{"?route=/x", newest(0, 2)},
		{"?status=FAILED", newest(1, 2)},
		{"?app=a&status=SUCCESS", newest(0)},
		{"?app=ghost", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := do(t, h, "GET", "/v1/executions"+tt.query, "")
			expect(t, res, 200)
			if got := listedIDs(t, res); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
			if get(res.body, "next_cursor") != nil {
				t.Fatalf("next_cursor on the only page: %s", res.raw)
			}
		})
	}

	// Pages of 5 follow the cursor without gaps or duplicates.
	var got []string
	path := "/v1/executions?per_page=5"
	for pages := 1; ; pages++ {
		res := do(t, h, "GET", path, "")
		expect(t, res, 200)
		got = append(got, listedIDs(t, res)...)
		next, _ := get(res.body, "next_cursor").(string)
		if next == "" {
			if pages != 3 {
				t.Fatalf("%d pages, want 3", pages)
			}
			break
		}
		path = "/v1/executions?per_page=5&cursor=" + url.QueryEscape(next)
	}
	if strings.Join(got, ",") != strings.Join(newest(0, 1, 2), ",") {
		t.Fatalf("paged through %v\nwant %v", got, newest(0, 1, 2))
	}

	// One item in full: a failed execution (index 10: a:/y/z, exit code 1).
	res := do(t, h, "GET", "/v1/executions?app=a&route=/y/z&per_page=1", "")
	expect(t, res, 200)
	item := get(res.body, "executions").([]any)[0]
	want := map[string]any{
		"id": ids[10], "app": "a", "route": "/y/z", "type": "sync", "status": "FAILED", "reason": "bad_exit",
		"exit_code": 1.0, "error": "exit status", "container": "cold", "duration_ms": 1500.0,
		"created_at": "2024-05-06T07:08:09.000Z", "started_at": "2024-05-06T07:08:09.000Z", "completed_at": "2024-05-06T07:08:10.500Z",
	}
	for k, v := range want {
		if got := get(item, k); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, absent := range []string{"output", "output_truncated", "log_truncated"} {
		if get(item, absent) != nil {
			t.Errorf("%s present: %s", absent, res.raw)
		}
	}
}

func TestListExecutionsBadInput(t *testing.T) {
	h, _ := newExecutionsTestHandler(t)
	for _, tt := range []struct{ query, field string }{
		{"?status=DONE", "status"},
		{"?status=success", "status"},
		{"?cursor=nope", "cursor"},
		{"?per_page=0", "per_page"},
		{"?app=no%20spaces", "app"},
	} {
		t.Run(tt.query, func(t *testing.T) {
			res := do(t, h, "GET", "/v1/executions"+tt.query, "")
			expect(t, res, 400)
			if get(res.body, "error", "fields") != tt.field {
				t.Fatalf("fields %v, want %s: %s", get(res.body, "error", "fields"), tt.field, res.raw)
			}
		})
	}
}

func TestGetExecutionAndLog(t *testing.T) {
	h, s := newExecutionsTestHandler(t)
	ids := seedExecutions(t, s)
	running := store.Execution{ID: s.NewID(), App: "a", Route: "/x", Type: store.TypeAsync, Status: store.StatusRunning,
		StartedAt: time.Now().UTC(), Output: []byte("partial"), OutputTruncated: true}
	s.RecordExecution(running, nil)

	res := do(t, h, "GET", "/v1/executions/"+ids[1], "")
	expect(t, res, 200)
	if get(res.body, "execution", "id") != ids[1] || get(res.body, "execution", "status") != "FAILED" {
		t.Fatalf("get: %s", res.raw)
	}
	res = do(t, h, "GET", "/v1/executions/"+running.ID, "")
	expect(t, res, 200)
	for k, v := range map[string]any{"status": "RUNNING", "type": "async", "output": "partial", "output_truncated": true} {
		if got := get(res.body, "execution", k); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, absent := range []string{"completed_at", "duration_ms", "exit_code", "reason", "container"} {
		if get(res.body, "execution", absent) != nil {
			t.Errorf("%s present on a running execution: %s", absent, res.raw)
		}
	}

	res = do(t, h, "GET", "/v1/executions/01HZZZZZZZZZZZZZZZZZZZZZZZ", "")
	expect(t, res, 404)
	if msg, _ := get(res.body, "error", "message").(string); !strings.Contains(msg, "01HZZZZZZZZZZZZZZZZZZZZZZZ") {
		t.Fatalf("404 message does not name the execution: %s", res.raw)
	}

	// The log is text/plain, byte for byte; errors stay JSON.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/executions/"+ids[1]+"/log", nil))
	if rec.Code != 200 || rec.Body.String() != "stderr of "+ids[1]+"\n" {
		t.Fatalf("log: %d %q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("log Content-Type %q, want text/plain", ct)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/executions/"+running.ID+"/log", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("empty log: %d %q", rec.Code, rec.Body.String())
	}
	res = do(t, h, "GET", "/v1/executions/nope/log", "")
	expect(t, res, 404)
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("404 of the log is %q, want JSON", ct)
	}
}

// The generated client lists, gets and reads logs (text/plain) from the real router.
func TestExecutionsThroughGeneratedClient(t *testing.T) {
	h, s := newExecutionsTestHandler(t)
	ids := seedExecutions(t, s)
	srv := httptest.NewServer(h)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	api := client.New(httptransport.New(u.Host, client.DefaultBasePath, []string{"http"}), strfmt.Default)
	ctx := context.Background()

	perPage, app, route, status := int64(2), "a", "/x", "SUCCESS"
	list, err := api.Executions.ListExecutionsContext(ctx, executions.NewListExecutionsParams().
		WithApp(&app).WithRoute(&route).WithStatus(&status).WithPerPage(&perPage), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := list.GetPayload(); len(p.Executions) != 2 || p.Executions[0].ID != ids[9] || p.NextCursor == "" {
		t.Fatalf("list: %+v", p)
	}

	got, err := api.Executions.GetExecutionContext(ctx, executions.NewGetExecutionParams().WithID(ids[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := got.GetPayload().Execution; e.ID != ids[0] || e.DurationMs == nil || *e.DurationMs != 1500 || e.ExitCode == nil || *e.ExitCode != 0 {
		t.Fatalf("get: %+v", e)
	}

	log, err := api.Executions.GetExecutionLogContext(ctx, executions.NewGetExecutionLogParams().WithID(ids[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "stderr of " + ids[0] + "\n"; log.GetPayload() != want {
		t.Fatalf("log %q, want %q", log.GetPayload(), want)
	}
	_, err = api.Executions.GetExecutionLogContext(ctx, executions.NewGetExecutionLogParams().WithID("nope"), nil)
	var notFound *executions.GetExecutionLogNotFound
	if !errors.As(err, &notFound) || notFound.GetPayload().Error == nil || !strings.Contains(*notFound.GetPayload().Error.Message, "nope") {
		t.Fatalf("log of a missing execution: %v", err)
	}
}
