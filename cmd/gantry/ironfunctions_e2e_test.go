package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	ifclient "github.com/gantry-dev/gantry/gen/ironfunctions/client"
	ifapps "github.com/gantry-dev/gantry/gen/ironfunctions/client/apps"
	ifroutes "github.com/gantry-dev/gantry/gen/ironfunctions/client/routes"
	ifmodels "github.com/gantry-dev/gantry/gen/ironfunctions/models"
)

// TestIronFunctionsListener: with --ironfunctions-addr the server serves the IronFunctions
// API on a listener of its own, named in the ready file: its generated client makes a route
// (and the app it lacks), /version answers, and a call through its /r/ runs the function.
func TestIronFunctionsListener(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "GANTRY_IRONFUNCTIONS_ADDR=127.0.0.1:0")
	addr := s.ready.IronFunctionsAddr
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("ready file: ironfunctions_addr %q", addr)
	}
	c := ifclient.NewHTTPClientWithConfig(strfmt.Default, ifclient.DefaultTransportConfig().WithHost(addr))
	token := httptransport.APIKeyAuth("Authorization", "header", "Bearer "+s.token)

	var refused *ifapps.ListAppsDefault
	if _, err := c.Apps.ListApps(ifapps.NewListAppsParams(), nil); !errors.As(err, &refused) || refused.Code() != http.StatusUnauthorized ||
		refused.Payload == nil || refused.Payload.Error == nil || refused.Payload.Error.Message == "" {
		t.Fatalf("listing apps without credentials: %v, want 401 with IronFunctions' error body", err)
	}
	rc, err := c.Routes.CreateRoute(ifroutes.NewCreateRouteParams().WithApp("ironapp").WithBody(&ifmodels.RouteWrapper{Route: &ifmodels.Route{
		Path: "/hello", Image: imgHello, Config: map[string]string{"NAME": "Iron"},
	}}), token)
	if err != nil || rc.Payload.Message != "Route successfully created" {
		t.Fatalf("create route in a new app: %v %+v", err, rc)
	}
	if _, err := c.Apps.GetApp(ifapps.NewGetAppParams().WithApp("ironapp"), token); err != nil {
		t.Fatalf("the app the route create made: %v", err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/version"); code != 200 || strings.TrimSpace(body) != `{"version":"`+version+`"}` {
		t.Fatalf("GET /version: %d %s", code, body)
	}
	if code, body := get("/r/ironapp/hello"); code != 200 || body != "Hello Iron!" {
		t.Fatalf("GET /r/ironapp/hello: %d %q", code, body)
	}
	// The same route, on the main listener too.
	s.mustCall(t, "GET", "/v1/apps/ironapp/routes/hello", "", 200)
	if _, err := c.Routes.DeleteRoute(ifroutes.NewDeleteRouteParams().WithApp("ironapp").WithRoute("hello"), token); err != nil {
		t.Fatalf("delete route: %v", err)
	}
	if da, err := c.Apps.DeleteApp(ifapps.NewDeleteAppParams().WithApp("ironapp"), token); err != nil || da.Payload.Message != "App deleted" {
		t.Fatalf("delete app: %v %+v", err, da)
	}
}
