package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/loads"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/restapi"
	"github.com/gantry-dev/gantry/store"
)

// triggerAs starts a run of adder as token's holder and returns its ID.
func (f *workflowFixture) triggerAs(t testing.TB, token string) string {
	t.Helper()
	res := f.as(t, token, "POST", "/v1/workflows/adder", `{"inputs":{"a":1}}`)
	expect(t, res, 201)
	return get(res.body, "execution", "id").(string)
}

func TestRunVisibility(t *testing.T) {
	f := newWorkflowFixture(t)
	umas, alices := f.triggerAs(t, f.uma), f.triggerAs(t, f.alice)
	for _, c := range []struct {
		who, token string
		sees       []string
		hidden     []string
	}{
		{"the workflow's owner", f.alice, []string{umas, alices}, nil},
		{"an admin", f.admin, []string{umas, alices}, nil},
		{"the end user who triggered a run", f.uma, []string{umas}, []string{alices}},
		{"an end user without access", f.ursula, nil, []string{umas, alices}},
		{"another developer", f.bob, nil, []string{umas, alices}},
	} {
		t.Run(c.who+" sees only its runs", func(t *testing.T) {
			for _, id := range c.sees {
				expect(t, f.as(t, c.token, "GET", "/v1/executions/"+id, ""), 200)
				expect(t, f.as(t, c.token, "GET", "/v1/executions/"+id+"/events", ""), 200)
				expect(t, f.as(t, c.token, "GET", "/v1/executions/"+id+"/log", ""), 200)
			}
			for _, id := range c.hidden {
				for _, suffix := range []string{"", "/events", "/log"} {
					expect(t, f.as(t, c.token, "GET", "/v1/executions/"+id+suffix, ""), 404)
				}
				expect(t, f.as(t, c.token, "DELETE", "/v1/executions/"+id, ""), 404)
			}
			res := f.as(t, c.token, "GET", "/v1/executions", "")
			expect(t, res, 200)
			listed := listedIDs(t, res)
			slices.Sort(listed)
			want := slices.Clone(c.sees)
			slices.Sort(want)
			if !slices.Equal(listed, want) {
				t.Fatalf("lists %v, want %v", listed, want)
			}
		})
	}
	t.Run("an end user may not define or delete workflows: 403", func(t *testing.T) {
		expect(t, f.as(t, f.uma, "PUT", "/v1/workflows/adder", adderBody), 403)
		expect(t, f.as(t, f.uma, "PUT", "/v1/workflows/mine", adderBody), 403)
		expect(t, f.as(t, f.uma, "DELETE", "/v1/workflows/adder", ""), 403)
	})
	t.Run("a developer a workflow is shared with may run it, not replace or delete it: 404", func(t *testing.T) {
		expect(t, f.as(t, f.alice, "PUT", "/v1/workflows/adder", strings.Replace(adderBody, `"user:uma"`, `"user:uma","user:bob"`, 1)), 200)
		expect(t, f.as(t, f.bob, "GET", "/v1/workflows/adder", ""), 200)
		bobs := f.triggerAs(t, f.bob)
		expect(t, f.as(t, f.bob, "GET", "/v1/executions/"+bobs, ""), 200)
		expect(t, f.as(t, f.bob, "GET", "/v1/executions/"+umas, ""), 404)
		expect(t, f.as(t, f.bob, "PUT", "/v1/workflows/adder", adderBody), 404)
		expect(t, f.as(t, f.bob, "DELETE", "/v1/workflows/adder", ""), 404)
	})
	t.Run("an end user never sees calls", func(t *testing.T) {
		res := f.as(t, f.uma, "GET", "/v1/executions?kind=call", "")
		expect(t, res, 200)
		if n := len(listedIDs(t, res)); n != 0 {
			t.Fatalf("uma lists %d calls", n)
		}
		res = f.as(t, f.uma, "GET", "/v1/executions?app=calc", "")
		expect(t, res, 200)
		if n := len(listedIDs(t, res)); n != 0 {
			t.Fatalf("uma lists %d calls of calc", n)
		}
	})
}

func TestGroupAndAuthenticatedRunAccess(t *testing.T) {
	for _, c := range []struct {
		access []string
		want   bool
	}{
		{[]string{"group:hpc"}, true},
		{[]string{"group:other"}, false},
		{[]string{"authenticated"}, true},
		{[]string{"user:uma"}, false},
		{[]string{"user:erin"}, true},
		{nil, false},
	} {
		w := store.Workflow{Owner: "alice", RunAccess: c.access}
		id := auth.Identity{Name: "erin", Role: auth.RoleUser, Kind: auth.KindOIDC, Groups: []string{"hpc"}}
		if got := mayRun(id, w); got != c.want {
			t.Errorf("run access %v for erin of group hpc: %v, want %v", c.access, got, c.want)
		}
	}
}

// TestEveryOperationAsAnEndUser walks every operation of the spec as an end user (role
// user): those the spec opens to it (x-gantry-roles) are not refused with 403, every other
// one is.
func TestEveryOperationAsAnEndUser(t *testing.T) {
	f := newWorkflowFixture(t)
	run := f.triggerAs(t, f.uma)
	doc, err := loads.Analyzed(restapi.SwaggerJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]bool{}
	for _, byPath := range doc.Analyzer.Operations() {
		for _, op := range byPath {
			if roles, ok := op.Extensions[rolesExtension].([]any); ok && slices.Contains(roles, any("user")) {
				open[op.ID] = true
			}
		}
	}
	ops := specOperations(t, map[string]string{"app": "calc", "route": "add", "id": run, "api": "shop-api", "name": "adder", "user_id": "uma", "key": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}) // uma's own SSH key
	for _, o := range ops {
		res := f.as(t, f.uma, o.method, o.path, body(t, o))
		switch {
		case o.public || open[o.id]:
			if res.status == http.StatusForbidden || res.status == http.StatusUnauthorized || res.status >= 500 {
				t.Errorf("%s as an end user: %d; %s", o.id, res.status, res.raw)
			}
		case res.status != http.StatusForbidden:
			t.Errorf("%s %s as an end user: %d, want 403; %s", o.id, o.path, res.status, res.raw)
		}
	}
	if len(open) < 9 {
		t.Fatalf("only %d operations open to end users", len(open))
	}
}

func TestCancelAndDeleteRuns(t *testing.T) {
	f := newWorkflowFixture(t)
	run := f.triggerAs(t, f.uma)
	expect(t, f.as(t, f.alice, "DELETE", "/v1/workflows/adder", ""), 409) // a run is unfinished
	expect(t, f.as(t, f.ursula, "DELETE", "/v1/executions/"+run, ""), 404)
	res := f.as(t, f.uma, "DELETE", "/v1/executions/"+run, "")
	expect(t, res, 202)
	if get(res.body, "execution", "status") != "CANCELLED" || get(res.body, "execution", "reason") != "client_request" {
		t.Fatalf("cancel: %s", res.raw)
	}
	expect(t, f.as(t, f.uma, "DELETE", "/v1/executions/"+run, ""), 409)
	expect(t, f.as(t, f.alice, "DELETE", "/v1/workflows/adder", ""), 204)
	expect(t, f.as(t, f.uma, "GET", "/v1/executions/"+run, ""), 200) // finished runs stay

	t.Run("force cancels the unfinished runs first", func(t *testing.T) {
		expect(t, f.as(t, f.alice, "PUT", "/v1/workflows/adder", adderBody), 201)
		run := f.triggerAs(t, f.uma)
		expect(t, f.as(t, f.alice, "DELETE", "/v1/workflows/adder?force=true", ""), 204)
		if res := f.as(t, f.uma, "GET", "/v1/executions/"+run, ""); get(res.body, "execution", "status") != "CANCELLED" {
			t.Fatalf("after a forced delete: %s", res.raw)
		}
	})
}

func TestExecutionsListMergesCallsAndRuns(t *testing.T) {
	f := newWorkflowFixture(t)
	appID, _ := f.s.AppID("calc")
	var want []string
	for i := range 7 {
		if i%2 == 0 {
			want = append(want, f.triggerAs(t, f.alice))
			continue
		}
		id, now := f.s.NewID(), time.Now()
		f.s.RecordExecution(store.Execution{ID: id, App: "calc", AppID: appID, Route: "/add", Type: store.TypeSync, Status: store.StatusSuccess,
			CreatedAt: now, StartedAt: now, CompletedAt: now}, nil)
		want = append(want, id)
	}
	slices.Reverse(want) // newest first
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the pages never end")
		}
		path := "/v1/executions?per_page=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res := f.as(t, f.alice, "GET", path, "")
		expect(t, res, 200)
		got = append(got, listedIDs(t, res)...)
		cursor, _ = get(res.body, "next_cursor").(string)
		if cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("merged pages %v, want %v", got, want)
	}
	for _, c := range []struct {
		query string
		n     int
		kind  string
	}{{"kind=workflow", 4, "workflow"}, {"workflow=adder", 4, "workflow"}, {"kind=call", 3, "call"}, {"app=calc", 3, "call"}, {"workflow=adder&status=QUEUED", 4, "workflow"}} {
		res := f.as(t, f.alice, "GET", "/v1/executions?"+c.query, "")
		expect(t, res, 200)
		list := get(res.body, "executions").([]any)
		if len(list) != c.n || get(list[0], "kind") != c.kind {
			t.Errorf("?%s: %s", c.query, res.raw)
		}
	}
	expect(t, f.as(t, f.alice, "GET", "/v1/executions?app=calc&workflow=adder", ""), 400)
	expect(t, f.as(t, f.alice, "GET", "/v1/executions?cursor=bogus", ""), 400)
}

func TestRunLog(t *testing.T) {
	f := newWorkflowFixture(t)
	ctx := context.Background()
	run := f.triggerAs(t, f.uma)
	appID, _ := f.s.AppID("calc")
	calls := []string{f.s.NewID(), f.s.NewID()}
	for i, id := range calls {
		now := time.Now()
		status := []string{store.StatusFailed, store.StatusSuccess}[i]
		f.s.RecordExecution(store.Execution{ID: id, App: "calc", AppID: appID, Route: "/add", Type: store.TypeAsync, Status: status, Parent: run, Step: "add",
			CreatedAt: now, StartedAt: now, CompletedAt: now}, []byte("log of attempt "+string(rune('1'+i))))
	}
	if _, err := f.s.UpdateRun(ctx, run, func(r *store.Run) (store.RunUpdate, error) {
		r.Status, r.Steps[0].Status, r.Steps[0].Calls, r.Steps[0].Attempts = store.StatusRunning, store.StatusRunning, calls, 2
		return store.RunUpdate{Events: []store.RunEvent{
			{Type: store.EventStepStarted, Step: "add", Attempt: 1, Call: calls[0]},
			{Type: store.EventStepRetrying, Step: "add", Attempt: 1, Call: calls[0]},
			{Type: store.EventStepStarted, Step: "add", Attempt: 2, Call: calls[1]},
		}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	status, log := f.text(t, f.uma, "/v1/executions/"+run+"/log")
	want := "== step add attempt 1 (call " + calls[0] + ") ==\nlog of attempt 1\n== step add attempt 2 (call " + calls[1] + ") ==\nlog of attempt 2\n"
	if status != 200 || log != want {
		t.Fatalf("log %d %q, want %q", status, log, want)
	}
	f.api.maxRunLog = 10 // past it, the log stops at the next attempt, and says so
	_, log = f.text(t, f.uma, "/v1/executions/"+run+"/log")
	if want := "== step add attempt 1 (call " + calls[0] + ") ==\nlog of attempt 1\n== the log of this run stops here"; !strings.HasPrefix(log, want) {
		t.Fatalf("a log past its bound: %q, want it to start with %q", log, want)
	}
	// The calls of the run are not the end user's to read.
	expect(t, f.as(t, f.uma, "GET", "/v1/executions/"+calls[0], ""), 404)
	if res := f.as(t, f.alice, "GET", "/v1/executions/"+calls[0], ""); get(res.body, "execution", "parent") != run || get(res.body, "execution", "step") != "add" {
		t.Fatalf("a step's call: %s", res.raw)
	}
}

// text sends a GET whose answer is not JSON, and answers its status and body.
func (f *workflowFixture) text(t testing.TB, token, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, authed(newRequest(t, "GET", path, ""), token))
	return rec.Code, rec.Body.String()
}
