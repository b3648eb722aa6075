package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/routes"
)

// ironFunctionsServer answers GET /v1/apps and GET /v1/apps/{app}/routes as an
// IronFunctions 0.1.29 server does (its swagger.yml's AppsWrapper and RoutesWrapper, with
// the fields its routes carry, jwt_key and app_name included); other paths 404 with its
// error body.
func ironFunctionsServer(t *testing.T, image string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/apps":
			_, _ = w.Write([]byte(`{"apps":[{"name":"legacy","config":{"DB":"postgres://db"}},{"name":"empty"}]}`))
		case "/v1/apps/legacy/routes":
			_ = json.NewEncoder(w).Encode(map[string]any{"routes": []map[string]any{
				{"app_name": "legacy", "path": "/hello", "image": image, "memory": 64, "type": "sync", "format": "default",
					"max_concurrency": 1, "timeout": 20, "idle_timeout": 30, "headers": map[string][]string{"X-Legacy": {"1"}},
					"config": map[string]string{"GREETING": "hi"}, "jwt_key": "secret-of-ironfunctions"},
				{"app_name": "legacy", "path": "/users/:id", "image": image, "type": "async", "format": "default", "jwt_key": ""},
				{"app_name": "legacy", "path": "/hot", "image": image, "format": "http"},
			}})
		case "/v1/apps/empty/routes":
			_, _ = w.Write([]byte(`{"routes":[]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"message":"Path not found"}}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestImportFromIronFunctions moves an IronFunctions server's apps and routes into Gantry:
// `gantry import --from-ironfunctions URL` writes a project file that `gantry apply` creates,
// with the fields both have, the IronFunctions-only ones left out.
func TestImportFromIronFunctions(t *testing.T) {
	t.Parallel()
	iron := ironFunctionsServer(t, imgTestfn)
	s := startServer(t, t.TempDir())
	alice := createToken(t, s, "alice", "developer")
	apiURL := "http://" + s.addr
	file := filepath.Join(t.TempDir(), "project.yaml")

	// fn keeps only API_URL's scheme and host: so does import.
	res := gantryAs(t, apiURL, alice, "", "import", "--from-ironfunctions", iron.URL+"/v1?x=1", "-f", file)
	if res.code != 0 {
		t.Fatalf("import: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "route legacy/hello had a jwt_key: written with auth: token") || !strings.Contains(res.stderr, "left out: route legacy/hot") {
		t.Fatalf("import's warnings:\n%s", res.stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "jwt_key") || strings.Contains(string(b), "app_name") || !strings.Contains(string(b), "/users/:id") {
		t.Fatalf("project file:\n%s", b)
	}
	if res := gantryAs(t, apiURL, alice, "", "apply", "-f", file); res.code != 0 {
		t.Fatalf("apply: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	api := s.clientAs(alice)
	ctx := context.Background()
	app, err := api.Apps.GetAppContext(ctx, apps.NewGetAppParams().WithApp("legacy"), nil)
	if err != nil || app.Payload.App.Config["DB"] != "postgres://db" || app.Payload.App.Owner != "alice" {
		t.Fatalf("app legacy: %+v %v", app, err)
	}
	if _, err := api.Apps.GetAppContext(ctx, apps.NewGetAppParams().WithApp("empty"), nil); err != nil {
		t.Fatalf("app empty: %v", err)
	}
	r, err := api.Routes.GetRouteContext(ctx, routes.NewGetRouteParams().WithApp("legacy").WithRoute("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Payload.Route
	if got.Auth != "token" { // IronFunctions refused calls without a JWT: never public here
		t.Fatalf("route /hello of a jwt_key: auth %q", got.Auth)
	}
	if _, err := api.Routes.GetRouteContext(ctx, routes.NewGetRouteParams().WithApp("legacy").WithRoute("hot"), nil); err == nil {
		t.Fatal("the http-format route was imported")
	}
	if got.Image != imgTestfn || got.Memory == nil || *got.Memory != 64 || got.Timeout == nil || *got.Timeout != 20 ||
		got.IdleTimeout == nil || *got.IdleTimeout != 30 || got.Config["GREETING"] != "hi" || len(got.Headers["X-Legacy"]) != 1 {
		t.Fatalf("route /hello: %+v", got)
	}
	if r, err := api.Routes.GetRouteContext(ctx, routes.NewGetRouteParams().WithApp("legacy").WithRoute("users/:id"), nil); err != nil || r.Payload.Route.Type != "async" {
		t.Fatalf("route /users/:id: %+v %v", r, err)
	}
	// A second import and apply change nothing.
	res = gantryAs(t, apiURL, alice, "", "import", "--from-ironfunctions", iron.URL, "-f", file)
	if res.code != 0 {
		t.Fatal(res.stderr)
	}
	if res := gantryAs(t, apiURL, alice, "", "apply", "-f", file); res.code != 0 || !strings.Contains(res.stdout, "no changes") {
		t.Fatalf("second apply: %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	t.Run("a server that is not IronFunctions is refused with its answer", func(t *testing.T) {
		notIron := httptest.NewServer(http.NotFoundHandler())
		defer notIron.Close()
		res := gantryAs(t, apiURL, alice, "", "import", "--from-ironfunctions", notIron.URL)
		if res.code == 0 || !strings.Contains(res.stderr, "404") {
			t.Fatalf("got %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		res = gantryAs(t, apiURL, alice, "", "import", "--from-ironfunctions", "ftp://x")
		if res.code == 0 || !strings.Contains(res.stderr, "http(s) URL") {
			t.Fatalf("got %d\n%s%s", res.code, res.stdout, res.stderr)
		}
	})
}
