package invoke

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// storeWithoutImages is a store that is no ImageStore: the service has no image store.
type storeWithoutImages struct{ Store }

// TestImageCallsOnAServerWithoutAnImageStore: a call of a route that runs "@name" on a
// server without an image store fails before anything runs, as an ImageUnavailable: a
// sync caller gets 503 with Retry-After saying so (not a 500), an async call ends FAILED
// with it and is not retried.
func TestImageCallsOnAServerWithoutAnImageStore(t *testing.T) {
	const message = "route shop/fn runs image @web, but this server cannot resolve @NAME images: it has no image store"
	setup := func(t *testing.T, mod func(*store.Route)) *env {
		e := newEnv(t)
		if _, err := e.db.CreateImage(t.Context(), store.Image{Name: "web", Owner: "ada", Source: store.ImageSourceLoad, Status: store.ImageReady, Build: "b1",
			Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}); err != nil {
			t.Fatal(err)
		}
		e.svc = New(storeWithoutImages{e.db}, e.fr, Options{Node: "node-a", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		e.route("/fn", func(r *store.Route) {
			r.Image = "@web"
			if mod != nil {
				mod(r)
			}
		})
		return e
	}
	t.Run("a sync call answers 503 saying so", func(t *testing.T) {
		e := setup(t, nil)
		resp, err := e.call("POST", "/fn", http.Header{}, "")
		var unavailable *ImageUnavailable
		if !errors.As(err, &unavailable) || !unavailable.NoStore || !errors.Is(err, runner.ErrImageNotFound) {
			t.Fatalf("call: %v, want an ImageUnavailable of a server without an image store", err)
		}
		got := httperr.From(e.svc.log, err)
		if got.Status != http.StatusServiceUnavailable || got.Message != message || got.Header.Get("Retry-After") != "60" {
			t.Fatalf("answer %d %q Retry-After %q, want 503 %q Retry-After 60", got.Status, got.Message, got.Header.Get("Retry-After"), message)
		}
		if len(e.fr.ran()) != 0 {
			t.Fatal("the runner got the call")
		}
		if ex := e.execution(resp.CallID); ex.Status != store.StatusFailed || ex.Error != message {
			t.Fatalf("execution %s %q, want FAILED with the message", ex.Status, ex.Error)
		}
	})
	t.Run("an async call ends FAILED with it, not retried", func(t *testing.T) {
		e := setup(t, func(r *store.Route) { r.Type = store.TypeAsync })
		w, err := e.svc.StartWorkers(t.Context(), WorkerOptions{Count: 1, Poll: 10 * time.Millisecond, Backoff: time.Millisecond, MaxAttempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { w.StopLeasing(); _ = w.Wait(t.Context()) }()
		resp, err := e.call("POST", "/fn", http.Header{}, "")
		if err != nil || !resp.Accepted {
			t.Fatalf("accept: %v", err)
		}
		eventually(t, 5*time.Second, "the call ended", func() bool { return e.execution(resp.CallID).Status == store.StatusFailed })
		if ex := e.execution(resp.CallID); ex.Error != message || ex.Attempts != 1 || len(e.fr.ran()) != 0 {
			t.Fatalf("execution %s %q after %d attempts, %d runs; want FAILED with the message, once, never run", ex.Status, ex.Error, ex.Attempts, len(e.fr.ran()))
		}
	})
}
