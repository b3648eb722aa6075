package invoke

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// versions is the service's narrow Secrets interface over a map of when each secret last
// changed: the test double of the secret service.
type versions map[string]time.Time

func (v versions) Version(_, _ string, refs []string) (time.Time, error) {
	var newest time.Time
	for _, ref := range refs {
		at, ok := v[ref]
		if !ok {
			return time.Time{}, store.Errorf(store.ErrConflict, "secret %q does not exist", ref)
		}
		if at.After(newest) {
			newest = at
		}
	}
	return newest, nil
}

var (
	dbChanged  = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	keyChanged = time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)
)

// withSecrets makes the env's service know the secrets of v (nil: no secret store).
func (e *env) withSecrets(v Secrets) *env {
	e.svc = New(e.db, e.fr, Options{Node: "node-a", Secrets: v, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return e
}

func TestCallsGetTheirRoutesSecrets(t *testing.T) {
	e := newEnv(t).withSecrets(versions{"db": dbChanged, "ssh:ada": keyChanged})
	e.route("/fn", func(r *store.Route) { r.Secrets = []string{"db", "ssh:ada"} })
	e.route("/plain", nil)
	if _, err := e.call("POST", "/fn", http.Header{}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.call("POST", "/plain", http.Header{}, ""); err != nil {
		t.Fatal(err)
	}
	ran := e.fr.ran()
	if fn := ran[0].Function; !slices.Equal(fn.Secrets, []string{"db", "ssh:ada"}) || !fn.SecretsVersion.Equal(keyChanged) {
		t.Fatalf("the runner got secrets %v of version %s, want the route's, of the newest's", fn.Secrets, fn.SecretsVersion)
	}
	if fn := ran[1].Function; fn.Secrets != nil || !fn.SecretsVersion.IsZero() {
		t.Fatalf("a route without secrets got %v %s", fn.Secrets, fn.SecretsVersion)
	}
	for _, env := range ran[0].Function.Env {
		for k := range env {
			if strings.Contains(strings.ToLower(k), "secret") {
				t.Errorf("a secret reached the environment: %s", k)
			}
		}
	}
}

// TestCallsWithoutTheirSecretsNeverRun: a call whose route names a secret that does not
// exist, or that names secrets on a server without a secret store, fails before anything
// runs: a sync caller gets the error (409 naming the secret; 503), an async call ends
// FAILED with it, and is not retried.
func TestCallsWithoutTheirSecretsNeverRun(t *testing.T) {
	tests := []struct {
		name    string
		source  Secrets
		status  int
		message string
	}{
		{"a secret that does not exist", versions{"db": dbChanged}, http.StatusConflict, `the secrets of shop/fn: secret "gone" does not exist`},
		{"no secret store", nil, http.StatusServiceUnavailable, "route shop/fn names secrets, but this server has no secret store: it runs no function with secrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name+", sync", func(t *testing.T) {
			e := newEnv(t).withSecrets(tt.source)
			e.route("/fn", func(r *store.Route) { r.Secrets = []string{"db", "gone"} })
			resp, err := e.call("POST", "/fn", http.Header{}, "")
			if err == nil {
				t.Fatal("the call succeeded")
			}
			if got := httperr.From(e.svc.log, err); got.Status != tt.status || got.Message != tt.message {
				t.Fatalf("answer %d %q, want %d %q", got.Status, got.Message, tt.status, tt.message)
			}
			if len(e.fr.ran()) != 0 {
				t.Fatal("the runner got the call")
			}
			if ex := e.execution(resp.CallID); ex.Status != store.StatusFailed || ex.Error != tt.message || ex.Container != "" {
				t.Fatalf("execution %s %q (container %q), want FAILED with the message, no container", ex.Status, ex.Error, ex.Container)
			}
		})
		t.Run(tt.name+", async", func(t *testing.T) {
			e := newEnv(t).withSecrets(tt.source)
			e.route("/fn", func(r *store.Route) { r.Type, r.Secrets = store.TypeAsync, []string{"db", "gone"} })
			w, err := e.svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Poll: 10 * time.Millisecond, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { w.StopLeasing(); _ = w.Wait(t.Context()) }()
			resp, err := e.call("POST", "/fn", http.Header{}, "")
			if err != nil || !resp.Accepted {
				t.Fatalf("accept: %v", err)
			}
			eventually(t, 5*time.Second, "the call ended", func() bool { return e.execution(resp.CallID).Status == store.StatusFailed })
			ex := e.execution(resp.CallID)
			if ex.Error != tt.message || ex.Reason != store.ReasonError || ex.Attempts != 1 || len(e.fr.ran()) != 0 {
				t.Fatalf("execution %s %s %q after %d attempts, %d runs; want FAILED with the message, once, never run", ex.Status, ex.Reason, ex.Error, ex.Attempts, len(e.fr.ran()))
			}
		})
	}
}

// TestStepCallsCarryTheirSecrets: a step's own secrets (names, "ssh:@caller" resolved by
// the engine) are kept in its task apart from its route's, and its call gets both, each once.
func TestStepCallsCarryTheirSecrets(t *testing.T) {
	e := newEnv(t).withSecrets(versions{"db": dbChanged, "ssh:bob": keyChanged})
	e.route("/fn", func(r *store.Route) { r.Secrets = []string{"db"} })
	sc, err := e.svc.StepCall(StepRequest{App: "shop", Path: "/fn", Parent: "run-1", Step: "s",
		Secrets: []string{"ssh:bob", "db"}, SecretsOwner: "ada", SecretsLent: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sc.Task.Secrets, []string{"ssh:bob", "db"}) || !slices.Equal(sc.Task.Route.Secrets, []string{"db"}) ||
		sc.Task.SecretsOwner != "ada" || sc.Task.SecretsLent != "bob" {
		t.Fatalf("task secrets %v, route's %v", sc.Task.Secrets, sc.Task.Route.Secrets)
	}
	if _, err := e.svc.run(t.Context(), sc.Task, time.Now(), func(*runner.Result, error) {}); err != nil {
		t.Fatal(err)
	}
	if fn := e.fr.ran()[0].Function; !slices.Equal(fn.Secrets, []string{"db", "ssh:bob"}) || !fn.SecretsVersion.Equal(keyChanged) {
		t.Fatalf("the step's call got %v of %s, want the route's and the step's, each once", fn.Secrets, fn.SecretsVersion)
	}

	_, err = e.svc.StepCall(StepRequest{App: "shop", Path: "/fn", Parent: "run-1", Step: "s", Secrets: []string{"ssh:@caller"}})
	var verr *store.ValidationError
	if !errors.As(err, &verr) || verr.Field != "secrets" {
		t.Fatalf("an unresolved ssh:@caller: got %v, want a validation error of secrets", err)
	}
}

// feed is a change feed the test sends changes through.
type feed struct {
	mu  sync.Mutex
	fns []func(store.Change)
}

func (f *feed) Subscribe(fn func(store.Change)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fns = append(f.fns, fn)
	return func() {}
}

func (f *feed) send(c store.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fn := range f.fns {
		fn(c)
	}
}

func TestASecretChangeDrainsTheContainersThatHoldIt(t *testing.T) {
	e := newEnv(t)
	var changes feed
	defer e.svc.Follow(&changes)()
	changes.send(store.Change{Kind: store.ChangeSecret, Name: "ssh:ada"})
	eventually(t, 5*time.Second, "the secret's containers were not drained", func() bool {
		e.fr.mu.Lock()
		defer e.fr.mu.Unlock()
		return slices.Equal(e.fr.drained, []string{"secret ssh:ada"})
	})
}

func TestCallSecretsAreTheRoutesThenTheCallsEachOnce(t *testing.T) {
	for _, tt := range []struct {
		route, own, want []string
	}{
		{nil, nil, nil},
		{[]string{"a", "b"}, nil, []string{"a", "b"}},
		{nil, []string{"ssh:bob"}, []string{"ssh:bob"}},
		{[]string{"a", "b"}, []string{"b", "ssh:bob", "a"}, []string{"a", "b", "ssh:bob"}},
	} {
		if got := callSecrets(store.Task{Route: store.Route{Secrets: tt.route}, Secrets: tt.own}); !slices.Equal(got, tt.want) {
			t.Errorf("callSecrets(%v, %v) = %v, want %v", tt.route, tt.own, got, tt.want)
		}
	}
}
