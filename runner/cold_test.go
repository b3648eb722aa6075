package runner

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestColdCalls(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{MaxOutputBytes: 4096})
	ctx := context.Background()

	tests := []struct {
		name, body string
		route      func(*Function)
		wantBody   string
		wantErr    func(error) bool
		check      func(t *testing.T, res *Result, err error)
	}{
		{name: "hello world", body: "", wantBody: "Hello World!"},
		{name: "hello john", body: `{"name":"John"}`, wantBody: "Hello John!"},
		{name: "bad exit", body: `{"exit":3,"stderr":"boom"}`, check: func(t *testing.T, res *Result, err error) {
			var fe *FunctionError
			if !errors.As(err, &fe) || fe.Reason != ReasonBadExit || *fe.ExitCode != 3 {
				t.Fatalf("got %v, want a bad_exit with code 3", err)
			}
			if !strings.Contains(string(res.Log), "boom") {
				t.Fatalf("stderr not in the log: %q", res.Log)
			}
		}},
		{name: "out of memory", body: `{"alloc_mb":96}`, route: func(r *Function) { r.MemoryMiB = 16 }, check: func(t *testing.T, _ *Result, err error) {
			var fe *FunctionError
			if !errors.As(err, &fe) || fe.Reason != ReasonKilled {
				t.Fatalf("got %v, want reason killed", err)
			}
		}},
		{name: "output capped", body: `{"output_bytes":100000}`, check: func(t *testing.T, res *Result, err error) {
			if err != nil || len(res.Body) != 4096 || !res.OutputTruncated {
				t.Fatalf("got %d bytes truncated=%v err=%v, want 4096 and truncated", len(res.Body), res.OutputTruncated, err)
			}
		}},
		{name: "crash", body: `{"crash":true}`, check: func(t *testing.T, res *Result, err error) {
			var fe *FunctionError
			if !errors.As(err, &fe) || fe.Reason != ReasonBadExit || !strings.Contains(string(res.Log), "panic") {
				t.Fatalf("got %v with log %q, want a bad exit with the panic in the log", err, res.Log)
			}
		}},
		{name: "environment", body: `{"env":true,"env_keys":["GREETING"]}`, route: func(r *Function) { r.Env = []map[string]string{{"GREETING": "hi"}} }, check: func(t *testing.T, res *Result, err error) {
			var env map[string]string
			if err != nil || json.Unmarshal(res.Body, &env) != nil {
				t.Fatalf("env call: %v %q", err, res.Body)
			}
			for k, v := range map[string]string{"GREETING": "hi", "FN_APP_NAME": "app", "FN_PATH": "/users/:id", "FN_METHOD": "POST",
				"FN_PARAM_ID": "42", "FN_HEADER_X_TEST": "yes", "FN_FORMAT": "default", "FN_MEMORY": "128", "FN_REQUEST_URL": "/users/42?x=1"} {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			if env["FN_CALL_ID"] == "" || env["FN_DEADLINE"] == "" {
				t.Errorf("call id or deadline missing: %v", env)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			call := testCall(testRoute(FormatDefault, tt.route), tt.body)
			if tt.name == "environment" {
				call.Function.Path, call.URL, call.Params = "/users/:id", "/users/42?x=1", map[string]string{"id": "42"}
			}
			res, err := r.Run(ctx, call)
			if tt.check != nil {
				tt.check(t, res, err)
				return
			}
			if err != nil || string(res.Body) != tt.wantBody || res.Hot {
				t.Fatalf("got %q %v, want %q from a cold container", res.Body, err, tt.wantBody)
			}
		})
	}
}

func TestColdTimeoutKillsTheContainer(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	call := testCall(testRoute(FormatDefault, func(r *Function) { r.Timeout = time.Second }), `{"sleep_ms":20000}`)
	start := time.Now()
	_, err := r.Run(context.Background(), call)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 15*time.Second { // the function sleeps 20s: it was cut short
		t.Fatalf("a 1s timeout returned after %s", d)
	}
	eventually(t, 10*time.Second, "the timed-out container is still there", func() bool { return countContainers(t, r.opts.Instance) == 0 })
}

// TestColdCallCancelledWhileItStartsLeavesNoContainer: a call cancelled at any moment of
// its start (the create, the attach, the start of its container) leaves no container
// behind, even one the daemon created for a request the call had abandoned.
func TestColdCallCancelledWhileItStartsLeavesNoContainer(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	for i := range 25 {
		ctx, cancel := context.WithCancel(context.Background())
		if i%2 == 0 { // a cancel, or a deadline
			time.AfterFunc(time.Duration(i)*2*time.Millisecond, cancel)
		} else {
			ctx, cancel = context.WithTimeout(ctx, time.Duration(i)*2*time.Millisecond)
		}
		_, err := r.Run(ctx, testCall(testRoute(FormatDefault, nil), `{"sleep_ms":20000}`))
		cancel()
		if err == nil {
			t.Fatalf("call %d cancelled after %dms succeeded", i, 2*i)
		}
	}
	eventually(t, 10*time.Second, "containers of cancelled calls are still there", func() bool { return countContainers(t, r.opts.Instance) == 0 })
}
