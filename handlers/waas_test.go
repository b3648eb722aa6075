package handlers

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/loads"

	waasrestapi "github.com/gantry-dev/gantry/gen/waas/restapi"
)

// What the hpcwaas-api client (api/structs.go, api/errors.go) decodes, field for field
// (swagger/WAAS.md): the answers of /waas must decode into these, with these types.
type (
	clientWorkflows struct {
		Workflows []clientWorkflow `json:"workflows"`
	}
	clientWorkflow struct {
		ID              string `json:"id"`
		Name            string `json:"name"`
		ApplicationID   string `json:"application_id"`
		EnvironmentID   string `json:"environment_id"`
		EnvironmentName string `json:"environment_name"`
	}
	clientExecution struct {
		ID      string         `json:"id"`
		Status  string         `json:"status"`
		Outputs map[string]any `json:"outputs,omitempty"`
	}
	clientLogs struct {
		Logs         []clientLog `json:"logs"`
		TotalResults int         `json:"total_results"`
		From         int         `json:"from"`
	}
	clientLog struct {
		Level     string    `json:"level"`
		Timestamp time.Time `json:"timestamp"`
		Content   string    `json:"content"`
	}
	clientErrors struct {
		Errors []struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
)

// waasAnswer is an answer of the /waas surface.
type waasAnswer struct {
	status int
	header http.Header
	body   string
}

// waasCall sends a request as the waas client does: Accept: application/json, a body
// without Content-Type, the credentials as they come ("Bearer x", "Basic x", or none).
func waasCall(t *testing.T, h http.Handler, authorization, method, target, body string) waasAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Header.Set("Accept", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return waasAnswer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// decode decodes an answer as the client does (unknown fields ignored, types checked).
func (a waasAnswer) decode(t *testing.T, status int, v any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("the client could not decode %s: %v", a.body, err)
	}
}

// expectError checks an error answer: status, and the {"errors":[...]} body the client
// decodes, status a number, with the id and title of the status and a detail holding want.
func (a waasAnswer) expectError(t *testing.T, status int, id, want string) {
	t.Helper()
	var e clientErrors
	a.decode(t, status, &e)
	if len(e.Errors) != 1 {
		t.Fatalf("%d errors in %s, want 1", len(e.Errors), a.body)
	}
	got := e.Errors[0]
	if got.Status != status || got.ID != id || got.Title != http.StatusText(status) || !strings.Contains(got.Detail, want) {
		t.Errorf("error %+v, want status %d, id %s, title %q, a detail with %q", got, status, id, http.StatusText(status), want)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	var raw map[string][]map[string]any
	if err := json.Unmarshal([]byte(a.body), &raw); err != nil || len(raw["errors"]) != 1 {
		t.Fatalf("error body %s: %v", a.body, err)
	}
	if _, isNumber := raw["errors"][0]["status"].(float64); !isNumber {
		t.Errorf("status is not a JSON number: %s", a.body)
	}
}

// expectEmpty checks a body-less answer (201, 202): no body, Content-Length: 0.
func (a waasAnswer) expectEmpty(t *testing.T, status int) {
	t.Helper()
	if a.status != status || a.body != "" {
		t.Fatalf("status %d body %q, want %d and no body", a.status, a.body, status)
	}
	if cl := a.header.Get("Content-Length"); cl != "0" {
		t.Errorf("Content-Length %q, want 0", cl)
	}
	if ct := a.header.Get("Content-Type"); ct != "" {
		t.Errorf("Content-Type %q on an empty answer", ct)
	}
}

func bearer(token string) string { return "Bearer " + token }

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

const (
	// waasSum doubles nothing: prepare (one container per call) logs two lines and echoes n,
	// finish (hot) takes a second and a half and echoes it again; the output n is finish's.
	waasSum = `{
	  "inputs": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
	  "outputs": {"n": "$.steps.finish.output.n", "label": "$.steps.prepare.output.label"},
	  "steps": [
	    {"name": "prepare", "call": {"app": "wf", "path": "/cold"}, "input": {"stderr": "preparing\nline two\n", "echo": true, "n": "$.inputs.n", "label": "ready"}},
	    {"name": "finish", "needs": ["prepare"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "sleep_ms": 1500, "n": "$.steps.prepare.output.n"}}
	  ]
	}`
	// waasFlaky fails twice with exit code 3: one retry (WARN), then the step and the run fail (ERROR).
	waasFlaky = `{
	  "steps": [{"name": "flaky", "call": {"app": "wf", "path": "/cold"}, "input": {"exit": 3},
	             "retry": {"max_attempts": 2, "backoff": "10ms", "on": ["bad_exit"]}}]
	}`
	// waasSlow runs for a minute, unless cancelled.
	waasSlow = `{"steps": [{"name": "wait", "call": {"app": "wf", "path": "/hot"}, "input": {"sleep_ms": 60000}}]}`
)

// TestTheWaaSClientDrivesAWorkflow is the /waas acceptance: as the waas client does (no
// Content-Type, string inputs, Basic or Bearer), an end user lists, triggers, follows to
// SUCCESS with outputs, reads the log with from/size/levels and a long poll, and cancels
// another run; every shape, status, header and error body is checked as the client decodes it.
func TestTheWaaSClientDrivesAWorkflow(t *testing.T) {
	f := newEngineFixture(t)
	f.put(t, "sum", waasSum)
	f.put(t, "flaky", waasFlaky)
	f.put(t, "slow", waasSlow)
	erin, bob := bearer(f.erin), bearer(f.bob)

	t.Run("the list holds the workflows shared with the caller, id = name", func(t *testing.T) {
		var list clientWorkflows
		waasCall(t, f.h, erin, "GET", "/waas/workflows", "").decode(t, 200, &list)
		want := []clientWorkflow{{ID: "flaky", Name: "flaky"}, {ID: "slow", Name: "slow"}, {ID: "sum", Name: "sum"}}
		if fmt.Sprint(list.Workflows) != fmt.Sprint(want) {
			t.Errorf("workflows %+v, want %+v", list.Workflows, want)
		}
		raw := waasCall(t, f.h, erin, "GET", "/waas/workflows", "").body
		if !strings.Contains(raw, `"application_id":""`) || !strings.Contains(raw, `"environment_name":""`) {
			t.Errorf("the empty fields are not sent: %s", raw)
		}
		if res := waasCall(t, f.h, bob, "GET", "/waas/workflows", ""); res.status != 200 || strings.TrimSpace(res.body) != `{"workflows":[]}` {
			t.Errorf("bob, who may run none: %d %s", res.status, res.body)
		}
	})

	var id string
	t.Run("a trigger without Content-Type with string inputs answers 201, Location and no body", func(t *testing.T) {
		res := waasCall(t, f.h, basic("erin", f.erin), "POST", "/waas/workflows/sum", `{"inputs":{"n":"7"}}`)
		res.expectEmpty(t, 201)
		loc := res.header.Get("Location")
		id = path.Base(loc)
		if loc != "/waas/executions/"+id || id == "" || id == "." {
			t.Fatalf("Location %q", loc)
		}
	})
	if id == "" {
		t.FailNow()
	}

	t.Run("the status reads RUNNING until SUCCESS, with the outputs", func(t *testing.T) {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var ex clientExecution
			waasCall(t, f.h, erin, "GET", "/waas/executions/"+id, "").decode(t, 200, &ex)
			if ex.ID != id {
				t.Fatalf("id %q, want %q", ex.ID, id)
			}
			if ex.Status != "RUNNING" {
				if ex.Status != "SUCCESS" {
					t.Fatalf("status %s, want SUCCESS", ex.Status)
				}
				if ex.Outputs["n"] != float64(7) || ex.Outputs["label"] != "ready" {
					t.Errorf("outputs %v, want n 7 (a number: the string input was coerced) and label ready", ex.Outputs)
				}
				break
			}
			if ex.Outputs != nil {
				t.Errorf("outputs %v while running", ex.Outputs)
			}
			if time.Now().After(deadline) {
				t.Fatal("still RUNNING after 2 minutes")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	var all clientLogs
	t.Run("the log holds the events and the step's lines after its end", func(t *testing.T) {
		waasCall(t, f.h, erin, "GET", "/waas/executions/"+id+"/logs", "").decode(t, 200, &all)
		if all.TotalResults != len(all.Logs) || all.From != 0 {
			t.Fatalf("total_results %d from %d with %d entries", all.TotalResults, all.From, len(all.Logs))
		}
		var contents []string
		for _, l := range all.Logs {
			contents = append(contents, l.Content)
			if l.Level != "INFO" || l.Timestamp.IsZero() || time.Since(l.Timestamp) > 5*time.Minute {
				t.Errorf("entry %+v: want INFO at a recent time", l)
			}
		}
		text := strings.Join(contents, "\n")
		if !strings.HasPrefix(text, "execution queued: workflow sum version 1") || !strings.HasSuffix(text, "execution finished: SUCCESS") ||
			!strings.Contains(text, "step prepare finished: SUCCESS\n[prepare] preparing\n[prepare] line two\n") {
			t.Errorf("log:\n%s", text)
		}
		var again clientLogs
		waasCall(t, f.h, erin, "GET", "/waas/executions/"+id+"/logs?levels=2&timeout=1s", "").decode(t, 200, &again)
		if fmt.Sprint(again) != fmt.Sprint(all) {
			t.Errorf("the log changed between two reads of a finished run:\n%v\n%v", all, again)
		}
	})

	t.Run("from and size page the log", func(t *testing.T) {
		var page clientLogs
		waasCall(t, f.h, erin, "GET", "/waas/executions/"+id+"/logs?from=2&size=3", "").decode(t, 200, &page)
		if page.From != 2 || page.TotalResults != all.TotalResults || fmt.Sprint(page.Logs) != fmt.Sprint(all.Logs[2:5]) {
			t.Errorf("from 2 size 3: %+v, want entries 2..4 of %d", page, all.TotalResults)
		}
		waasCall(t, f.h, erin, "GET", fmt.Sprintf("/waas/executions/%s/logs?from=%d&size=50", id, all.TotalResults-1), "").decode(t, 200, &page)
		if len(page.Logs) != 1 || page.Logs[0] != all.Logs[len(all.Logs)-1] {
			t.Errorf("the last entry: %+v", page.Logs)
		}
		start := time.Now()
		waasCall(t, f.h, erin, "GET", fmt.Sprintf("/waas/executions/%s/logs?from=%d&timeout=300ms", id, all.TotalResults), "").decode(t, 200, &page)
		if len(page.Logs) != 0 || page.TotalResults != all.TotalResults || time.Since(start) < 250*time.Millisecond {
			t.Errorf("past the end of a finished run: %+v after %s; want nothing after the timeout", page, time.Since(start))
		}
	})

	t.Run("levels filter the log, and from counts the filtered entries", func(t *testing.T) {
		res := waasCall(t, f.h, erin, "POST", "/waas/workflows/flaky", `{"inputs":null}`)
		res.expectEmpty(t, 201)
		fid := path.Base(res.header.Get("Location"))
		waitWaaSStatus(t, f.h, erin, fid, "FAILED")
		for _, c := range []struct {
			levels string
			want   []string
		}{
			{"4", []string{"WARN"}},
			{"8", []string{"ERROR", "ERROR"}},
			{"12", []string{"WARN", "ERROR", "ERROR"}},
			{"1", nil},
		} {
			var l clientLogs
			waasCall(t, f.h, erin, "GET", "/waas/executions/"+fid+"/logs?timeout=0s&levels="+c.levels, "").decode(t, 200, &l)
			var got []string
			for _, e := range l.Logs {
				got = append(got, e.Level)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) || l.TotalResults != len(c.want) {
				t.Errorf("levels %s: %v (total %d), want %v", c.levels, got, l.TotalResults, c.want)
			}
		}
		var l clientLogs
		waasCall(t, f.h, erin, "GET", "/waas/executions/"+fid+"/logs?levels=8&from=1", "").decode(t, 200, &l)
		if len(l.Logs) != 1 || !strings.HasPrefix(l.Logs[0].Content, "execution finished: FAILED") {
			t.Errorf("the second ERROR entry: %+v", l.Logs)
		}
	})

	t.Run("a long poll answers as soon as a new entry comes", func(t *testing.T) {
		res := waasCall(t, f.h, erin, "POST", "/waas/workflows/sum", `{"inputs":{"n":"8"}}`)
		res.expectEmpty(t, 201)
		rid := path.Base(res.header.Get("Location"))
		// Read until finish has started: its end is at least 1.5 s away.
		var l clientLogs
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(fmt.Sprint(l.Logs), "step finish started") {
			if time.Now().After(deadline) {
				t.Fatalf("finish never started: %+v", l.Logs)
			}
			waasCall(t, f.h, erin, "GET", fmt.Sprintf("/waas/executions/%s/logs?from=%d&size=50", rid, len(l.Logs)), "").decode(t, 200, &l)
		}
		from := l.TotalResults
		start := time.Now()
		var next clientLogs
		waasCall(t, f.h, erin, "GET", fmt.Sprintf("/waas/executions/%s/logs?from=%d&size=50&levels=14&timeout=30s", rid, from), "").decode(t, 200, &next)
		took := time.Since(start)
		if len(next.Logs) == 0 || next.From != from || !strings.HasPrefix(next.Logs[0].Content, "step finish finished: SUCCESS") {
			t.Fatalf("the long poll answered %+v", next)
		}
		if took < 200*time.Millisecond || took > 15*time.Second {
			t.Errorf("the long poll answered after %s: want it to wait for the entry, and answer well before its 30 s", took)
		}
		t.Logf("the long poll answered after %s", took)
	})

	t.Run("cancel of another run answers 202 with no body, then CANCELLED; again 409", func(t *testing.T) {
		res := waasCall(t, f.h, erin, "POST", "/waas/workflows/slow", "")
		res.expectEmpty(t, 201)
		sid := path.Base(res.header.Get("Location"))
		var l clientLogs // once its step runs
		for deadline := time.Now().Add(time.Minute); !strings.Contains(fmt.Sprint(l.Logs), "step wait started"); {
			if time.Now().After(deadline) {
				t.Fatalf("the step never started: %+v", l.Logs)
			}
			waasCall(t, f.h, erin, "GET", fmt.Sprintf("/waas/executions/%s/logs?from=%d", sid, len(l.Logs)), "").decode(t, 200, &l)
		}
		var ex clientExecution
		if waasCall(t, f.h, erin, "GET", "/waas/executions/"+sid, "").decode(t, 200, &ex); ex.Status != "RUNNING" {
			t.Fatalf("status %s before the cancel", ex.Status)
		}
		start := time.Now()
		waasCall(t, f.h, basic("x", f.erin), "DELETE", "/waas/executions/"+sid, "").expectEmpty(t, 202)
		waitWaaSStatus(t, f.h, erin, sid, "CANCELLED")
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("CANCELLED after %s", took)
		}
		waasCall(t, f.h, erin, "DELETE", "/waas/executions/"+sid, "").expectError(t, 409, "conflict", sid)
	})

	t.Run("errors come in the client's shape", func(t *testing.T) {
		waasCall(t, f.h, erin, "GET", "/waas/executions/01ARZ3NDEKTSV4RRFFQ69G5FAV", "").expectError(t, 404, "not_found", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
		waasCall(t, f.h, erin, "POST", "/waas/workflows/nope", `{"inputs":null}`).expectError(t, 404, "not_found", "nope")
		waasCall(t, f.h, erin, "POST", "/waas/workflows/sum", `{"inputs":{"n":"seven"}}`).expectError(t, 400, "bad_request", "n")
		waasCall(t, f.h, erin, "POST", "/waas/workflows/sum", `{"inputs":{}}`).expectError(t, 400, "bad_request", "n")
		waasCall(t, f.h, erin, "POST", "/waas/workflows/sum", `{"inputs":`).expectError(t, 400, "bad_request", "")
		waasCall(t, f.h, erin, "GET", "/waas/executions/"+id+"/logs?levels=256", "").expectError(t, 400, "bad_request", "levels")
		waasCall(t, f.h, erin, "GET", "/waas/executions/"+id+"/logs?timeout=soon", "").expectError(t, 400, "bad_request", "timeout")
		waasCall(t, f.h, erin, "GET", "/waas/executions/"+id+"/logs?size=-2", "").expectError(t, 400, "bad_request", "size")
		alice := bearer(f.alice) // an end user is refused (403) whatever is no operation, as on /v1
		waasCall(t, f.h, erin, "PUT", "/waas/workflows/sum", "").expectError(t, 403, "forbidden", "role user")
		waasCall(t, f.h, alice, "PUT", "/waas/workflows/sum", "").expectError(t, 405, "method_not_allowed", "")
		waasCall(t, f.h, alice, "GET", "/waas/nothing", "").expectError(t, 404, "not_found", "")
	})

	t.Run("another developer finds nothing of erin's", func(t *testing.T) {
		waasCall(t, f.h, bob, "GET", "/waas/executions/"+id, "").expectError(t, 404, "not_found", id)
		waasCall(t, f.h, bob, "GET", "/waas/executions/"+id+"/logs", "").expectError(t, 404, "not_found", id)
		waasCall(t, f.h, bob, "DELETE", "/waas/executions/"+id, "").expectError(t, 404, "not_found", id)
		waasCall(t, f.h, bob, "POST", "/waas/workflows/sum", `{"inputs":{"n":"1"}}`).expectError(t, 404, "not_found", "sum")
		var ex clientExecution // the owner sees every run of its workflows
		waasCall(t, f.h, bearer(f.alice), "GET", "/waas/executions/"+id, "").decode(t, 200, &ex)
	})

	t.Run("an Idempotency-Key answers the run it started", func(t *testing.T) {
		req := func() string {
			r := httptest.NewRequest("POST", "/waas/workflows/sum", strings.NewReader(`{"inputs":{"n":"2"}}`))
			r.Header.Set("Authorization", erin)
			r.Header.Set("Idempotency-Key", "k1")
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, r)
			if rec.Code != 201 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			return rec.Header().Get("Location")
		}
		if a, b := req(), req(); a != b {
			t.Errorf("Locations %s and %s for one key", a, b)
		}
	})
}

// waitWaaSStatus reads an execution until its status is no longer RUNNING, and wants it to be want.
func waitWaaSStatus(t *testing.T, h http.Handler, authorization, id, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var ex clientExecution
		waasCall(t, h, authorization, "GET", "/waas/executions/"+id, "").decode(t, 200, &ex)
		if ex.Status != "RUNNING" {
			if ex.Status != want {
				t.Fatalf("execution %s ended %s, want %s", id, ex.Status, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s still RUNNING", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEveryWaaSOperationNeedsCredentials walks every operation of waas.yml: without
// credentials, or with bad ones (Bearer or Basic), each answers 401 in the client's error
// shape, with WWW-Authenticate offering Bearer and Basic.
func TestEveryWaaSOperationNeedsCredentials(t *testing.T) {
	f := newAuthFixture(t)
	doc, err := loads.Analyzed(waasrestapi.SwaggerJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]string{
		"none":                      "",
		"garbage":                   "not-a-token",
		"unknown token":             bearer("gantry_01ARZ3NDEKTSV4RRFFQ69G5FAV_" + strings.Repeat("A", 43)),
		"wrong secret":              bearer(f.wrong),
		"expired token":             bearer(f.expired),
		"revoked token":             bearer(f.revoked),
		"a basic user and password": basic("alice", "open-sesame"),
		"an expired token in basic": basic("carol", f.expired),
		"basic that is no base64":   "Basic !!!",
	}
	ops := 0
	for method, byPath := range doc.Analyzer.Operations() {
		for p, op := range byPath {
			ops++
			target := doc.BasePath() + strings.NewReplacer("{name}", "sum", "{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "{user_id}", "alice").Replace(p)
			body := ""
			if method == "POST" {
				body = `{"inputs":null}`
			}
			for name, cred := range creds {
				res := waasCall(t, f.h, cred, strings.ToUpper(method), target, body)
				if res.status != 401 {
					t.Errorf("%s with %s credentials: %d %s", op.ID, name, res.status, res.body)
					continue
				}
				res.expectError(t, 401, "unauthorized", "")
				if got := strings.Join(res.header.Values("WWW-Authenticate"), ", "); !strings.Contains(got, "Bearer") || !strings.Contains(got, "Basic") {
					t.Errorf("%s: WWW-Authenticate %q", op.ID, got)
				}
			}
		}
	}
	if ops != 7 {
		t.Errorf("%d operations in waas.yml, want 7", ops)
	}
	if res := f.as(t, f.admin, "GET", "/v1/users/alice/ssh-key", ""); res.status != 404 {
		t.Errorf("a refused request made a key: %d %s", res.status, res.raw)
	}
	// A developer's token, as Bearer, as the Basic password or as the Basic user, passes.
	for _, cred := range []string{bearer(f.alice), basic("anyone", f.alice), basic(f.alice, "")} {
		if res := waasCall(t, f.h, cred, "GET", "/waas/workflows", ""); res.status != 200 || strings.TrimSpace(res.body) != `{"workflows":[]}` {
			t.Errorf("with %.12s...: %d %s", cred, res.status, res.body)
		}
	}
	// A trigger without Content-Type reaches the operation (never go-openapi's 415): no such workflow.
	waasCall(t, f.h, basic("alice", f.alice), "POST", "/waas/workflows/sum", `{"inputs":{"n":"1"}}`).expectError(t, 404, "not_found", "sum")
	waasCall(t, f.h, bearer(f.alice), "POST", "/waas/workflows/sum", "x").expectError(t, 400, "bad_request", "")
	r := httptest.NewRequest("POST", "/waas/workflows/sum", strings.NewReader(`{}`))
	r.Header.Set("Authorization", bearer(f.alice))
	r.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	waasAnswer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}.expectError(t, 415, "unsupported_media_type", "text/plain")
}
