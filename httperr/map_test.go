package httperr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gateway"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
)

// TestTheOneMapping: every kind of error Gantry answers has its status, message, field
// and headers here, the gateway's kinds included (they carry their answer).
func TestTheOneMapping(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		status  int
		message string // "": the error's own
		fields  string
		header  http.Header
	}{
		{"an answer made by a caller passes unchanged", &httperr.Error{Status: 405, Message: "no", Header: http.Header{"Allow": {"GET"}}}, 405, "", "", http.Header{"Allow": {"GET"}}},
		{"invalid input is 400 naming its field", fmt.Errorf("x: %w", &store.ValidationError{Field: "route.path", Message: "bad"}), 400, "bad", "route.path", nil},
		{"a missing resource is 404", store.NotFound("app", "a"), 404, "", "", nil},
		{"a name taken is 409", store.ErrExists, 409, "", "", nil},
		{"a conflict is 409", store.ErrConflict, 409, "", "", nil},
		{"a task running is 409", store.ErrTaskRunning, 409, "", "", nil},
		{"no credentials is 401 with a challenge", auth.Unauthenticated("who are you"), 401, "", "", http.Header{"Www-Authenticate": {`Bearer realm="gantry"`}}},
		{"not allowed is 403", auth.Forbidden("not yours"), 403, "", "", nil},
		{"password checks busy is 503 for a second", auth.ErrPasswordsBusy, 503, "", "", http.Header{"Retry-After": {"1"}}},
		{"the identity source unavailable is 503", auth.ErrUnavailable, 503, "", "", http.Header{"Retry-After": {"5"}}},
		{"a function past its timeout is 504 Timed out", fmt.Errorf("call: %w", runner.ErrTimeout), 504, "Timed out", "", nil},
		{"a function's failure is 502 with its message", &runner.FunctionError{Message: "function exited with code 1"}, 502, "function exited with code 1", "", nil},
		{"a cancelled call is 409", runner.ErrCancelled, 409, "", "", nil},
		{"no container free is 503 for a second", runner.ErrBusy, 503, "", "", http.Header{"Retry-After": {"1"}}},
		{"Docker unavailable is 503", runner.ErrDockerUnavailable, 503, "functions cannot run now: the container runtime (Docker) is unavailable", "", http.Header{"Retry-After": {"5"}}},
		{"the secret store unavailable is 503, without its cause", fmt.Errorf("secrets of app/fn: %w: vault at 10.0.0.9:8200 is sealed", secrets.ErrUnavailable), 503, "the secret store is unavailable now; try again", "", http.Header{"Retry-After": {"5"}}},
		{"a secret that does not exist is 409 naming it", fmt.Errorf("the secrets of app/fn: %w", store.Errorf(store.ErrConflict, "secret %q does not exist", "db")), 409, `the secrets of app/fn: secret "db" does not exist`, "", nil},
		{"a container slow to start is 503", runner.ErrStartTimeout, 503, "", "", http.Header{"Retry-After": {"5"}}},
		{"a shutdown is 503", runner.ErrShuttingDown, 503, "", "", http.Header{"Retry-After": {"5"}}},
		{"a network refused to the owner is 403", runner.ErrNetworkNotAllowed, 403, "the function may not run on its route's network: network not allowed", "", nil},
		{"a network gone is 503", runner.ErrNetworkUnavailable, 503, "the function's network is unavailable: network unavailable", "", http.Header{"Retry-After": {"30"}}},
		{"headers over the environment's bound are 431", runner.ErrHeadersTooLarge, 431, "", "", nil},
		{"a URL over the environment's bound is 414", runner.ErrURLTooLong, 414, "", "", nil},
		{"an image missing is 502", runner.ErrImageNotFound, 502, "the function's image is missing: image not found", "", nil},
		{"the store unavailable is 503, without its cause", fmt.Errorf("get app: %w: dial tcp 10.0.0.5:5432: connection refused", store.ErrUnavailable), 503, "the store is unavailable now; try again", "", http.Header{"Retry-After": {"5"}}},
		{"the store unavailable while a caller waits is 503 too, never a 500", fmt.Errorf("%w: %w", store.ErrUnavailable, context.DeadlineExceeded), 503, "the store is unavailable now; try again", "", http.Header{"Retry-After": {"5"}}},
		{"the store unavailable beside a not found is still 503", errors.Join(store.ErrUnavailable, store.ErrNotFound), 503, "the store is unavailable now; try again", "", http.Header{"Retry-After": {"5"}}},
		{"the secret store unavailable beside a conflict is still 503", errors.Join(store.ErrConflict, secrets.ErrUnavailable), 503, "the secret store is unavailable now; try again", "", http.Header{"Retry-After": {"5"}}},
		{"a request cancelled is 503", context.Canceled, 503, "request cancelled or timed out", "", http.Header{"Retry-After": {"1"}}},
		{"a request timed out is 503", context.DeadlineExceeded, 503, "request cancelled or timed out", "", http.Header{"Retry-After": {"1"}}},
		{"no API is 404", gateway.ErrNoAPI, 404, "", "", nil},
		{"an https-only API over http is 400", gateway.ErrHTTPSRequired, 400, "this API is served over HTTPS only: use https://", "", nil},
		{"an API's missing function is 502", gateway.ErrFunctionMissing, 502, "", "", nil},
		{"a misconfigured API is 503", gateway.ErrAPIUnavailable, 503, "", "", http.Header{"Retry-After": {"60"}}},
		{"a path not canonical is 400 naming the path", gateway.ErrBadPath, 400, "", "path", nil},
		{"a host on another's connection is 421", gateway.ErrMisdirected, 421, "", "", nil},
		{"a failed basic authentication is 401 with its challenge", &gateway.ChallengeError{Challenge: `Basic realm="shop"`, Err: auth.Unauthenticated("bad password")}, 401, "bad password", "", http.Header{"Www-Authenticate": {`Basic realm="shop"`}}},
		{"a rate limit is 429 with the wait in whole seconds", &gateway.RateLimitedError{RetryAfter: 1500 * time.Millisecond}, 429, "", "", http.Header{"Retry-After": {"2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			got := httperr.From(slog.New(slog.NewTextHandler(&logged, nil)), tt.err)
			message := tt.message
			if message == "" {
				message = tt.err.Error()
			}
			if got.Status != tt.status || got.Message != message || got.Fields != tt.fields {
				t.Fatalf("From(%v) = %d %q %q, want %d %q %q", tt.err, got.Status, got.Message, got.Fields, tt.status, message, tt.fields)
			}
			if len(got.Header) != len(tt.header) {
				t.Fatalf("headers %v, want %v", got.Header, tt.header)
			}
			for k, v := range tt.header {
				if got.Header.Get(k) != v[0] {
					t.Errorf("%s: %q, want %q", k, got.Header.Get(k), v[0])
				}
			}
			if strings.Contains(logged.String(), "level=ERROR") {
				t.Errorf("a known error was logged as a bug: %s", logged.String())
			}
		})
	}
	t.Run("anything else is a bug: a 500 without its cause, which goes to the log", func(t *testing.T) {
		var logged bytes.Buffer
		got := httperr.From(slog.New(slog.NewTextHandler(&logged, nil)), errors.New("secret detail"))
		if got.Status != 500 || got.Message != "internal server error" || !strings.Contains(logged.String(), "secret detail") {
			t.Fatalf("From = %d %q (log %q)", got.Status, got.Message, logged.String())
		}
	})
	t.Run("a secret key that opens nothing is a 500, logged as an error", func(t *testing.T) {
		var logged bytes.Buffer
		got := httperr.From(slog.New(slog.NewTextHandler(&logged, nil)), fmt.Errorf("open secret %q: %w", "db", secrets.ErrWrongKey))
		if got.Status != 500 || got.Message != "internal server error" || !strings.Contains(logged.String(), "level=ERROR") || !strings.Contains(logged.String(), "wrong secret key") {
			t.Fatalf("From = %d %q (log %q)", got.Status, got.Message, logged.String())
		}
	})
}

// TestWrite: the answer is the API's Error model, with its headers.
func TestWrite(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  *httperr.Error
		body string
	}{
		{"an error without fields has none", httperr.New(404, `app "a" not found`), `{"error":{"message":"app \"a\" not found"}}` + "\n"},
		{"an error with fields names them first", httperr.BodyTooLarge(10), `{"error":{"fields":"body","message":"request body is larger than 10 bytes"}}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			httperr.WriteError(w, slog.New(slog.DiscardHandler), tt.err)
			if w.Code != tt.err.Status || w.Body.String() != tt.body || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q (%s), want %d %q", w.Code, w.Body, w.Header().Get("Content-Type"), tt.err.Status, tt.body)
			}
		})
	}
	w := httptest.NewRecorder()
	httperr.Write(w, &httperr.Error{Status: 503, Message: "later", Header: httperr.RetryAfter(7)})
	if w.Header().Get("Retry-After") != "7" || w.Code != 503 {
		t.Fatalf("%d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if e := httperr.Internal(); e.Status != 500 || e.Error() != "internal server error" {
		t.Fatalf("Internal() = %+v", e)
	}
}
