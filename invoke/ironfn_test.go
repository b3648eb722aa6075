package invoke

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/fnimage"
	"github.com/gantry-dev/gantry/store"
)

// TestIronFunctionsImageThroughTheService: functions/ironfn, a function written for
// IronFunctions (it reads METHOD, ROUTE, REQUEST_URL, APP_NAME, CALL_ID, HEADER_*,
// PARAM_* and stdin, no FN_ variable), called through the service and the real runner
// on a route with a path parameter, sees what IronFunctions gave it.
func TestIronFunctionsImageThroughTheService(t *testing.T) {
	e := newImageEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	image, err := fnimage.Build(ctx, e.cli, "ironfn", "")
	if err != nil {
		t.Fatalf("build functions/ironfn: %v", err)
	}
	e.route("/users/:id", image, func(r *store.Route) {
		r.Format, r.Type, r.MemoryMiB = store.FormatDefault, store.TypeSync, 64
	})
	c, err := e.svc.Resolve(ctx, Request{App: "shop", Path: "/users/42", Query: "verbose=1", Method: "PUT",
		Header: http.Header{"X-Thing": {"thing-value"}}, Body: []byte(`{"name":"ann"}`)})
	if err != nil {
		t.Fatal(err)
	}
	c.Admit(nil)
	resp, err := e.svc.Run(ctx, c)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	var got struct {
		Method     string            `json:"method"`
		Route      string            `json:"route"`
		RequestURL string            `json:"request_url"`
		AppName    string            `json:"app_name"`
		CallID     string            `json:"call_id"`
		Format     string            `json:"format"`
		MemoryMB   string            `json:"memory_mb"`
		Type       string            `json:"type"`
		Headers    map[string]string `json:"headers"`
		Params     map[string]string `json:"params"`
		Stdin      string            `json:"stdin"`
	}
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		t.Fatalf("answer %q: %v", resp.Body, err)
	}
	for what, pair := range map[string][2]string{
		"METHOD": {got.Method, "PUT"}, "ROUTE": {got.Route, "/users/:id"}, "REQUEST_URL": {got.RequestURL, "/users/42?verbose=1"},
		"APP_NAME": {got.AppName, "shop"}, "CALL_ID": {got.CallID, resp.CallID}, "FORMAT": {got.Format, "default"},
		"MEMORY_MB": {got.MemoryMB, "64"}, "TYPE": {got.Type, "sync"}, "HEADER_X_THING": {got.Headers["X_THING"], "thing-value"},
		"PARAM_ID": {got.Params["ID"], "42"}, "stdin": {got.Stdin, `{"name":"ann"}`},
	} {
		if pair[0] != pair[1] {
			t.Errorf("the function saw %s = %q, want %q (answer %s)", what, pair[0], pair[1], resp.Body)
		}
	}
	if resp.CallID == "" {
		t.Error("no call ID")
	}
}
