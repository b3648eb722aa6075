package console

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/schedule"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
	"github.com/gantry-dev/gantry/workflow"
)

// okRunner answers every call 200 at once; the tests' engine and events service never
// start a call anyway (their queued calls stay queued: no worker takes them).
type okRunner struct{}

func (okRunner) Run(_ context.Context, call *runner.Call) (*runner.Result, error) {
	res := &runner.Result{Status: 200, Header: http.Header{}}
	if call.Done != nil {
		call.Done(res, nil)
	}
	return res, nil
}
func (okRunner) EnsureImage(context.Context, string) error { return nil }
func (okRunner) NetworkAllowed(string, string) error       { return nil }
func (okRunner) DrainRoute(string, string)                 {}
func (okRunner) DrainApp(string)                           {}
func (okRunner) HotContainers() int                        { return 0 }

// newFlowConsole is a test console whose API has the workflow engine (idle: it stores,
// triggers and cancels runs but moves none on; the tests move runs through the store), a
// started events service whose deliveries' calls stay queued, and the schedules' check;
// uma is an end user (role user).
func newFlowConsole(t *testing.T) *testConsole {
	t.Helper()
	tc := newTestConsole(t, testOptions{deps: func(d *handlers.Deps) {
		st := d.Store.(*bolt.DB)
		engine := workflow.New(st, invoke.New(st, okRunner{}, invoke.Options{}), workflow.Options{})
		svc := events.New(st, invoke.New(st, okRunner{}, invoke.Options{}), engine, events.Options{})
		svc.Start(context.Background())
		t.Cleanup(svc.Stop)
		d.Workflows, d.Events, d.CheckSchedule = engine, svc, schedule.Check
	}})
	tc.tokens["uma"] = tc.makeToken("uma", auth.RoleUser, "")
	return tc
}

// apiAs makes a request of the management API as user; it returns the status and the
// answer (decoded JSON when it is).
func (tc *testConsole) apiAs(user, method, path, contentType, body string) (int, map[string]any, string) {
	tc.t.Helper()
	req := httptest.NewRequest(method, "/v1"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tc.tokens[user])
	if body != "" {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	tc.console.call.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m, rec.Body.String()
}

func (tc *testConsole) mustAPI(user, method, path, body string, want int) map[string]any {
	tc.t.Helper()
	status, m, raw := tc.apiAs(user, method, path, "", body)
	if status != want {
		tc.t.Fatalf("%s %s as %s: %d %s, want %d", method, path, user, status, raw, want)
	}
	return m
}

func field(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

const pipelineBody = `{"workflow":{"description":"greets in two ways",
	"inputs":{"type":"object","required":["name","count"],"properties":{
		"name":{"type":"string","description":"Who to greet"},
		"count":{"type":"integer","minimum":1},
		"ratio":{"type":"number","default":0.5},
		"loud":{"type":"boolean","default":true},
		"color":{"type":"string","enum":["red","green"]},
		"tags":{"type":"array","items":{"type":"string"}},
		"opts":{"type":"object"}}},
	"outputs":{"combined":"$.steps.combine.output"},
	"steps":[
		{"name":"prepare","call":{"app":"calc","path":"/add"}},
		{"name":"left","needs":["prepare"],"call":{"app":"calc","path":"/add"}},
		{"name":"right","needs":["prepare"],"call":{"app":"calc","path":"/add"}},
		{"name":"combine","needs":["left","right"],"call":{"app":"calc","path":"/add"}}],
	"run_access":["user:uma"]}}`

// seedPipeline gives alice the app calc (route /add) and the workflow pipeline, shared
// with uma.
func seedPipeline(t *testing.T, tc *testConsole) {
	t.Helper()
	tc.mustAPI("alice", "POST", "/apps", `{"app":{"name":"calc"}}`, 201)
	if _, err := tc.store.CreateRoute(context.Background(), store.Route{App: "calc", Path: "/add", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	tc.mustAPI("alice", "PUT", "/workflows/pipeline", pipelineBody, 201)
}

func TestWorkflowListAndPage(t *testing.T) {
	tc := newFlowConsole(t)
	seedPipeline(t, tc)
	alice, bob, uma := tc.signedIn("alice"), tc.signedIn("bob"), tc.signedIn("uma")

	for _, c := range []struct {
		name   string
		b      *browser
		want   []string
		absent []string
	}{
		{"alice lists her workflow", alice, []string{`id="workflows"`, `href="/ui/workflows/pipeline"`, "greets in two ways"}, nil},
		{"uma lists the workflow shared with her", uma, []string{`id="workflows"`, `href="/ui/workflows/pipeline"`}, nil},
		{"bob has none, and is told how to define one", bob, []string{`class="empty"`, "gantry workflows apply"}, []string{`href="/ui/workflows/pipeline"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.b.get("/ui/workflows")
			if p.status != 200 {
				t.Fatalf("status %d\n%s", p.status, p.body)
			}
			for _, w := range c.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("no %q in the list", w)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(p.body, a) {
					t.Errorf("%q in the list", a)
				}
			}
		})
	}
	t.Run("a bad page size shows the API's error", func(t *testing.T) {
		p := alice.get("/ui/workflows?per_page=0")
		if p.status != 400 || !strings.Contains(p.body, "per_page") {
			t.Fatalf("status %d\n%s", p.status, p.body)
		}
	})

	p := alice.get("/ui/workflows/pipeline")
	if p.status != 200 {
		t.Fatalf("workflow page: %d\n%s", p.status, p.body)
	}
	t.Run("the workflow page describes inputs, outputs and steps", func(t *testing.T) {
		for _, w := range []string{`id="workflow-inputs"`, "Who to greet", `<code>0.5</code>`, `id="workflow-outputs"`, "combined", "$.steps.combine.output",
			`id="workflow-steps"`, "<code>combine</code>", "<code>left</code>, <code>right</code>"} {
			if !strings.Contains(p.body, w) {
				t.Errorf("no %q on the workflow page", w)
			}
		}
	})
	t.Run("the run form has one labelled input of the right type per input", func(t *testing.T) {
		form := p.body[strings.Index(p.body, `id="run-form"`):]
		form = form[:strings.Index(form, "</form>")]
		for name, control := range map[string]string{
			"name":  `<input type="text" id="input-name"`,
			"count": `<input type="number" step="1" id="input-count"`,
			"ratio": `<input type="number" step="any" id="input-ratio" name="in.ratio" value="0.5"`,
			"loud":  `<input type="checkbox" id="input-loud" name="in.loud" value="true" checked`,
			"color": `<select id="input-color"`,
			"tags":  `<textarea id="input-tags"`,
			"opts":  `<textarea id="input-opts"`,
		} {
			if !strings.Contains(form, control) {
				t.Errorf("input %s: no %q in the form", name, control)
			}
			if !strings.Contains(form, `<label for="input-`+name+`"`) {
				t.Errorf("input %s has no label", name)
			}
		}
		if n := len(regexp.MustCompile(`<label for="input-`).FindAllString(form, -1)); n != 7 {
			t.Errorf("%d labels, want 7", n)
		}
		if n := len(regexp.MustCompile(`name="in\.`).FindAllString(form, -1)); n != 7 {
			t.Errorf("%d inputs, want 7", n)
		}
		for _, req := range []string{"name", "count"} {
			label := regexp.MustCompile(`<label for="input-` + req + `">[^<]*<span class="required"`)
			if !label.MatchString(form) {
				t.Errorf("required input %s not marked", req)
			}
		}
		if regexp.MustCompile(`<label for="input-ratio">[^<]*<span class="required"`).MatchString(form) {
			t.Error("optional input ratio marked required")
		}
		if !strings.Contains(form, `<option value="red">red</option>`) || !strings.Contains(form, `id="run-submit"`) {
			t.Errorf("enum options or submit missing:\n%s", form)
		}
	})
	t.Run("bob gets the not-found page for alice's workflow", func(t *testing.T) {
		if p := bob.get("/ui/workflows/pipeline"); p.status != 404 || strings.Contains(p.body, "greets in two ways") {
			t.Fatalf("bob: %d\n%s", p.status, p.body)
		}
		res := bob.postForm("/ui/workflows/pipeline/run", url.Values{"in.name": {"x"}, "in.count": {"1"}}, bob.csrfFrom("/ui/workflows"))
		if res.status != 404 {
			t.Fatalf("bob runs alice's workflow: %d", res.status)
		}
	})
	t.Run("uma sees what to run, not the steps' definitions", func(t *testing.T) {
		p := uma.get("/ui/workflows/pipeline")
		if p.status != 200 || !strings.Contains(p.body, `id="run-form"`) || !strings.Contains(p.body, `<code>combine</code>`) {
			t.Fatalf("uma: %d\n%s", p.status, p.body)
		}
	})
}

var runLocation = regexp.MustCompile(`^/ui/workflows/runs/([A-Za-z0-9]+)$`)

func TestWorkflowRunFormAndRunPage(t *testing.T) {
	tc := newFlowConsole(t)
	seedPipeline(t, tc)
	uma := tc.signedIn("uma")
	csrf := uma.csrfFrom("/ui/workflows/pipeline")

	for _, c := range []struct {
		name, field string
		form        url.Values
	}{
		{"a required input missing", "inputs.name", url.Values{"in.count": {"2"}}},
		{"an integer that is not one", "inputs.count", url.Values{"in.name": {"Ada"}, "in.count": {"two"}}},
		{"an object that is not JSON", "inputs.opts", url.Values{"in.name": {"Ada"}, "in.count": {"2"}, "in.opts": {"{nope"}}},
	} {
		t.Run("the API's 400 is shown naming the input: "+c.name, func(t *testing.T) {
			p := uma.postForm("/ui/workflows/pipeline/run", c.form, csrf)
			if p.status != 400 {
				t.Fatalf("status %d\n%s", p.status, p.body)
			}
			if !strings.Contains(p.body, `(field: `+c.field) {
				t.Errorf("the error does not name %s:\n%s", c.field, p.body)
			}
			input := strings.TrimPrefix(c.field, "inputs.")
			next := regexp.MustCompile(`(?s)id="input-` + input + `".*?<span class="field-error" role="alert">`)
			if !next.MatchString(p.body) {
				t.Errorf("no error next to input %s", input)
			}
			for k, v := range c.form {
				if k == "in.opts" && !strings.Contains(p.body, ">"+v[0]+"</textarea>") || k != "in.opts" && !strings.Contains(p.body, `value="`+v[0]+`"`) {
					t.Errorf("the value typed for %s (%q) is lost", k, v[0])
				}
			}
		})
	}

	res := uma.postForm("/ui/workflows/pipeline/run", url.Values{"in.name": {"Ada"}, "in.count": {"3"}, "in.color": {"green"},
		"in.tags": {`["a","b"]`}, "in.loud": {"true"}}, csrf)
	m := runLocation.FindStringSubmatch(res.header.Get("Location"))
	if res.status != http.StatusSeeOther || m == nil {
		t.Fatalf("run: %d %q\n%s", res.status, res.header.Get("Location"), res.body)
	}
	id := m[1]
	run := tc.mustAPI("uma", "GET", "/executions/"+id, "", 200)
	in, _ := json.Marshal(field(run, "execution", "inputs"))
	for _, w := range []string{`"count":3`, `"name":"Ada"`, `"color":"green"`, `"tags":["a","b"]`, `"loud":true`, `"ratio":0.5`} {
		if !strings.Contains(string(in), w) {
			t.Errorf("the run's inputs %s lack %s", in, w)
		}
	}

	t.Run("the run page shows the status and the step graph by depth", func(t *testing.T) {
		p := uma.get("/ui/workflows/runs/" + id)
		if p.status != 200 {
			t.Fatalf("status %d\n%s", p.status, p.body)
		}
		for _, w := range []string{`id="run-status"`, `data-status="QUEUED"`, `id="step-graph"`, `id="cancel"`,
			`data-live="/ui/workflows/runs/` + id + `/stream"`, "Stage 3", `data-step="combine" data-status="PENDING"`} {
			if !strings.Contains(p.body, w) {
				t.Errorf("no %q on the run page", w)
			}
		}
		stage2 := p.body[strings.Index(p.body, "Stage 2"):strings.Index(p.body, "Stage 3")]
		if !strings.Contains(stage2, `data-step="left"`) || !strings.Contains(stage2, `data-step="right"`) || strings.Contains(stage2, `data-step="combine"`) {
			t.Errorf("stage 2 is not left and right:\n%s", stage2)
		}
	})

	// The run moves on, as the engine would: prepare succeeded (with a log), left runs,
	// right failed.
	ctx := context.Background()
	appID, _ := tc.store.AppID("calc")
	call, now := tc.store.NewID(), time.Now()
	tc.store.RecordExecution(store.Execution{ID: call, App: "calc", AppID: appID, Route: "/add", Type: store.TypeAsync, Status: store.StatusSuccess,
		Parent: id, Step: "prepare", CreatedAt: now, StartedAt: now, CompletedAt: now}, []byte("prepared the greeting"))
	if _, err := tc.store.UpdateRun(ctx, id, func(r *store.Run) (store.RunUpdate, error) {
		r.Status, r.StartedAt = store.StatusRunning, now
		for i := range r.Steps {
			switch r.Steps[i].Name {
			case "prepare":
				r.Steps[i].Status, r.Steps[i].Calls, r.Steps[i].Attempts = store.StatusSuccess, []string{call}, 1
			case "left":
				r.Steps[i].Status = store.StatusRunning
			case "right":
				r.Steps[i].Status, r.Steps[i].Error = store.StatusFailed, "right went wrong"
			}
		}
		return store.RunUpdate{Events: []store.RunEvent{
			{Type: store.EventStepStarted, Step: "prepare", Attempt: 1, Call: call},
			{Type: store.EventStepFinished, Step: "prepare", Attempt: 1, Call: call, Status: store.StatusSuccess},
		}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Run("the step graph shows each step's state, and the steps' logs", func(t *testing.T) {
		p := uma.get("/ui/workflows/runs/" + id)
		for _, w := range []string{`data-status="RUNNING"`, `data-step="prepare" data-status="SUCCESS"`, `data-step="left" data-status="RUNNING"`,
			`data-step="right" data-status="FAILED"`, "right went wrong", `data-step="combine" data-status="PENDING"`,
			`id="log-prepare"`, "prepared the greeting", "step_finished", `href="/ui/executions/` + call + `"`} {
			if !strings.Contains(p.body, w) {
				t.Errorf("no %q on the run page", w)
			}
		}
	})

	// It ends; the stream sends the final graph and ends.
	if _, err := tc.store.UpdateRun(ctx, id, func(r *store.Run) (store.RunUpdate, error) {
		r.Status, r.CompletedAt = store.StatusFailed, time.Now()
		for i := range r.Steps {
			if r.Steps[i].Name == "left" {
				r.Steps[i].Status = store.StatusSuccess
			}
			if r.Steps[i].Name == "combine" {
				r.Steps[i].Status = store.StatusSkipped
			}
		}
		return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventFinished, Status: store.StatusFailed}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Run("the live region's stream sends the graph and ends with the run", func(t *testing.T) {
		p := uma.get("/ui/workflows/runs/" + id + "/stream")
		if ct := p.header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		for _, w := range []string{`data: `, `id="step-graph"`, `data-step="combine" data-status="SKIPPED"`, `data-step="left" data-status="SUCCESS"`,
			`id="run-status" class="status s-FAILED"`, "event: end"} {
			if !strings.Contains(p.body, w) {
				t.Errorf("no %q in the stream:\n%s", w, p.body)
			}
		}
		if strings.Contains(p.body, `id="cancel"`) {
			t.Error("a finished run offers Cancel")
		}
	})
	t.Run("cancelling a finished run shows the API's 409", func(t *testing.T) {
		p := uma.postForm("/ui/workflows/runs/"+id+"/cancel", url.Values{}, csrf)
		if p.status != 409 || !strings.Contains(p.body, `role="alert"`) || !strings.Contains(p.body, `id="step-graph"`) {
			t.Fatalf("cancel: %d\n%s", p.status, p.body)
		}
	})
	t.Run("bob gets the not-found page for uma's run", func(t *testing.T) {
		bob := tc.signedIn("bob")
		if p := bob.get("/ui/workflows/runs/" + id); p.status != 404 {
			t.Fatalf("bob: %d", p.status)
		}
	})
}

func TestWorkflowRunCancel(t *testing.T) {
	tc := newFlowConsole(t)
	seedPipeline(t, tc)
	alice := tc.signedIn("alice")
	res := alice.postForm("/ui/workflows/pipeline/run", url.Values{"in.name": {"Ada"}, "in.count": {"1"}}, alice.csrfFrom("/ui/workflows/pipeline"))
	m := runLocation.FindStringSubmatch(res.header.Get("Location"))
	if m == nil {
		t.Fatalf("run: %d\n%s", res.status, res.body)
	}
	p := alice.postForm("/ui/workflows/runs/"+m[1]+"/cancel", url.Values{}, alice.csrfFrom("/ui/workflows/runs/"+m[1]))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/workflows/runs/"+m[1] {
		t.Fatalf("cancel: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	run := tc.mustAPI("alice", "GET", "/executions/"+m[1], "", 200)
	if s := field(run, "execution", "status"); s != "CANCELLED" {
		t.Fatalf("after Cancel the run is %v", s)
	}
	if p := alice.get("/ui/workflows/runs/" + m[1]); !strings.Contains(p.body, `data-status="CANCELLED"`) || strings.Contains(p.body, `id="cancel"`) {
		t.Fatalf("run page after cancel:\n%s", p.body)
	}
}

// TestRunStepGraphIsLive follows a running run's stream: each change of the run (through
// the store, as the engine makes them) comes as a new event of the live region.
func TestRunStepGraphIsLive(t *testing.T) {
	tc := newFlowConsole(t)
	seedPipeline(t, tc)
	alice := tc.signedIn("alice")
	res := alice.postForm("/ui/workflows/pipeline/run", url.Values{"in.name": {"Ada"}, "in.count": {"1"}}, alice.csrfFrom("/ui/workflows/pipeline"))
	m := runLocation.FindStringSubmatch(res.header.Get("Location"))
	if m == nil {
		t.Fatalf("run: %d\n%s", res.status, res.body)
	}
	id := m[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tc.srv.URL+"/ui/workflows/runs/"+id+"/stream", nil)
	resp, err := alice.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	next := func() string { // the data of the next event
		t.Helper()
		var data strings.Builder
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v (so far %q)", err, data.String())
			}
			line = strings.TrimRight(line, "\n")
			if line == "" && data.Len() > 0 {
				return data.String()
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				data.WriteString(d + "\n")
			}
		}
	}
	first := next()
	if !strings.Contains(first, `id="step-graph"`) || !strings.Contains(first, `data-step="prepare" data-status="PENDING"`) || !strings.Contains(first, `id="cancel"`) {
		t.Fatalf("first event:\n%s", first)
	}
	if _, err := tc.store.UpdateRun(ctx, id, func(r *store.Run) (store.RunUpdate, error) {
		r.Status, r.StartedAt = store.StatusRunning, time.Now()
		for i := range r.Steps {
			if r.Steps[i].Name == "prepare" {
				r.Steps[i].Status = store.StatusRunning
			}
		}
		return store.RunUpdate{Events: []store.RunEvent{{Type: store.EventStarted}, {Type: store.EventStepStarted, Step: "prepare", Attempt: 1}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	second := next()
	if !strings.Contains(second, `id="run-status" class="status s-RUNNING"`) || !strings.Contains(second, `data-step="prepare" data-status="RUNNING"`) || !strings.Contains(second, "step_started") {
		t.Fatalf("after the run started:\n%s", second)
	}
}
