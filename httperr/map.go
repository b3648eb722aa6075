package httperr

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
)

// StoreUnavailableMessage answers a request the store could not serve now (its database is
// down or restarting): the cause, which may name hosts, goes to the log only.
const StoreUnavailableMessage = "the store is unavailable now; try again"

// SecretsUnavailableMessage answers a request that needed the secret store (Vault down,
// sealed, refusing Gantry's credentials): the cause goes to the log only.
const SecretsUnavailableMessage = "the secret store is unavailable now; try again"

// From is the one place that maps Gantry's errors to HTTP answers. A 500 means a bug in
// Gantry: its cause is logged and the client gets a generic message.
func From(log *slog.Logger, err error) *Error {
	var (
		answerer Answerer
		verr     *store.ValidationError
		fnErr    *runner.FunctionError
	)
	switch {
	case errors.As(err, &answerer):
		return answerer.Answer()
	case errors.Is(err, store.ErrUnavailable): // before the kinds it may wrap: nothing was done, try again
		log.Warn("store unavailable", "err", err)
		return retry(http.StatusServiceUnavailable, StoreUnavailableMessage, 5)
	case errors.Is(err, secrets.ErrUnavailable): // Vault down or sealed: nothing was left half-written; the cause may name hosts
		log.Warn("secret store unavailable", "err", err)
		return retry(http.StatusServiceUnavailable, SecretsUnavailableMessage, 5)
	case errors.Is(err, secrets.ErrWrongKey): // an operator's or Gantry's fault, never the client's
		log.Error("the secret store's values do not open with this node's key", "err", err)
		return Internal()
	case errors.Is(err, runner.ErrTimeout):
		return New(http.StatusGatewayTimeout, "Timed out")
	case errors.As(err, &fnErr):
		return New(http.StatusBadGateway, fnErr.Message)
	case errors.Is(err, runner.ErrCancelled):
		return New(http.StatusConflict, err.Error())
	case errors.Is(err, runner.ErrBusy):
		return retry(http.StatusServiceUnavailable, err.Error(), 1)
	case errors.Is(err, runner.ErrDockerUnavailable):
		log.Warn("docker unavailable", "err", err)
		return retry(http.StatusServiceUnavailable, "functions cannot run now: the container runtime (Docker) is unavailable", 5)
	case errors.Is(err, runner.ErrStartTimeout), errors.Is(err, runner.ErrShuttingDown):
		return retry(http.StatusServiceUnavailable, err.Error(), 5)
	case errors.Is(err, runner.ErrNetworkNotAllowed): // the app changed hands, or the network was unregistered
		return New(http.StatusForbidden, "the function may not run on its route's network: "+err.Error())
	case errors.Is(err, runner.ErrNetworkUnavailable):
		log.Warn("route network unavailable", "err", err)
		return retry(http.StatusServiceUnavailable, "the function's network is unavailable: "+err.Error(), 30)
	case errors.Is(err, runner.ErrHeadersTooLarge):
		return New(http.StatusRequestHeaderFieldsTooLarge, err.Error())
	case errors.Is(err, runner.ErrURLTooLong):
		return New(http.StatusRequestURITooLong, err.Error())
	case errors.Is(err, runner.ErrImageNotFound):
		return New(http.StatusBadGateway, "the function's image is missing: "+err.Error())
	case errors.Is(err, auth.ErrUnauthenticated):
		return &Error{Status: http.StatusUnauthorized, Message: err.Error(), Header: http.Header{"Www-Authenticate": {`Bearer realm="gantry"`}}}
	case errors.Is(err, auth.ErrForbidden):
		return New(http.StatusForbidden, err.Error())
	case errors.Is(err, auth.ErrPasswordsBusy):
		return retry(http.StatusServiceUnavailable, err.Error(), 1)
	case errors.Is(err, auth.ErrUnavailable):
		log.Warn("identity source unavailable", "err", err)
		return retry(http.StatusServiceUnavailable, err.Error(), 5)
	case errors.As(err, &verr):
		return &Error{Status: http.StatusBadRequest, Message: verr.Message, Fields: verr.Field}
	case errors.Is(err, store.ErrNotFound):
		return New(http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrTaskRunning):
		return New(http.StatusConflict, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return retry(http.StatusServiceUnavailable, "request cancelled or timed out", 1)
	}
	log.Error("internal error", "err", err)
	return Internal()
}

// WriteError answers err through the one mapping (From).
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) { Write(w, From(log, err)) }

// retry is an answer with a Retry-After of seconds.
func retry(status int, message string, seconds int) *Error {
	return &Error{Status: status, Message: message, Header: RetryAfter(seconds)}
}
