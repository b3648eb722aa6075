package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/gen/client"
	"github.com/gantry-dev/gantry/gen/client/apis"
	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/images"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/client/schedules"
	"github.com/gantry-dev/gantry/gen/client/subscriptions"
	"github.com/gantry-dev/gantry/gen/client/workflows"
	"github.com/gantry-dev/gantry/internal/fnimage"
)

// writeCounter is a proxy in front of the server that counts the requests that are not
// reads, to show that an apply with nothing to do writes nothing.
type writeCounter struct {
	url    string
	writes atomic.Int64
}

func newWriteCounter(t *testing.T, s *server) *writeCounter {
	target, err := url.Parse("http://" + s.addr)
	if err != nil {
		t.Fatal(err)
	}
	wc := &writeCounter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			wc.writes.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	wc.url = ts.URL
	return wc
}

// take returns the writes counted since the last call.
func (wc *writeCounter) take() int64 { return wc.writes.Swap(0) }

// gantryAs runs a gantry CLI command with token against apiURL.
func gantryAs(t *testing.T, apiURL, token string, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := gantryCmd(ctx, args...)
	cmd.Env = append(cmd.Env, "GANTRY_API_URL="+apiURL, "GANTRY_TOKEN="+token, "GANTRY_DATA_DIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, strings.NewReader(stdin)
	_ = cmd.Run()
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// TestApplyProjectFile applies the example project as a developer: everything is created,
// a second apply changes nothing and writes nothing, an edit updates only what changed,
// --prune deletes exactly what was dropped and never another owner's, and an export
// applies as a no-op.
func TestApplyProjectFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, name := range []string{"hello-http", "hello-json"} { // `make images` tags; hello:dev is built by TestMain
		if _, err := fnimage.Build(ctx, docker, name, "gantry/"+name+":dev"); err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
	}
	s := startServer(t, t.TempDir())
	wc := newWriteCounter(t, s)
	alice, bob := createToken(t, s, "alice", "developer"), createToken(t, s, "bob", "developer")
	api := s.clientAs(alice)
	projectFile, err := filepath.Abs(filepath.Join("..", "..", "functions", "examples", "project", "gantry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(projectFile)
	if err != nil {
		t.Fatal(err)
	}
	// Edited copies live elsewhere: their build context is the example's.
	example := strings.Replace(string(b), "context: greeter", "context: "+filepath.Join(filepath.Dir(projectFile), "greeter"), 1)
	dir := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil { //nolint:gosec // G703: a file in the test's temp dir
			t.Fatal(err)
		}
		return f
	}
	apply := func(token string, args ...string) cliResult {
		t.Helper()
		res := gantryAs(t, wc.url, token, "", append([]string{"apply"}, args...)...)
		if res.code != 0 {
			t.Fatalf("apply %v: exit %d\n%s%s", args, res.code, res.stdout, res.stderr)
		}
		return res
	}

	// Bob, another developer, has his own images, app and API; the admin has an app. Bob's
	// file lists his function image before the base it is built on: the base is created first.
	bobFile := write("bob.yaml", "images:\n  - {name: bob-fn, context: "+filepath.Join(filepath.Dir(projectFile), "greeter")+", base: '@bob-base'}\n"+
		"  - {name: bob-base, kind: base, reference: gantry/hello:dev}\napps:\n  - name: bobs\n    routes: [{path: /hello, image: gantry/hello:dev}]\n"+
		"apis:\n  - {name: bob-api, hosts: [bob.localhost], uris: [/], function: {app: bobs, route: /hello}}\n")
	if res := apply(bob, "-f", bobFile); !strings.HasPrefix(res.stdout, "+ image bob-base\n+ image bob-fn\n") || !strings.Contains(res.stdout, "applied: 5 created, 0 updated, 0 deleted") {
		t.Fatalf("bob's apply:\n%s", res.stdout)
	}
	s.cli(t, "apps", "create", "admins")
	wc.take()

	// A dry run prints the plan and changes nothing.
	res := apply(alice, "-f", projectFile, "--dry-run")
	wantPlan := "+ image hello-base\n+ image greeter-hello\n+ app greeter\n+ route greeter/hello\n+ route greeter/hello-http\n+ route greeter/hello-json\n+ api greeter-api\n" +
		"+ workflow greet-twice\n+ subscription greet-new-users\n+ schedule morning-greeting\n"
	if res.stdout != wantPlan+"dry run: 10 to create, 0 to update, 0 to delete; nothing changed\n" {
		t.Errorf("dry run:\n%s", res.stdout)
	}
	if n := wc.take(); n != 0 {
		t.Errorf("the dry run wrote %d times", n)
	}

	// The first apply creates everything, in dependency order.
	if res := apply(alice, "-f", projectFile); res.stdout != wantPlan+"applied: 10 created, 0 updated, 0 deleted\n" {
		t.Errorf("first apply:\n%s", res.stdout)
	}
	if n := wc.take(); n != 10 {
		t.Errorf("the first apply wrote %d times, want 10", n)
	}
	base, err := api.Images.GetImageContext(ctx, images.NewGetImageParams().WithName("hello-base"), nil)
	if err != nil || base.Payload.Image.Status != "READY" || base.Payload.Image.Kind != "base" || base.Payload.Image.Owner != "alice" {
		t.Fatalf("image hello-base: %+v %v", base, err)
	}
	built, err := api.Images.GetImageContext(ctx, images.NewGetImageParams().WithName("greeter-hello"), nil)
	if err != nil || built.Payload.Image.Status != "READY" || built.Payload.Image.Source != "build" || built.Payload.Image.Base != "@hello-base" {
		t.Fatalf("image greeter-hello: %+v %v", built, err)
	}
	updated := routeTimes(t, api)
	if len(updated) != 3 {
		t.Fatalf("routes after apply: %v", updated)
	}
	if r, err := api.Routes.GetRouteContext(ctx, routes.NewGetRouteParams().WithApp("greeter").WithRoute("/hello-json"), nil); err != nil ||
		r.Payload.Route.Format != "json" || r.Payload.Route.Config["LOG_LEVEL"] != "info" || r.Payload.Route.Headers["Cache-Control"][0] != "no-store" {
		t.Errorf("route /hello-json: %+v %v", r, err)
	}
	if a, err := api.Apis.GetAPIContext(ctx, apis.NewGetAPIParams().WithAPI("greeter-api"), nil); err != nil ||
		*a.Payload.API.RateLimit.Rps != 10 || a.Payload.API.Owner != "alice" {
		t.Errorf("API: %+v %v", a, err)
	}
	wf, err := api.Workflows.GetWorkflowContext(ctx, workflows.NewGetWorkflowParams().WithName("greet-twice"), nil)
	if err != nil || wf.Payload.Workflow.Version != 1 || len(wf.Payload.Workflow.Steps) != 2 {
		t.Fatalf("workflow: %+v %v", wf, err)
	}
	if sub, err := api.Subscriptions.GetSubscriptionContext(ctx, subscriptions.NewGetSubscriptionParams().WithName("greet-new-users"), nil); err != nil ||
		sub.Payload.Subscription.Target.Workflow != "greet-twice" {
		t.Errorf("subscription: %+v %v", sub, err)
	}
	if sch, err := api.Schedules.GetScheduleContext(ctx, schedules.NewGetScheduleParams().WithName("morning-greeting"), nil); err != nil ||
		*sch.Payload.Schedule.Target.Call.Path != "/hello" {
		t.Errorf("schedule: %+v %v", sch, err)
	}
	if r, err := api.Routes.GetRouteContext(ctx, routes.NewGetRouteParams().WithApp("greeter").WithRoute("/hello"), nil); err != nil || r.Payload.Route.Image != "@greeter-hello" {
		t.Errorf("route /hello: %+v %v", r, err)
	}
	// The project works: a route answers.
	if out := gantryAs(t, "http://"+s.addr, alice, "", "call", "greeter", "/hello-json", "--data", `{"name":"Ada"}`); out.stdout != "Hello Ada!" {
		t.Errorf("call of the applied route: %+v", out)
	}

	// A second apply changes nothing and writes nothing.
	if res := apply(alice, "-f", projectFile); res.stdout != "no changes\n" {
		t.Errorf("second apply:\n%s", res.stdout)
	}
	if n := wc.take(); n != 0 {
		t.Errorf("the second apply wrote %d times", n)
	}

	// --rebuild-images builds again the image the file gives a context for, and only that.
	if res := apply(alice, "-f", projectFile, "--rebuild-images"); !strings.HasPrefix(res.stdout, "~ image greeter-hello: rebuild from ") ||
		!strings.HasSuffix(res.stdout, "/greeter\napplied: 0 created, 1 updated, 0 deleted\n") {
		t.Errorf("apply --rebuild-images:\n%s", res.stdout)
	}
	if n := wc.take(); n != 1 {
		t.Errorf("the rebuild wrote %d times, want the one upload", n)
	}
	if again, err := api.Images.GetImageContext(ctx, images.NewGetImageParams().WithName("greeter-hello"), nil); err != nil ||
		again.Payload.Image.Status != "READY" || again.Payload.Image.BuiltAt.String() == built.Payload.Image.BuiltAt.String() {
		t.Errorf("greeter-hello after the rebuild: %+v %v (built at %s before)", again, err, built.Payload.Image.BuiltAt)
	}

	// An edited field updates that route only.
	edited := write("edited.yaml", strings.Replace(example, "memory: 64", "memory: 96", 1))
	if res := apply(alice, "-f", edited); res.stdout != "~ route greeter/hello: memory 64 → 96\napplied: 0 created, 1 updated, 0 deleted\n" {
		t.Errorf("apply of the edit:\n%s", res.stdout)
	}
	if n := wc.take(); n != 1 {
		t.Errorf("the edit wrote %d times, want 1", n)
	}
	after := routeTimes(t, api)
	for path, at := range updated {
		if changed := after[path] != at; changed != (path == "/hello") {
			t.Errorf("route %s: updated_at %s → %s", path, at, after[path])
		}
	}
	if wf, err := api.Workflows.GetWorkflowContext(ctx, workflows.NewGetWorkflowParams().WithName("greet-twice"), nil); err != nil || wf.Payload.Workflow.Version != 1 {
		t.Errorf("the workflow changed: %+v %v", wf, err)
	}

	// Drop a route and the API: without --prune they stay, with it exactly those go.
	pruned := strings.Replace(example, "      - path: /hello-http\n        image: gantry/hello-http:dev\n        format: http\n        idle_timeout: 60\n        max_concurrency: 2\n", "", 1)
	pruned = pruned[:strings.Index(pruned, "apis:")] + pruned[strings.Index(pruned, "# Greets a name"):]
	prunedFile := write("pruned.yaml", strings.Replace(pruned, "memory: 64", "memory: 96", 1))
	if res := apply(alice, "-f", prunedFile); res.stdout != "no changes\n" || !strings.Contains(res.stderr, "2 of your resources are not in") {
		t.Errorf("apply without --prune: %+v", res)
	}
	if res := apply(alice, "-f", prunedFile, "--prune", "--dry-run"); res.stdout != "- api greeter-api\n- route greeter/hello-http\ndry run: 0 to create, 0 to update, 2 to delete; nothing changed\n" {
		t.Errorf("prune dry run:\n%s", res.stdout)
	}
	if n := wc.take(); n != 0 {
		t.Errorf("%d writes before the prune", n)
	}
	if res := apply(alice, "-f", prunedFile, "--prune"); res.stdout != "- api greeter-api\n- route greeter/hello-http\napplied: 0 created, 0 updated, 2 deleted\n" {
		t.Errorf("prune:\n%s", res.stdout)
	}
	if n := wc.take(); n != 2 {
		t.Errorf("the prune wrote %d times, want 2", n)
	}
	if after := routeTimes(t, api); len(after) != 2 || after["/hello-http"] != "" {
		t.Errorf("routes after the prune: %v", after)
	}
	bobs := s.clientAs(bob)
	if _, err := bobs.Routes.GetRouteContext(ctx, routes.NewGetRouteParams().WithApp("bobs").WithRoute("/hello"), nil); err != nil {
		t.Errorf("bob's route after alice's prune: %v", err)
	}
	if _, err := bobs.Apis.GetAPIContext(ctx, apis.NewGetAPIParams().WithAPI("bob-api"), nil); err != nil {
		t.Errorf("bob's API after alice's prune: %v", err)
	}

	// An admin's prune touches only the admin's own.
	empty := write("empty.yaml", "apps: []\n")
	if res := apply(s.token, "-f", empty, "--prune"); res.stdout != "- app admins\napplied: 0 created, 0 updated, 1 deleted\n" {
		t.Errorf("the admin's prune:\n%s", res.stdout)
	}
	wc.take()
	if _, err := api.Apps.GetAppContext(ctx, apps.NewGetAppParams().WithApp("greeter"), nil); err != nil {
		t.Errorf("alice's app after the admin's prune: %v", err)
	}
	if _, err := bobs.Apps.GetAppContext(ctx, apps.NewGetAppParams().WithApp("bobs"), nil); err != nil {
		t.Errorf("bob's app after the admin's prune: %v", err)
	}
	for _, img := range []struct {
		who  *client.Gantry
		name string
	}{{api, "hello-base"}, {api, "greeter-hello"}, {bobs, "bob-base"}, {bobs, "bob-fn"}} {
		if _, err := img.who.Images.GetImageContext(ctx, images.NewGetImageParams().WithName(img.name), nil); err != nil {
			t.Errorf("image %s after the prunes: %v", img.name, err)
		}
	}

	// Export, as YAML on stdout and as JSON to a file; applying either changes nothing.
	exported := gantryAs(t, wc.url, alice, "", "export")
	if exported.code != 0 || !strings.Contains(exported.stdout, "name: greeter\n") || strings.Contains(exported.stdout, "bobs") ||
		strings.Contains(exported.stdout, "owner") || strings.Contains(exported.stdout, "updated_at") {
		t.Fatalf("export: %+v", exported)
	}
	if res := gantryAs(t, wc.url, alice, exported.stdout, "apply", "-f", "-"); res.code != 0 || res.stdout != "no changes\n" || res.stderr != "" {
		t.Errorf("apply of the export: %+v", res)
	}
	asJSON := filepath.Join(dir, "export.json")
	if res := gantryAs(t, wc.url, alice, "", "export", "-f", asJSON); res.code != 0 {
		t.Fatalf("export -f: %+v", res)
	}
	if res := apply(alice, "-f", asJSON, "--prune"); res.stdout != "no changes\n" {
		t.Errorf("apply --prune of the JSON export:\n%s", res.stdout)
	}
	if n := wc.take(); n != 0 {
		t.Errorf("the exports and their applies wrote %d times", n)
	}

	// A bad file names the line and the field, and nothing is written.
	bad := write("bad.yaml", "apps:\n  - name: greeter\n    routes:\n      - path: /hello\n        image: gantry/hello:dev\n        memory: 96MiB\n")
	res = gantryAs(t, wc.url, alice, "", "apply", "-f", bad)
	if res.code == 0 || !strings.Contains(res.stderr, "bad.yaml:6: apps[0].routes[0].memory: want an integer") {
		t.Errorf("apply of a bad file: %+v", res)
	}
	// The server's refusal names the entry it refused.
	taken := write("taken.yaml", "apps:\n  - name: bobs\n")
	res = gantryAs(t, wc.url, alice, "", "apply", "-f", taken)
	if res.code == 0 || !strings.Contains(res.stderr, "taken.yaml:2: apps[0]: create app bobs: ") {
		t.Errorf("apply of another owner's app name: %+v", res)
	}
	if n := wc.take(); n != 1 {
		t.Errorf("the refused files wrote %d times, want the one refused create", n)
	}
}

// routeTimes maps the paths of app greeter's routes to their updated_at.
func routeTimes(t *testing.T, api *client.Gantry) map[string]string {
	t.Helper()
	res, err := api.Routes.ListRoutesContext(context.Background(), routes.NewListRoutesParams().WithApp("greeter"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range res.Payload.Routes {
		out[r.Path] = r.UpdatedAt.String()
	}
	return out
}
