package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/models"
)

func TestExecutionTable(t *testing.T) {
	created := strfmt.DateTime(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	code, ms, long := int64(1), int64(1500), int64(125000)
	items := []*models.Execution{
		{ID: "01HX0000000000000000000001", App: "a", Route: "/hello/world", Status: "FAILED", Reason: "bad_exit",
			ExitCode: &code, Container: "cold", DurationMs: &ms, CreatedAt: &created},
		{ID: "01HX0000000000000000000002", App: "a", Route: "/x", Status: "SUCCESS", Container: "hot", DurationMs: &long},
		{ID: "01HX0000000000000000000003", App: "b", Route: "/q", Status: "QUEUED"},
		nil,
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, executionTable(items)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID                          APP  ROUTE         STATUS   REASON    EXIT  CONTAINER  DURATION  CREATED\n" +
		"01HX0000000000000000000001  a    /hello/world  FAILED   bad_exit  1     cold       1.5s      2024-05-06T07:08:09Z\n" +
		"01HX0000000000000000000002  a    /x            SUCCESS  -         -     hot        2m5s      -\n" +
		"01HX0000000000000000000003  b    /q            QUEUED   -         -     -          -         -\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestExecutionsListSendsFilters(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		if r.URL.Query().Get("cursor") == "" {
			return 200, `{"executions":[{"id":"01HX0000000000000000000002","app":"a","route":"/x","status":"FAILED"}],"next_cursor":"n1"}`
		}
		return 200, `{"executions":[{"id":"01HX0000000000000000000001","app":"a","route":"/x","status":"FAILED"}]}`
	})
	out, _, err := runCLI(t, "--api-url", u, "executions", "list", "--app", "a", "--route", "/x", "--status", "failed", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 2 {
		t.Fatalf("%d requests, want 2", len(*seen))
	}
	first := (*seen)[0]
	if first.method != http.MethodGet || first.rawPath != "/v1/executions" {
		t.Errorf("request %s %s", first.method, first.rawPath)
	}
	for k, v := range map[string]string{"app": "a", "route": "/x", "status": "FAILED", "per_page": "100"} {
		if got := first.query.Get(k); got != v {
			t.Errorf("query %s=%q, want %q", k, got, v)
		}
	}
	if (*seen)[1].query.Get("cursor") != "n1" || (*seen)[1].query.Get("app") != "a" {
		t.Errorf("second page query %v", (*seen)[1].query)
	}
	if !strings.HasPrefix(out, "ID ") || strings.Count(out, "\n") != 3 {
		t.Errorf("output:\n%s", out)
	}

	// No filter flags: no filter parameters.
	u, seen = fakeAPI(t, func(*http.Request) (int, string) { return 200, `{"executions":[]}` })
	if _, _, err := runCLI(t, "--api-url", u, "executions", "list"); err != nil {
		t.Fatal(err)
	}
	if q := (*seen)[0].query; q.Has("app") || q.Has("route") || q.Has("status") || q.Get("per_page") != "30" {
		t.Errorf("query %v", q)
	}
}

func TestExecutionsGet(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"execution":{"id":"01HX0000000000000000000001","app":"a","route":"/x","type":"sync","status":"SUCCESS","exit_code":0,"duration_ms":42,"container":"hot"}}`
	})
	out, _, err := runCLI(t, "--api-url", u, "executions", "get", "01HX0000000000000000000001")
	if err != nil {
		t.Fatal(err)
	}
	if got := (*seen)[0].rawPath; got != "/v1/executions/01HX0000000000000000000001" {
		t.Errorf("path %s", got)
	}
	for _, want := range []string{"Status:            SUCCESS", "Exit code:         0", "Duration:          42ms", "Completed:         -"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The log endpoint answers text/plain, which fakeAPI does not.
func TestExecutionsLogsPrintsRawText(t *testing.T) {
	const log = "line 1\n\tline 2 \"quoted\"\n"
	var accept, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept, path = r.Header.Get("Accept"), r.URL.Path
		if strings.Contains(path, "missing") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"error":{"message":"execution \"missing\" not found"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, log)
	}))
	defer srv.Close()

	for _, args := range [][]string{{}, {"-o", "json"}} {
		out, _, err := runCLI(t, append(append([]string{"--api-url", srv.URL}, args...), "executions", "logs", "01HX0000000000000000000001")...)
		if err != nil {
			t.Fatal(err)
		}
		if out != log {
			t.Errorf("%v: printed %q, want the log as it is %q", args, out, log)
		}
	}
	if path != "/v1/executions/01HX0000000000000000000001/log" || !strings.Contains(accept, "text/plain") {
		t.Errorf("request %s Accept %q", path, accept)
	}
	_, _, err := runCLI(t, "--api-url", srv.URL, "executions", "logs", "missing")
	if err == nil || err.Error() != `execution "missing" not found` {
		t.Errorf("err = %v", err)
	}
}
