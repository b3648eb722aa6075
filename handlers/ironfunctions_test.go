package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/auth"
	ifclient "github.com/gantry-dev/gantry/gen/ironfunctions/client"
	ifapps "github.com/gantry-dev/gantry/gen/ironfunctions/client/apps"
	ifroutes "github.com/gantry-dev/gantry/gen/ironfunctions/client/routes"
	ifmodels "github.com/gantry-dev/gantry/gen/ironfunctions/models"
	ifrestapi "github.com/gantry-dev/gantry/gen/ironfunctions/restapi"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// ifFixture is the IronFunctions surface over a store, without authentication (every
// caller an anonymous admin, as with --auth=none), served over HTTP and driven by the
// client generated from swagger/ironfunctions.yml.
type ifFixture struct {
	s   *bolt.DB
	api *API
	srv *httptest.Server
	c   *ifclient.Ironfunctions
}

func newIFFixture(t *testing.T) *ifFixture {
	t.Helper()
	s, err := bolt.Open(context.Background(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := New(Deps{Store: s, Version: "9.8.7"})
	h, err := a.IronFunctionsHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &ifFixture{s: s, api: a, srv: srv, c: ifClient(t, srv.URL)}
}

func ifClient(t *testing.T, base string) *ifclient.Ironfunctions {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return ifclient.NewHTTPClientWithConfig(strfmt.Default, ifclient.DefaultTransportConfig().WithHost(u.Host))
}

// ifBearer is the credentials of a Gantry token on the IronFunctions surface.
func ifBearer(token string) runtime.ClientAuthInfoWriter {
	return httptransport.APIKeyAuth("Authorization", "header", "Bearer "+token)
}

// ifFailure is an error answer of the generated client.
type ifFailure interface {
	Code() int
	GetPayload() *ifmodels.Error
}

// expectIFError checks that err is an answer of status code whose message contains want.
func expectIFError(t *testing.T, err error, code int, want string) {
	t.Helper()
	var f ifFailure
	if !errors.As(err, &f) {
		t.Fatalf("want a %d answer, got %v", code, err)
	}
	if f.Code() != code {
		t.Fatalf("answer %d, want %d: %v", f.Code(), code, err)
	}
	p := f.GetPayload()
	if p == nil || p.Error == nil || !strings.Contains(p.Error.Message, want) {
		t.Fatalf("%d answer: error %+v, want a message containing %q", code, p, want)
	}
}

func ifRaw(t *testing.T, h http.Handler, token, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestIronFunctionsAppsAndRoutes(t *testing.T) {
	f := newIFFixture(t)
	apps, routes := f.c.Apps, f.c.Routes

	// Apps: create 200, taken 409, get, list, PUT creates then merges, PATCH merges.
	created, err := apps.CreateApp(ifapps.NewCreateAppParams().WithBody(&ifmodels.AppWrapper{App: &ifmodels.App{Name: "shop", Config: map[string]string{"A": "1"}}}), nil)
	if err != nil || created.Payload.App.Name != "shop" || created.Payload.App.Config["A"] != "1" {
		t.Fatalf("create app: %v %+v", err, created)
	}
	_, err = apps.CreateApp(ifapps.NewCreateAppParams().WithBody(&ifmodels.AppWrapper{App: &ifmodels.App{Name: "shop"}}), nil)
	expectIFError(t, err, 409, "shop")
	got, err := apps.GetApp(ifapps.NewGetAppParams().WithApp("shop"), nil)
	if err != nil || got.Payload.App.Name != "shop" {
		t.Fatalf("get app: %v %+v", err, got)
	}
	_, err = apps.GetApp(ifapps.NewGetAppParams().WithApp("nope"), nil)
	expectIFError(t, err, 404, "nope")
	put, err := apps.PutApp(ifapps.NewPutAppParams().WithApp("put-made").WithBody(&ifmodels.AppWrapper{App: &ifmodels.App{Config: map[string]string{"X": "1"}}}), nil)
	if err != nil || put.Payload.App.Name != "put-made" || put.Payload.App.Config["X"] != "1" {
		t.Fatalf("put (create) app: %v %+v", err, put)
	}
	put, err = apps.PutApp(ifapps.NewPutAppParams().WithApp("put-made").WithBody(&ifmodels.AppWrapper{App: &ifmodels.App{Config: map[string]string{"Y": "2"}}}), nil)
	if err != nil || put.Payload.App.Config["X"] != "1" || put.Payload.App.Config["Y"] != "2" {
		t.Fatalf("put (merge) app: %v %+v", err, put)
	}
	patched, err := apps.PatchApp(ifapps.NewPatchAppParams().WithApp("put-made").WithBody(&ifmodels.AppWrapper{App: &ifmodels.App{Config: map[string]string{"X": ""}}}), nil)
	if err != nil || len(patched.Payload.App.Config) != 1 || patched.Payload.App.Config["Y"] != "2" {
		t.Fatalf("patch app: %v %+v", err, patched)
	}
	list, err := apps.ListApps(ifapps.NewListAppsParams(), nil)
	if err != nil || len(list.Payload.Apps) != 2 || list.Payload.Apps[0].Name != "put-made" || list.Payload.Apps[1].Name != "shop" {
		t.Fatalf("list apps: %v %+v", err, list)
	}

	// Routes: create 200 with a message, in an existing app and in a missing one.
	timeout := int64(30)
	rc, err := routes.CreateRoute(ifroutes.NewCreateRouteParams().WithApp("shop").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{
		Path: "/hello", Image: "img:1", Memory: 256, Type: "sync", Format: "default", Timeout: timeout, Config: map[string]string{"K": "v"},
		Headers: map[string][]string{"X-Test": {"yes"}},
	}}), nil)
	if err != nil || rc.Payload.Message != "Route successfully created" || rc.Payload.Route.Path != "/hello" || rc.Payload.Route.AppName != "shop" ||
		rc.Payload.Route.Memory != 256 || rc.Payload.Route.Timeout != 30 || rc.Payload.Route.Headers["X-Test"][0] != "yes" {
		t.Fatalf("create route: %v %+v", err, rc)
	}
	_, err = routes.CreateRoute(ifroutes.NewCreateRouteParams().WithApp("shop").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Path: "/hello", Image: "img:1"}}), nil)
	expectIFError(t, err, 409, "/hello")
	_, err = routes.CreateRoute(ifroutes.NewCreateRouteParams().WithApp("shop").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Path: "/noimage"}}), nil)
	expectIFError(t, err, 400, "image")
	// A route refused leaves no app behind.
	_, err = routes.CreateRoute(ifroutes.NewCreateRouteParams().WithApp("fresh").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Path: "/a//b", Image: "img:1"}}), nil)
	expectIFError(t, err, 400, "path")
	_, err = routes.CreateRoute(ifroutes.NewCreateRouteParams().WithApp("fresh").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Path: "/a", Image: "img:1", Memory: 1}}), nil)
	expectIFError(t, err, 400, "memory")
	if _, err := f.s.AppOwner("fresh"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused route create made its app: %v", err)
	}
	rc, err = routes.CreateRoute(ifroutes.NewCreateRouteParams().WithApp("fresh").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Path: "/a/b", Image: "img:1"}}), nil)
	if err != nil || rc.Payload.Route.AppName != "fresh" || rc.Payload.Route.Path != "/a/b" {
		t.Fatalf("create route in a missing app: %v %+v", err, rc)
	}
	if owner, err := f.s.AppOwner("fresh"); err != nil || owner != auth.Anonymous.Name { // owned by the caller
		t.Fatalf("the app made by a route create: owner %q, %v", owner, err)
	}
	// Get, a nested path included; list.
	gr, err := routes.GetRoute(ifroutes.NewGetRouteParams().WithApp("fresh").WithRoute("a/b"), nil)
	if err != nil || gr.Payload.Route.Path != "/a/b" || gr.Payload.Route.Image != "img:1" {
		t.Fatalf("get route: %v %+v", err, gr)
	}
	_, err = routes.GetRoute(ifroutes.NewGetRouteParams().WithApp("shop").WithRoute("nope"), nil)
	expectIFError(t, err, 404, "/nope")
	lr, err := routes.ListRoutes(ifroutes.NewListRoutesParams().WithApp("shop"), nil)
	if err != nil || len(lr.Payload.Routes) != 1 || lr.Payload.Routes[0].Path != "/hello" {
		t.Fatalf("list routes: %v %+v", err, lr)
	}
	_, err = routes.ListRoutes(ifroutes.NewListRoutesParams().WithApp("nope"), nil)
	expectIFError(t, err, 404, "nope")
	// PUT merges a partial body (the image stays), and creates a missing route.
	pr, err := routes.PutRoute(ifroutes.NewPutRouteParams().WithApp("shop").WithRoute("hello").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Memory: 512, Config: map[string]string{"L": "w"}}}), nil)
	if err != nil || pr.Payload.Route.Image != "img:1" || pr.Payload.Route.Memory != 512 || pr.Payload.Route.Timeout != 30 ||
		pr.Payload.Route.Config["K"] != "v" || pr.Payload.Route.Config["L"] != "w" {
		t.Fatalf("put (merge) route: %v %+v", err, pr)
	}
	pr, err = routes.PutRoute(ifroutes.NewPutRouteParams().WithApp("shop").WithRoute("second").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Image: "img:2"}}), nil)
	if err != nil || pr.Payload.Route.Path != "/second" || pr.Payload.Route.Image != "img:2" {
		t.Fatalf("put (create) route: %v %+v", err, pr)
	}
	_, err = routes.PutRoute(ifroutes.NewPutRouteParams().WithApp("shop").WithRoute("third").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Memory: 64}}), nil)
	expectIFError(t, err, 400, "image")
	ptr, err := routes.PatchRoute(ifroutes.NewPatchRouteParams().WithApp("shop").WithRoute("hello").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Type: "async", Config: map[string]string{"K": ""}}}), nil)
	if err != nil || ptr.Payload.Route.Type != "async" || ptr.Payload.Route.Image != "img:1" || ptr.Payload.Route.Config["K"] != "" || ptr.Payload.Route.Config["L"] != "w" {
		t.Fatalf("patch route: %v %+v", err, ptr)
	}

	// Deletes: an app with routes is refused 400, as IronFunctions did; then 200 {"message"}.
	_, err = apps.DeleteApp(ifapps.NewDeleteAppParams().WithApp("shop"), nil)
	expectIFError(t, err, 400, "has routes")
	for _, p := range []string{"hello", "second"} {
		dr, err := routes.DeleteRoute(ifroutes.NewDeleteRouteParams().WithApp("shop").WithRoute(p), nil)
		if err != nil || dr.Payload.Message != "Route deleted" {
			t.Fatalf("delete route %s: %v %+v", p, err, dr)
		}
	}
	_, err = routes.DeleteRoute(ifroutes.NewDeleteRouteParams().WithApp("shop").WithRoute("hello"), nil)
	expectIFError(t, err, 404, "/hello")
	da, err := apps.DeleteApp(ifapps.NewDeleteAppParams().WithApp("shop"), nil)
	if err != nil || da.Payload.Message != "App deleted" {
		t.Fatalf("delete app: %v %+v", err, da)
	}
	_, err = apps.DeleteApp(ifapps.NewDeleteAppParams().WithApp("shop"), nil)
	expectIFError(t, err, 404, "shop")

	// The raw bodies: 200 on creates and deletes, the shapes IronFunctions answered.
	h := f.srv.Config.Handler
	if code, body := ifRaw(t, h, "", "POST", "/v1/apps", `{"app":{"name":"raw"}}`); code != 200 || strings.TrimSpace(body) != `{"app":{"name":"raw"}}` {
		t.Fatalf("raw create: %d %s", code, body)
	}
	if code, body := ifRaw(t, h, "", "DELETE", "/v1/apps/raw", ""); code != 200 || strings.TrimSpace(body) != `{"message":"App deleted"}` {
		t.Fatalf("raw delete: %d %s", code, body)
	}
}

func TestIronFunctionsVersionAndPaths(t *testing.T) {
	f := newIFFixture(t)
	res, err := http.Get(f.srv.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"version":"9.8.7"}` || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /version: %d %s %q", res.StatusCode, b, res.Header.Get("Content-Type"))
	}
	h := f.srv.Config.Handler
	if code, body := ifRaw(t, h, "", "POST", "/version", "{}"); code != 405 || !strings.Contains(body, `"error"`) {
		t.Fatalf("POST /version: %d %s", code, body)
	}
	// /r/ is the main listener's function calls: here, without a runner, 503 as there.
	if code, body := ifRaw(t, h, "", "GET", "/r/shop/hello", ""); code != 503 || !strings.Contains(body, `"error"`) {
		t.Fatalf("GET /r/: %d %s", code, body)
	}
	if code, body := ifRaw(t, h, "", "GET", "/waas/workflows", ""); code != 404 || !strings.Contains(body, `"error"`) {
		t.Fatalf("another path: %d %s", code, body)
	}
}

func TestIronFunctionsListsAreWhole(t *testing.T) {
	f := newIFFixture(t)
	ctx := context.Background()
	for i := range 35 {
		if _, err := f.s.CreateApp(ctx, store.App{Name: fmt.Sprintf("app-%02d", i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.CreateRoute(ctx, store.Route{App: "app-00", Path: fmt.Sprintf("/r%02d", i), Image: "img"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	list, err := f.c.Apps.ListApps(ifapps.NewListAppsParams(), nil)
	if err != nil || len(list.Payload.Apps) != 35 || list.Payload.Apps[34].Name != "app-34" {
		t.Fatalf("35 apps: %v, %d listed", err, len(list.Payload.Apps))
	}
	lr, err := f.c.Routes.ListRoutes(ifroutes.NewListRoutesParams().WithApp("app-00"), nil)
	if err != nil || len(lr.Payload.Routes) != 35 {
		t.Fatalf("35 routes: %v, %+v", err, lr)
	}
	// Beyond the bound (lowered here from IronFunctionsMaxList): 400, saying so.
	f.api.ironFunctionsMaxList = 34
	_, err = f.c.Apps.ListApps(ifapps.NewListAppsParams(), nil)
	expectIFError(t, err, 400, "more than 34 apps")
	_, err = f.c.Routes.ListRoutes(ifroutes.NewListRoutesParams().WithApp("app-00"), nil)
	expectIFError(t, err, 400, "more than 34 routes")
	f.api.ironFunctionsMaxList = 35
	if _, err := f.c.Apps.ListApps(ifapps.NewListAppsParams(), nil); err != nil {
		t.Fatalf("35 apps with a bound of 35: %v", err)
	}
}

func TestIronFunctionsIgnoredFields(t *testing.T) {
	f := newIFFixture(t)
	h := f.srv.Config.Handler
	// What the 0.1.18 clients send: app_name, an empty jwt_key, a wrapper's message and error.
	code, body := ifRaw(t, h, "", "POST", "/v1/apps/old/routes", `{"message":"","error":{"message":""},"route":{"app_name":"other","path":"/x","image":"img","jwt_key":""}}`)
	if code != 200 || !strings.Contains(body, `"app_name":"old"`) || strings.Contains(body, "jwt_key") {
		t.Fatalf("route create with the ignored fields: %d %s", code, body)
	}
	if code, body := ifRaw(t, h, "", "PUT", "/v1/apps/old/routes/x", `{"error":{"message":"","fields":""},"route":{"app_name":"old","memory":64}}`); code != 200 || !strings.Contains(body, `"image":"img"`) {
		t.Fatalf("route put with the ignored fields: %d %s", code, body)
	}
	if code, body := ifRaw(t, h, "", "PUT", "/v1/apps/old", `{"message":"","app":{"config":{"A":"b"}}}`); code != 200 {
		t.Fatalf("app put with a message: %d %s", code, body)
	}
	// A jwt_key that says something, and the hot formats, are refused, never dropped: the
	// route would be public, or its image never answer.
	for _, tt := range []struct{ method, path, body, field string }{
		{"POST", "/v1/apps/old/routes", `{"route":{"path":"/jwt","image":"img","jwt_key":"k"}}`, "route.jwt_key"},
		{"PATCH", "/v1/apps/old/routes/x", `{"route":{"jwt_key":"k"}}`, "route.jwt_key"},
		{"POST", "/v1/apps/old/routes", `{"route":{"path":"/hot","image":"img","format":"http"}}`, "route.format"},
		{"PUT", "/v1/apps/old/routes/x", `{"route":{"format":"json"}}`, "route.format"},
	} {
		code, body := ifRaw(t, h, "", tt.method, tt.path, tt.body)
		if code != 400 || !strings.Contains(body, `"fields":"`+tt.field+`"`) {
			t.Errorf("%s %s %s: %d %s", tt.method, tt.path, tt.body, code, body)
		}
	}
	if code, body := ifRaw(t, h, "", "GET", "/v1/apps/old/routes/jwt", ""); code != 404 {
		t.Errorf("a route refused for its jwt_key was made: %d %s", code, body)
	}
	// Any other unknown field is refused, naming it.
	for path, b := range map[string]string{
		"/v1/apps/old/routes/x": `{"route":{"timout":5}}`,
		"/v1/apps/old":          `{"app":{"name":"old"},"bogus":1}`,
	} {
		code, body := ifRaw(t, h, "", "PATCH", path, b)
		if code != 400 || !strings.Contains(body, `"error"`) || (!strings.Contains(body, "timout") && !strings.Contains(body, "bogus")) {
			t.Errorf("PATCH %s %s: %d %s", path, b, code, body)
		}
	}
}

// ifOperation is an operation of ironfunctions.yml, its path filled in, with a valid body
// when it takes one.
type ifOperation struct {
	id, method, path, template, body string
}

// ifOperations are the operations of ironfunctions.yml on app and its route /hello.
func ifOperations(t *testing.T, app string) []ifOperation {
	t.Helper()
	doc, err := loads.Analyzed(ifrestapi.SwaggerJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{
		"createApp":   `{"app":{"name":"made-by-test"}}`,
		"putApp":      `{"app":{}}`,
		"patchApp":    `{"app":{}}`,
		"createRoute": `{"route":{"path":"/made","image":"img"}}`,
		"putRoute":    `{"route":{"image":"img"}}`,
		"patchRoute":  `{"route":{"memory":64}}`,
	}
	var ops []ifOperation
	for method, byPath := range doc.Analyzer.Operations() {
		for p, op := range byPath {
			ops = append(ops, ifOperation{id: op.ID, method: strings.ToUpper(method), template: p, body: bodies[op.ID],
				path: doc.BasePath() + strings.NewReplacer("{app}", app, "{route}", "hello").Replace(p)})
		}
	}
	slices.SortFunc(ops, func(a, b ifOperation) int { return strings.Compare(a.id, b.id) })
	if len(ops) != 12 {
		t.Fatalf("%d operations in ironfunctions.yml, want 12", len(ops))
	}
	return ops
}

// TestEveryIronFunctionsOperationNeedsCredentials walks every operation of
// ironfunctions.yml: with authentication on, without credentials or with bad ones, each
// answers 401 in the error shape; /version stays public.
func TestEveryIronFunctionsOperationNeedsCredentials(t *testing.T) {
	f := newAuthFixture(t)
	h, err := f.api.IronFunctionsHandler()
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]string{
		"none":          "",
		"garbage":       "not-a-token",
		"unknown token": "gantry_01ARZ3NDEKTSV4RRFFQ69G5FAV_" + strings.Repeat("A", 43),
		"wrong secret":  f.wrong,
		"expired token": f.expired,
		"revoked token": f.revoked,
	}
	for _, o := range ifOperations(t, "shop") {
		for name, cred := range creds {
			code, body := ifRaw(t, h, cred, o.method, o.path, o.body)
			if code != 401 || !strings.Contains(body, `"error":{`) || !strings.Contains(body, `"message":`) {
				t.Errorf("%s %s %s with %s credentials: %d %s", o.id, o.method, o.path, name, code, body)
			}
		}
	}
	for _, p := range []string{"/r/shop/hello"} { // the route's own auth decides there; no route: 404 or 503, never a call
		if code, _ := ifRaw(t, h, "", "GET", p, ""); code == 200 {
			t.Errorf("GET %s without credentials: 200", p)
		}
	}
	if code, body := ifRaw(t, h, "", "GET", "/version", ""); code != 200 || !strings.Contains(body, `"version":"test"`) {
		t.Errorf("GET /version without credentials: %d %s", code, body)
	}
	// Nothing was made by the refused requests.
	if code, body := ifRaw(t, h, f.admin, "GET", "/v1/apps", ""); code != 200 || strings.TrimSpace(body) != `{"apps":[]}` {
		t.Fatalf("after the refused requests: %d %s", code, body)
	}
	// A token passes; an end user (role user) is refused every operation.
	if code, body := ifRaw(t, h, f.alice, "GET", "/v1/apps", ""); code != 200 {
		t.Fatalf("alice: %d %s", code, body)
	}
	uma, _ := makeToken(t, f.s, "uma", auth.RoleUser, nil)
	for _, o := range ifOperations(t, "shop") {
		if code, body := ifRaw(t, h, uma, o.method, o.path, o.body); code != 403 {
			t.Errorf("%s as an end user: %d %s", o.id, code, body)
		}
	}
}

// TestIronFunctionsDeveloperCannotReachOthersApps walks every operation of ironfunctions.yml
// as bob against alice's app and route: each is 404, as if they did not exist, but for the
// list (which holds none of alice's) and the create of an app of bob's own.
func TestIronFunctionsDeveloperCannotReachOthersApps(t *testing.T) {
	f := newAuthFixture(t)
	h, err := f.api.IronFunctionsHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := ifClient(t, srv.URL)
	// alice's route create makes her app, owned by her.
	if _, err := c.Routes.CreateRoute(ifroutes.NewCreateRouteParams().WithApp("alices").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{Path: "/hello", Image: "img"}}), ifBearer(f.alice)); err != nil {
		t.Fatal(err)
	}
	if owner, err := f.s.AppOwner("alices"); err != nil || owner != "alice" {
		t.Fatalf("the app made by alice's route create: owner %q, %v", owner, err)
	}
	for _, o := range ifOperations(t, "alices") {
		code, body := ifRaw(t, h, f.bob, o.method, o.path, o.body)
		switch o.id {
		case "listApps":
			if code != 200 || strings.Contains(body, "alices") {
				t.Errorf("%s as bob: %d %s", o.id, code, body)
			}
		case "createApp":
			if code != 200 {
				t.Errorf("%s as bob: %d %s", o.id, code, body)
			}
		default:
			if code != 404 {
				t.Errorf("%s %s as bob: %d, want 404; %s", o.id, o.path, code, body)
			}
		}
	}
	r, err := c.Routes.GetRoute(ifroutes.NewGetRouteParams().WithApp("alices").WithRoute("hello"), ifBearer(f.alice))
	if err != nil || r.Payload.Route.Image != "img" || r.Payload.Route.Memory != 128 {
		t.Fatalf("alice's route, after bob: %v %+v", err, r)
	}
	if owner, _ := f.s.AppOwner("made-by-test"); owner != "bob" {
		t.Fatalf("bob's app is %q's", owner)
	}
}

// TestIronFunctionsBadInput: what /v1 refuses, the IronFunctions surface refuses alike, in
// the error shape: go-openapi's validation, bodies that are not JSON, dot segments.
func TestIronFunctionsBadInput(t *testing.T) {
	f := newIFFixture(t)
	h := f.srv.Config.Handler
	if code, body := ifRaw(t, h, "", "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"img","type":"sometimes"}}`); code != 400 || !strings.Contains(body, `"message":`) || !strings.Contains(body, "type") {
		t.Errorf("a type out of the enum: %d %s", code, body)
	}
	if code, body := ifRaw(t, h, "", "POST", "/v1/apps", `{"app":`); code != 400 || !strings.Contains(body, `"message":`) {
		t.Errorf("a body cut short: %d %s", code, body)
	}
	r := httptest.NewRequest("POST", "/v1/apps", strings.NewReader(`{"app":{"name":"x"}}`))
	r.Header.Set("Content-Type", "text/plain")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 415 || !strings.Contains(w.Body.String(), `"message":`) {
		t.Errorf("text/plain: %d %s", w.Code, w.Body.String())
	}
	if code, body := ifRaw(t, h, "", "GET", "/v1/apps/a/routes/../../apps", ""); code != 400 || !strings.Contains(body, "segment") {
		t.Errorf("a dot segment: %d %s", code, body)
	}
	if code, body := ifRaw(t, h, "", "GET", "/v1/nothing", ""); code != 404 || !strings.Contains(body, `"message":`) {
		t.Errorf("no such path: %d %s", code, body)
	}
}
