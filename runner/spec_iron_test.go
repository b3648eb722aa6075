package runner

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/fnimage"
)

// ironNames pairs each IronFunctions environment name with the FN_ variable whose value
// it carries.
var ironNames = map[string]string{
	"APP_NAME": "FN_APP_NAME", "ROUTE": "FN_PATH", "FORMAT": "FN_FORMAT", "MEMORY_MB": "FN_MEMORY", "TYPE": "FN_TYPE",
	"CALL_ID": "FN_CALL_ID", "METHOD": "FN_METHOD", "REQUEST_URL": "FN_REQUEST_URL",
	"PARAM_ID": "FN_PARAM_ID", "HEADER_X_THING": "FN_HEADER_X_THING", "HEADER_ACCEPT": "FN_HEADER_ACCEPT",
}

func ironCall() *Call {
	return &Call{ID: "call-1", Method: "PUT", URL: "/users/42?x=1", Deadline: time.Now(),
		Function: Function{App: "shop", Path: "/users/:id", Format: FormatDefault, MemoryMiB: 256,
			Env: []map[string]string{{"GREETING": "hi"}, nil, {"FN_TYPE": "sync"}}},
		Params: map[string]string{"id": "42"},
		Header: http.Header{"X-Thing": {"a", "b"}, "Accept": {"*/*"}}}
}

// TestCallEnvSetsTheIronFunctionsNames: a default-format call's environment has each
// IronFunctions name beside its FN_ variable, with the same value.
func TestCallEnvSetsTheIronFunctionsNames(t *testing.T) {
	env := callEnv(ironCall())
	want := map[string]string{"FN_APP_NAME": "shop", "FN_PATH": "/users/:id", "FN_FORMAT": "default", "FN_MEMORY": "256",
		"FN_TYPE": "sync", "FN_CALL_ID": "call-1", "FN_METHOD": "PUT", "FN_REQUEST_URL": "/users/42?x=1",
		"FN_PARAM_ID": "42", "FN_HEADER_X_THING": "a, b", "FN_HEADER_ACCEPT": "*/*", "GREETING": "hi"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for iron, fn := range ironNames {
		if v, ok := env[iron]; !ok || v != env[fn] {
			t.Errorf("%s = %q (set: %v), want %q as %s", iron, v, ok, env[fn], fn)
		}
	}
}

// TestFunctionEnvSetsTheIronFunctionsNamesPerContainer: a hot container's environment
// (one per container, not per call) has the per-container names only.
func TestFunctionEnvSetsTheIronFunctionsNamesPerContainer(t *testing.T) {
	for _, format := range []string{FormatHTTP, FormatJSON} {
		c := ironCall()
		c.Function.Format = format
		env := functionEnv(&c.Function)
		for _, iron := range []string{"APP_NAME", "ROUTE", "FORMAT", "MEMORY_MB", "TYPE"} {
			if v, ok := env[iron]; !ok || v != env[ironNames[iron]] {
				t.Errorf("%s: %s = %q (set: %v), want %q", format, iron, v, ok, env[ironNames[iron]])
			}
		}
		for _, k := range []string{"CALL_ID", "METHOD", "REQUEST_URL", "PARAM_ID", "HEADER_X_THING"} {
			if v, ok := env[k]; ok {
				t.Errorf("%s: a hot container's environment has the per-call %s=%q", format, k, v)
			}
		}
	}
}

// TestCallEnvConfigWinsOverTheIronFunctionsNames: an app's or route's config that sets
// one of the IronFunctions names keeps its value (it is an ordinary name); the FN_ names
// stay Gantry's.
func TestCallEnvConfigWinsOverTheIronFunctionsNames(t *testing.T) {
	c := ironCall()
	c.Function.Env[0]["ROUTE"] = "app's"
	c.Function.Env[1] = map[string]string{"HEADER_X_THING": "route's", "METHOD": "route's", "FN_METHOD": "route's"}
	env := callEnv(c)
	for k, v := range map[string]string{"ROUTE": "app's", "HEADER_X_THING": "route's", "METHOD": "route's",
		"FN_METHOD": "PUT", "FN_PATH": "/users/:id", "FN_HEADER_X_THING": "a, b", "APP_NAME": "shop"} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

// TestCheckCallEnvCountsTheIronFunctionsCopies: the bounds count both copies of each
// header and parameter, and still take what a call could carry as FN_ variables alone.
func TestCheckCallEnvCountsTheIronFunctionsCopies(t *testing.T) {
	// About 32 KiB of headers fit, as they did as FN_HEADER_ variables alone...
	h := http.Header{"X-A": {strings.Repeat("h", MaxHeaderEnvBytes/4-20)}, "X-B": {strings.Repeat("h", MaxHeaderEnvBytes/4-20)}}
	if err := CheckCallEnv("/", nil, h); err != nil {
		t.Fatalf("%d bytes of headers: %v", MaxHeaderEnvBytes/2-40, err)
	}
	// ...and no more: their two copies are over the bound.
	h.Set("X-C", strings.Repeat("h", 100))
	if err := CheckCallEnv("/", nil, h); !errors.Is(err, ErrHeadersTooLarge) || !strings.Contains(err.Error(), "HEADER_<NAME>") {
		t.Fatalf("headers past the bound with their HEADER_ copies: %v, want ErrHeadersTooLarge naming both", err)
	}
	p := map[string]string{"id": strings.Repeat("p", MaxParamEnvBytes/2)}
	if err := CheckCallEnv("/", p, nil); err != nil {
		t.Fatalf("%d bytes of parameters: %v", MaxParamEnvBytes/2, err)
	}
	p["id"] += "p"
	if err := CheckCallEnv("/", p, nil); !errors.Is(err, ErrURLTooLong) || !strings.Contains(err.Error(), "PARAM_<NAME>") {
		t.Fatalf("parameters past the bound with their PARAM_ copies: %v, want ErrURLTooLong naming both", err)
	}
}

// TestIronFunctionsImageRuns runs functions/ironfn, which reads only the IronFunctions
// names and stdin, for a route with a path parameter, and checks everything it saw.
func TestIronFunctionsImageRuns(t *testing.T) {
	r := newTestRunner(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := NewDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	image, err := fnimage.Build(ctx, cli, "ironfn", "")
	if err != nil {
		t.Fatalf("build functions/ironfn: %v", err)
	}
	fn := testRoute(FormatDefault, func(f *Function) {
		f.App, f.Path, f.Image = "shop", "/users/:id", image
		f.Env = []map[string]string{nil, nil, {"FN_TYPE": "sync"}}
	})
	call := &Call{ID: "call-iron-1", Function: fn, Method: "POST", URL: "/users/42?verbose=1",
		Params: map[string]string{"id": "42"}, Header: http.Header{"X-Thing": {"thing-value"}},
		Body: []byte(`{"name":"ann"}`), Deadline: time.Now().Add(fn.Timeout)}
	res, err := r.Run(ctx, call)
	if err != nil {
		t.Fatalf("run: %v", err)
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
		FnVars     int               `json:"fn_vars"`
	}
	if err := json.Unmarshal(res.Body, &got); err != nil {
		t.Fatalf("output %q: %v", res.Body, err)
	}
	for what, pair := range map[string][2]string{
		"METHOD": {got.Method, "POST"}, "ROUTE": {got.Route, "/users/:id"}, "REQUEST_URL": {got.RequestURL, "/users/42?verbose=1"},
		"APP_NAME": {got.AppName, "shop"}, "CALL_ID": {got.CallID, "call-iron-1"}, "FORMAT": {got.Format, "default"},
		"MEMORY_MB": {got.MemoryMB, "128"}, "TYPE": {got.Type, "sync"}, "HEADER_X_THING": {got.Headers["X_THING"], "thing-value"},
		"PARAM_ID": {got.Params["ID"], "42"}, "stdin": {got.Stdin, `{"name":"ann"}`},
	} {
		if pair[0] != pair[1] {
			t.Errorf("the function saw %s = %q, want %q", what, pair[0], pair[1])
		}
	}
	if len(got.Params) != 1 {
		t.Errorf("PARAM_ variables: %v, want only ID", got.Params)
	}
	if got.FnVars == 0 {
		t.Errorf("no FN_ variable beside the IronFunctions names")
	}
}
