package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/runner"
)

// fiveSteps is a chain of five steps over the test function (one container per call): each
// echoes its input after a while, and passes a number on, one more at each step.
func fiveSteps() string {
	var steps []string
	for i := 1; i <= 5; i++ {
		in := `"$.inputs.n"`
		needs := ""
		if i > 1 {
			in = fmt.Sprintf(`"$.steps.s%d.output.n"`, i-1)
			needs = fmt.Sprintf(`"needs": ["s%d"], `, i-1)
		}
		steps = append(steps, fmt.Sprintf(`{"name": "s%d", %s"call": {"app": "wf", "path": "/step"}, "input": {"echo": true, "sleep_ms": 800, "n": %s, "step": %d}}`, i, needs, in, i))
	}
	return `{"workflow": {"inputs": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
	  "outputs": {"n": "$.steps.s5.output.n", "last": "$.steps.s5.output.step"},
	  "steps": [` + strings.Join(steps, ",") + `]}}`
}

// run reads a workflow run through the API.
func (s *server) run(t *testing.T, id string) map[string]any {
	t.Helper()
	ex := s.execution(t, id)
	if ex["kind"] != "workflow" {
		t.Fatalf("execution %s is of kind %v, want workflow", id, ex["kind"])
	}
	return ex
}

// stepStatus is the status of a step of a run.
func stepStatus(run map[string]any, name string) string {
	steps, _ := run["steps"].([]any)
	for _, s := range steps {
		if st, _ := s.(map[string]any); st["name"] == name {
			status, _ := st["status"].(string)
			return status
		}
	}
	return ""
}

// TestAWorkflowRunSurvivesKill9: the server is killed with SIGKILL in the middle of a
// 5-step run and started again on its data dir: the run completes with the right outputs,
// no step that had completed runs again (the calls of each step are counted), and
// nothing stays RUNNING.
func TestAWorkflowRunSurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := launch(dir, "GANTRY_ASYNC_WORKERS=4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Kill() })
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"wf"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/wf/routes", `{"route":{"path":"/step","image":"`+imgTestfn+`"}}`, 201)
	s.mustCall(t, "PUT", "/v1/workflows/five", fiveSteps(), 201)
	res, _ := s.mustCall(t, "POST", "/v1/workflows/five", `{"inputs": {"n": 10}}`, 201)
	loc := res.Header.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]
	if loc != "/v1/executions/"+id || id == "" {
		t.Fatalf("Location %q", loc)
	}
	waitFor(t, time.Minute, "step s3 runs", func() bool { return stepStatus(s.run(t, id), "s3") == "RUNNING" })
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done //nolint:errcheck // the exit status of a killed process
	token := s.token
	s = startServer(t, dir, "GANTRY_ASYNC_WORKERS=4")
	s.token = token
	var run map[string]any
	waitFor(t, 2*time.Minute, "the run ends", func() bool {
		run = s.run(t, id)
		return run["status"] != "RUNNING" && run["status"] != "QUEUED"
	})
	if run["status"] != "SUCCESS" {
		t.Fatalf("the run ended %v: %v", run["status"], run)
	}
	if out, _ := json.Marshal(run["outputs"]); string(out) != `{"last":5,"n":10}` {
		t.Errorf("outputs %s, want n 10 and last 5", out)
	}
	// Every call the run made, by step: the steps that had completed before the kill ran
	// once; the one running then may have run again (at least once); none is unfinished.
	_, body := s.mustCall(t, "GET", "/v1/executions?app=wf&per_page=100", "", 200)
	var list struct{ Executions []map[string]any }
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, ex := range list.Executions {
		if ex["parent"] != id {
			continue
		}
		calls[fmt.Sprint(ex["step"])]++
		if ex["status"] != "SUCCESS" {
			t.Errorf("call %v of step %v ended %v", ex["id"], ex["step"], ex["status"])
		}
	}
	t.Logf("calls per step: %v", calls)
	for _, step := range []string{"s1", "s2", "s4", "s5"} {
		if calls[step] != 1 {
			t.Errorf("step %s made %d calls, want 1", step, calls[step])
		}
	}
	if calls["s3"] < 1 || calls["s3"] > 2 {
		t.Errorf("step s3, running at the kill, made %d calls, want 1 or 2", calls["s3"])
	}
	_, body = s.mustCall(t, "GET", "/v1/executions?status=RUNNING", "", 200)
	if strings.Contains(body, `"id"`) {
		t.Errorf("executions still RUNNING after the run ended: %s", body)
	}
}

// TestAWorkflowOverBothSurfaces triggers one workflow on /v1 (201, Location, the execution)
// and on /waas (201, Location, an empty body, no Content-Type sent and string inputs) and
// follows both to their outputs.
func TestAWorkflowOverBothSurfaces(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_ASYNC_WORKERS=4")
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"wf"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/wf/routes", `{"route":{"path":"/hot","image":"`+imgTestfn+`","format":"http"}}`, 201)
	s.mustCall(t, "PUT", "/v1/workflows/diamond", `{"workflow": {
	  "inputs": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
	  "outputs": {"a": "$.steps.a.output.x", "b": "$.steps.b.output.x"},
	  "steps": [
	    {"name": "prepare", "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "n": "$.inputs.n"}},
	    {"name": "a", "needs": ["prepare"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "x": "$.steps.prepare.output.n"}},
	    {"name": "b", "needs": ["prepare"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "x": "b"}},
	    {"name": "combine", "needs": ["a", "b"], "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true}}
	  ]}}`, 201)

	res, body := s.mustCall(t, "POST", "/v1/workflows/diamond", `{"inputs": {"n": 4}}`, 201)
	v1 := res.Header.Get("Location")
	var created struct{ Execution map[string]any }
	if err := json.Unmarshal([]byte(body), &created); err != nil || "/v1/executions/"+fmt.Sprint(created.Execution["id"]) != v1 {
		t.Fatalf("trigger on /v1: Location %q, body %s (%v)", v1, body, err)
	}

	req, err := http.NewRequest("POST", "http://"+s.addr+"/waas/workflows/diamond", strings.NewReader(`{"inputs": {"n": "5"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token) // and no Content-Type, as the waas client sends it
	wres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wbody, _ := io.ReadAll(wres.Body)
	wres.Body.Close()
	waas := wres.Header.Get("Location")
	if wres.StatusCode != 201 || len(wbody) != 0 || wres.Header.Get("Content-Length") != "0" || !strings.HasPrefix(waas, "/waas/executions/") {
		t.Fatalf("trigger on /waas: %d, Location %q, Content-Length %q, body %q", wres.StatusCode, waas, wres.Header.Get("Content-Length"), wbody)
	}

	for loc, want := range map[string]string{v1: `{"a":4,"b":"b"}`, "/v1/executions/" + waas[strings.LastIndex(waas, "/")+1:]: `{"a":5,"b":"b"}`} {
		var run map[string]any
		waitFor(t, time.Minute, "the run of "+loc+" ends", func() bool {
			_, b := s.mustCall(t, "GET", loc, "", 200)
			var w struct{ Execution map[string]any }
			_ = json.Unmarshal([]byte(b), &w)
			run = w.Execution
			return run["status"] != "RUNNING" && run["status"] != "QUEUED"
		})
		if out, _ := json.Marshal(run["outputs"]); run["status"] != "SUCCESS" || string(out) != want {
			t.Errorf("%s: %v with outputs %s, want SUCCESS with %s", loc, run["status"], out, want)
		}
	}
}

// TestAWorkflowRunsAcrossNodes: two nodes share one PostgreSQL database; a map over 12
// items started on one node has its items run by both nodes' workers, and the run moves on
// wherever an item ends: it completes once, with every item run once, and a cancel asked
// of the other node reaches a run's step running anywhere.
func TestAWorkflowRunsAcrossNodes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "wf-", pgtest.Database(t), 2, "GANTRY_ASYNC_WORKERS=2")
	a, b := c.nodes[0], c.nodes[1]
	a.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"wf"}}`, 201)
	a.mustCall(t, "POST", "/v1/apps/wf/routes", `{"route":{"path":"/hot","image":"`+imgTestfn+`","format":"http","max_concurrency":2}}`, 201)
	a.mustCall(t, "POST", "/v1/apps/wf/routes", `{"route":{"path":"/slow","image":"`+imgTestfn+`","timeout":120}}`, 201)
	a.mustCall(t, "PUT", "/v1/workflows/fan", `{"workflow": {
	  "inputs": {"type": "object", "properties": {"items": {"type": "array"}}},
	  "outputs": {"all": "$.steps.each.output[*].v"},
	  "steps": [{"name": "each", "map": {"items": "$.inputs.items", "max_concurrency": 4},
	             "call": {"app": "wf", "path": "/hot"}, "input": {"echo": true, "sleep_ms": 300, "v": "$.item"}}]}}`, 201)
	res, _ := a.mustCall(t, "POST", "/v1/workflows/fan", `{"inputs": {"items": [0,1,2,3,4,5,6,7,8,9,10,11]}}`, 201)
	id := strings.TrimPrefix(res.Header.Get("Location"), "/v1/executions/")
	var run map[string]any
	waitFor(t, 2*time.Minute, "the map run ends (read on the other node)", func() bool {
		run = b.run(t, id)
		return run["status"] != "RUNNING" && run["status"] != "QUEUED"
	})
	if out, _ := json.Marshal(run["outputs"]); run["status"] != "SUCCESS" || string(out) != `{"all":[0,1,2,3,4,5,6,7,8,9,10,11]}` {
		t.Fatalf("the run ended %v with outputs %s", run["status"], out)
	}
	nodes := map[string]int{}
	_, body := a.mustCall(t, "GET", "/v1/executions?app=wf&per_page=100", "", 200)
	var list struct{ Executions []map[string]any }
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	for _, ex := range list.Executions {
		if ex["parent"] == id {
			nodes[fmt.Sprint(ex["node"])]++
		}
	}
	if nodes["wf-n1"]+nodes["wf-n2"] != 12 || nodes["wf-n1"] == 0 || nodes["wf-n2"] == 0 {
		t.Errorf("the 12 items ran on nodes %v: want 12 calls, on both nodes", nodes)
	}

	a.mustCall(t, "PUT", "/v1/workflows/long", `{"workflow": {"steps": [
	  {"name": "long", "call": {"app": "wf", "path": "/slow"}, "input": {"sleep_ms": 60000}},
	  {"name": "later", "needs": ["long"], "call": {"app": "wf", "path": "/hot"}}]}}`, 201)
	res, _ = a.mustCall(t, "POST", "/v1/workflows/long", `{}`, 201)
	id = strings.TrimPrefix(res.Header.Get("Location"), "/v1/executions/")
	var label string
	waitFor(t, time.Minute, "the long step runs", func() bool {
		steps, _ := b.run(t, id)["steps"].([]any)
		calls, _ := steps[0].(map[string]any)["calls"].([]any)
		if len(calls) == 0 {
			return false
		}
		label = runner.LabelCall + "=" + fmt.Sprint(calls[0])
		return a.runningContainers(t, label)+b.runningContainers(t, label) > 0
	})
	other := a // cancel through the node that does not run the step
	if a.runningContainers(t, label) > 0 {
		other = b
	}
	other.mustCall(t, "DELETE", "/v1/executions/"+id, "", 202)
	waitFor(t, 15*time.Second, "the step's container is gone and the run CANCELLED", func() bool {
		return a.containers(t, label)+b.containers(t, label) == 0 && a.run(t, id)["status"] == "CANCELLED"
	})
	if st := stepStatus(a.run(t, id), "later"); st != "CANCELLED" {
		t.Errorf("the step after the cancelled one is %s, want CANCELLED", st)
	}
}
