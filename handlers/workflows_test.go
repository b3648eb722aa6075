package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// workflowFixture is an authFixture with alice's app calc (route /add), her workflow adder
// shared with the end user uma, and end users uma and ursula (who has no access).
type workflowFixture struct {
	*authFixture
	uma, ursula string
}

const adderBody = `{"workflow":{"description":"adds two numbers",
	"inputs":{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer","default":2}},"required":["a"]},
	"outputs":{"sum":"$.steps.add.output"},
	"steps":[{"name":"add","call":{"app":"calc","path":"/add"},"input":{"a":"$.inputs.a","b":"$.inputs.b"}}],
	"run_access":["user:uma"]}}`

func newWorkflowFixture(t testing.TB) *workflowFixture {
	t.Helper()
	f := &workflowFixture{authFixture: newAuthFixture(t)}
	f.uma, _ = makeToken(t, f.s, "uma", auth.RoleUser, nil)
	f.ursula, _ = makeToken(t, f.s, "ursula", auth.RoleUser, nil)
	expect(t, f.as(t, f.alice, "POST", "/v1/apps", `{"app":{"name":"calc"}}`), 201)
	if _, err := f.s.CreateRoute(context.Background(), store.Route{App: "calc", Path: "/add", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	expect(t, f.as(t, f.alice, "PUT", "/v1/workflows/adder", adderBody), 201)
	return f
}

func TestWorkflowsDefineDescribeList(t *testing.T) {
	f := newWorkflowFixture(t)

	t.Run("a PUT of an existing workflow replaces it as a new version, keeping its owner", func(t *testing.T) {
		res := f.as(t, f.alice, "PUT", "/v1/workflows/adder", strings.Replace(adderBody, "adds two numbers", "adds", 1))
		expect(t, res, 200)
		if get(res.body, "workflow", "version") != 2.0 || get(res.body, "workflow", "owner") != "alice" || get(res.body, "workflow", "description") != "adds" {
			t.Fatalf("replace: %s", res.raw)
		}
	})
	t.Run("describing tells the definition and its summary", func(t *testing.T) {
		res := f.as(t, f.alice, "GET", "/v1/workflows/adder", "")
		expect(t, res, 200)
		if get(res.body, "workflow", "outputs", "sum") != "$.steps.add.output" || get(res.body, "workflow", "inputs", "required") == nil {
			t.Fatalf("definition: %s", res.raw)
		}
		if fmt.Sprint(get(res.body, "workflow", "summary", "outputs")) != "[sum]" {
			t.Fatalf("summary outputs: %s", res.raw)
		}
		steps, _ := get(res.body, "workflow", "summary", "steps").([]any)
		if len(steps) != 1 || get(steps[0], "kind") != "call" || get(steps[0], "app") != "calc" || get(steps[0], "path") != "/add" {
			t.Fatalf("summary steps: %s", res.raw)
		}
		if get(res.body, "workflow", "summary", "inputs", "properties", "b", "default") != 2.0 {
			t.Fatalf("summary inputs: %s", res.raw)
		}
	})
	t.Run("a list is paginated, in name order, and its objects start with name", func(t *testing.T) {
		for _, name := range []string{"b-flow", "c-flow"} {
			expect(t, f.as(t, f.alice, "PUT", "/v1/workflows/"+name, `{"workflow":{"steps":[{"name":"nap","sleep":"1s"}]}}`), 201)
		}
		res := f.as(t, f.alice, "GET", "/v1/workflows?per_page=2", "")
		expect(t, res, 200)
		if !strings.Contains(res.raw, `"workflows":[{"name":"adder",`) {
			t.Fatalf("the first field is not name: %s", res.raw)
		}
		cursor, _ := get(res.body, "next_cursor").(string)
		if cursor == "" || len(get(res.body, "workflows").([]any)) != 2 {
			t.Fatalf("first page: %s", res.raw)
		}
		res = f.as(t, f.alice, "GET", "/v1/workflows?per_page=2&cursor="+cursor, "")
		expect(t, res, 200)
		if list := get(res.body, "workflows").([]any); len(list) != 1 || get(list[0], "name") != "c-flow" || get(res.body, "next_cursor") != nil {
			t.Fatalf("last page: %s", res.raw)
		}
	})
	t.Run("an end user lists and describes only what is shared with it", func(t *testing.T) {
		res := f.as(t, f.uma, "GET", "/v1/workflows", "")
		expect(t, res, 200)
		if list := get(res.body, "workflows").([]any); len(list) != 1 || get(list[0], "name") != "adder" {
			t.Fatalf("uma's list: %s", res.raw)
		}
		res = f.as(t, f.uma, "GET", "/v1/workflows/adder", "")
		expect(t, res, 200)
		// The summary tells what to run; the steps' definitions (their headers may hold the
		// owner's secrets) and the names it is shared with are the owner's.
		if steps, _ := get(res.body, "workflow", "steps").([]any); len(steps) != 0 || get(res.body, "workflow", "run_access") != nil ||
			get(res.body, "workflow", "summary", "steps") == nil {
			t.Fatalf("uma's view of adder: %s", res.raw)
		}
		expect(t, f.as(t, f.uma, "GET", "/v1/workflows/b-flow", ""), 404)
		if n := len(get(f.as(t, f.ursula, "GET", "/v1/workflows", "").body, "workflows").([]any)); n != 0 {
			t.Fatalf("ursula lists %d workflows", n)
		}
		expect(t, f.as(t, f.ursula, "GET", "/v1/workflows/adder", ""), 404)
	})
}

func TestWorkflowDefinitionsRefused(t *testing.T) {
	f := newWorkflowFixture(t)
	expect(t, f.as(t, f.bob, "POST", "/v1/apps", `{"app":{"name":"bobs"}}`), 201)
	if _, err := f.s.CreateRoute(context.Background(), store.Route{App: "bobs", Path: "/x", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, body, field string }{
		{"an unknown field of a step", `{"workflow":{"steps":[{"name":"a","sleep":"1s","colour":"red"}]}}`, "workflow.steps[0]"},
		{"an unknown field of the workflow", `{"workflow":{"steps":[],"colour":"red"}}`, "colour"},
		{"a need of no step", `{"workflow":{"steps":[{"name":"a","sleep":"1s","needs":["ghost"]}]}}`, "workflow.steps[0].needs"},
		{"a call of a route that does not exist", `{"workflow":{"steps":[{"name":"a","call":{"app":"calc","path":"/nope"}}]}}`, "workflow.steps[0].call"},
		{"a call of another developer's app", `{"workflow":{"steps":[{"name":"a","call":{"app":"bobs","path":"/x"}}]}}`, "workflow.steps[0].call"},
		{"a name that is not the path's", `{"workflow":{"name":"other","steps":[{"name":"a","sleep":"1s"}]}}`, "workflow.name"},
		{"run access of an unknown kind", `{"workflow":{"steps":[{"name":"a","sleep":"1s"}],"run_access":["everyone"]}}`, "run_access"},
	} {
		t.Run(c.name+" is a 400 naming the field", func(t *testing.T) {
			res := f.as(t, f.alice, "PUT", "/v1/workflows/bad", c.body)
			expect(t, res, 400)
			if fields, _ := get(res.body, "error", "fields").(string); !strings.Contains(fields, c.field) {
				t.Fatalf("fields %q, want %q: %s", fields, c.field, res.raw)
			}
		})
	}
	expect(t, f.as(t, f.alice, "GET", "/v1/workflows/bad", ""), 404)
}

func TestAWorkflowNamesOnlySecretsItsOwnerMayGive(t *testing.T) {
	f := newWorkflowFixture(t)
	expect(t, f.as(t, f.alice, "POST", "/v1/secrets", `{"secret":{"name":"alices","data":{"k":"v"}}}`), 201)
	expect(t, f.as(t, f.bob, "POST", "/v1/secrets", `{"secret":{"name":"bobs","data":{"k":"v"}}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", ``), 201)
	expect(t, f.as(t, f.bob, "POST", "/v1/users/bob/ssh-key", ``), 201)
	step := func(secrets string) string {
		return `{"workflow":{"steps":[{"name":"a","call":{"app":"calc","path":"/add"},"secrets":[` + secrets + `]}]}}`
	}
	for _, c := range []struct{ name, secrets string }{
		{"another developer's secret", `"bobs"`},
		{"another user's SSH key", `"ssh:bob"`},
		{"a secret that does not exist", `"ghost"`},
		{"an SSH key that does not exist", `"ssh:alice","ssh:carol"`},
	} {
		t.Run(c.name+" is a 400 naming the step's secrets", func(t *testing.T) {
			res := f.as(t, f.alice, "PUT", "/v1/workflows/sec", step(c.secrets))
			expect(t, res, 400)
			if fields, _ := get(res.body, "error", "fields").(string); fields != "workflow.steps[0].secrets" {
				t.Fatalf("fields %q: %s", fields, res.raw)
			}
		})
	}
	expect(t, f.as(t, f.alice, "PUT", "/v1/workflows/sec", step(`"alices","ssh:alice","ssh:@caller"`)), 201)
	// An admin replacing alice's workflow gives its steps alice's secrets only.
	expect(t, f.as(t, f.admin, "PUT", "/v1/workflows/sec", step(`"bobs"`)), 400)
	expect(t, f.as(t, f.admin, "PUT", "/v1/workflows/sec", step(`"alices","ssh:alice"`)), 200)
}

func TestTriggerWorkflow(t *testing.T) {
	f := newWorkflowFixture(t)
	trigger := func(token, key, body string) response {
		t.Helper()
		req := newRequest(t, "POST", "/v1/workflows/adder", body)
		req.Header.Set("Authorization", "Bearer "+token)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		return serve(t, f.h, req)
	}

	res := trigger(f.uma, "k1", `{"inputs":{"a":1}}`)
	expect(t, res, 201)
	id, _ := get(res.body, "execution", "id").(string)
	if loc := res.header.Get("Location"); id == "" || loc != "/v1/executions/"+id {
		t.Fatalf("Location %q for %s", loc, res.raw)
	}
	for field, want := range map[string]any{"kind": "workflow", "workflow": "adder", "workflow_version": 1.0, "status": "QUEUED", "triggered_by": "uma"} {
		if got := get(res.body, "execution", field); got != want {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	if get(res.body, "execution", "inputs", "b") != 2.0 {
		t.Errorf("the inputs' defaults were not applied: %s", res.raw)
	}
	if steps := get(res.body, "execution", "steps").([]any); len(steps) != 1 || get(steps[0], "status") != "PENDING" {
		t.Errorf("steps: %s", res.raw)
	}

	t.Run("the same idempotency key by the same caller answers the same run", func(t *testing.T) {
		again := trigger(f.uma, "k1", `{"inputs":{"a":1}}`)
		expect(t, again, 201)
		if again.header.Get("Location") != res.header.Get("Location") {
			t.Fatalf("Location %q, want %q", again.header.Get("Location"), res.header.Get("Location"))
		}
		other := trigger(f.alice, "k1", `{"inputs":{"a":1}}`)
		expect(t, other, 201)
		if other.header.Get("Location") == res.header.Get("Location") {
			t.Fatal("another caller's key gave uma's run")
		}
	})
	t.Run("a missing input is a 400 naming it", func(t *testing.T) {
		res := trigger(f.uma, "", `{"inputs":{"b":3}}`)
		expect(t, res, 400)
		if get(res.body, "error", "fields") != "inputs.a" {
			t.Fatalf("%s", res.raw)
		}
		expect(t, trigger(f.uma, "", ""), 400) // no body: no inputs, a is missing
		expect(t, trigger(f.uma, "", `{"inputs":{"a":"one"}}`), 400)
	})
	t.Run("an unknown workflow, or one not shared with the caller, is a 404", func(t *testing.T) {
		expect(t, serve(t, f.h, authed(newRequest(t, "POST", "/v1/workflows/ghost", `{"inputs":{}}`), f.uma)), 404)
		expect(t, trigger(f.ursula, "", `{"inputs":{"a":1}}`), 404)
		expect(t, trigger(f.bob, "", `{"inputs":{"a":1}}`), 404)
	})
}

func newRequest(t testing.TB, method, path, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://gantry"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func authed(req *http.Request, token string) *http.Request {
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
