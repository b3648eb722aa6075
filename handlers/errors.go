package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"

	oaerrors "github.com/go-openapi/errors"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gateway"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// apiError is an error on its way to the client: a status and the JSON error body.
type apiError struct {
	status  int
	message string
	fields  string
	header  http.Header // extra response headers, such as Allow or Retry-After
}

var internalError = &apiError{status: http.StatusInternalServerError, message: "internal server error"}

// Error implements error, so that an apiError built in handlers passes through toAPIError unchanged.
func (e *apiError) Error() string { return e.message }

func errInvalidField(field, message string) error {
	return &store.ValidationError{Field: field, Message: message}
}

// retryAfter is the header of a 503 or 429: when to try again, in seconds.
func retryAfter(seconds int) http.Header { return http.Header{"Retry-After": {fmt.Sprint(seconds)}} }

// toAPIError is the one place that maps Gantry's errors to HTTP statuses. A 500
// means a bug in Gantry: its cause is logged and the client gets a generic message.
func toAPIError(log *slog.Logger, err error) *apiError {
	var (
		verr      *store.ValidationError
		ae        *apiError
		fnErr     *runner.FunctionError
		challenge *gateway.ChallengeError
		limited   *gateway.RateLimitedError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &challenge):
		return &apiError{status: http.StatusUnauthorized, message: err.Error(), header: http.Header{"Www-Authenticate": {challenge.Challenge}}}
	case errors.As(err, &limited):
		return &apiError{status: http.StatusTooManyRequests, message: err.Error(), header: retryAfter(int(math.Ceil(limited.RetryAfter.Seconds())))}
	case errors.Is(err, gateway.ErrNoAPI):
		return &apiError{status: http.StatusNotFound, message: err.Error()}
	case errors.Is(err, gateway.ErrAPIUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, message: err.Error(), header: retryAfter(60)}
	case errors.Is(err, gateway.ErrMisdirected):
		return &apiError{status: http.StatusMisdirectedRequest, message: err.Error()}
	case errors.Is(err, gateway.ErrBadPath):
		return &apiError{status: http.StatusBadRequest, message: err.Error(), fields: "path"}
	case errors.Is(err, gateway.ErrHTTPSRequired):
		return &apiError{status: http.StatusBadRequest, message: err.Error() + ": use https://"}
	case errors.Is(err, gateway.ErrFunctionMissing):
		return &apiError{status: http.StatusBadGateway, message: err.Error()}
	case errors.Is(err, runner.ErrTimeout):
		return &apiError{status: http.StatusGatewayTimeout, message: "Timed out"}
	case errors.As(err, &fnErr):
		return &apiError{status: http.StatusBadGateway, message: fnErr.Message}
	case errors.Is(err, runner.ErrCancelled):
		return &apiError{status: http.StatusConflict, message: err.Error()}
	case errors.Is(err, runner.ErrBusy):
		return &apiError{status: http.StatusServiceUnavailable, message: err.Error(), header: retryAfter(1)}
	case errors.Is(err, runner.ErrDockerUnavailable):
		log.Warn("docker unavailable", "err", err)
		return &apiError{status: http.StatusServiceUnavailable, message: "functions cannot run now: the container runtime (Docker) is unavailable", header: retryAfter(5)}
	case errors.Is(err, runner.ErrStartTimeout):
		return &apiError{status: http.StatusServiceUnavailable, message: err.Error(), header: retryAfter(5)}
	case errors.Is(err, runner.ErrShuttingDown):
		return &apiError{status: http.StatusServiceUnavailable, message: err.Error(), header: retryAfter(5)}
	case errors.Is(err, runner.ErrNetworkNotAllowed): // the app changed hands, or the network was unregistered
		return &apiError{status: http.StatusForbidden, message: "the function may not run on its route's network: " + err.Error()}
	case errors.Is(err, runner.ErrNetworkUnavailable):
		log.Warn("route network unavailable", "err", err)
		return &apiError{status: http.StatusServiceUnavailable, message: "the function's network is unavailable: " + err.Error(), header: retryAfter(30)}
	case errors.Is(err, runner.ErrHeadersTooLarge):
		return &apiError{status: http.StatusRequestHeaderFieldsTooLarge, message: err.Error()}
	case errors.Is(err, runner.ErrURLTooLong):
		return &apiError{status: http.StatusRequestURITooLong, message: err.Error()}
	case errors.Is(err, runner.ErrImageNotFound):
		return &apiError{status: http.StatusBadGateway, message: "the function's image is missing: " + err.Error()}
	case errors.Is(err, auth.ErrUnauthenticated):
		return &apiError{status: http.StatusUnauthorized, message: err.Error(), header: http.Header{"Www-Authenticate": {`Bearer realm="gantry"`}}}
	case errors.Is(err, auth.ErrForbidden):
		return &apiError{status: http.StatusForbidden, message: err.Error()}
	case errors.Is(err, auth.ErrPasswordsBusy):
		return &apiError{status: http.StatusServiceUnavailable, message: err.Error(), header: retryAfter(1)}
	case errors.Is(err, auth.ErrUnavailable):
		log.Warn("identity source unavailable", "err", err)
		return &apiError{status: http.StatusServiceUnavailable, message: err.Error(), header: retryAfter(5)}
	case errors.As(err, &verr):
		return &apiError{status: http.StatusBadRequest, message: verr.Message, fields: verr.Field}
	case errors.Is(err, store.ErrNotFound):
		return &apiError{status: http.StatusNotFound, message: err.Error()}
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrTaskRunning):
		return &apiError{status: http.StatusConflict, message: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, message: "request cancelled or timed out", header: retryAfter(1)}
	}
	log.Error("internal error", "err", err)
	return internalError
}

// errorResponse answers an operation with err mapped by toAPIError.
func (a *API) errorResponse(err error) middleware.Responder {
	return toAPIError(a.log, err)
}

// badRequest answers 400 naming the offending field.
func (a *API) badRequest(field, format string, args ...any) middleware.Responder {
	return a.errorResponse(errInvalidField(field, fmt.Sprintf(format, args...)))
}

// withFieldPrefix names a store validation error's field as the request body does
// ("memory" becomes "route.memory").
func withFieldPrefix(prefix string, err error) error {
	var verr *store.ValidationError
	if errors.As(err, &verr) && !strings.HasPrefix(verr.Field, prefix+".") {
		return &store.ValidationError{Field: prefix + "." + verr.Field, Message: verr.Message}
	}
	return err
}

// withField names a store validation error's field as the request body does, whatever the
// store called it ("user" becomes "app.owner").
func withField(field string, err error) error {
	var verr *store.ValidationError
	if errors.As(err, &verr) {
		return &store.ValidationError{Field: field, Message: verr.Message}
	}
	return err
}

// Errors of the HTTP edge itself, before any operation runs.

func errBodyTooLarge(max int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, message: tooLargeMessage(max), fields: "body"}
}

func errPathNotFound(path string) *apiError {
	return &apiError{status: http.StatusNotFound, message: fmt.Sprintf("path %s was not found", path)}
}

func errMethodNotAllowed(method, allowed string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, message: fmt.Sprintf("method %s is not allowed here", method), header: http.Header{"Allow": {allowed}}}
}

func errUnsupportedMediaType(contentType string) *apiError {
	return &apiError{status: http.StatusUnsupportedMediaType, message: fmt.Sprintf("unsupported media type %q: send %s", contentType, runtime.JSONMime), fields: "Content-Type"}
}

func errUnsupportedCharset(charset string) *apiError {
	return &apiError{status: http.StatusUnsupportedMediaType, message: fmt.Sprintf("charset %q is not supported: send UTF-8", charset), fields: "Content-Type"}
}

var errNoFunctions = &apiError{status: http.StatusServiceUnavailable, message: "this server runs no functions", header: retryAfter(60)}

// WriteResponse makes apiError a middleware.Responder.
func (e *apiError) WriteResponse(w http.ResponseWriter, _ runtime.Producer) { writeError(w, e) }

func writeError(w http.ResponseWriter, e *apiError) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", runtime.JSONMime)
	w.WriteHeader(e.status)
	msg := e.message
	_ = json.NewEncoder(w).Encode(models.Error{Error: &models.ErrorError{Message: &msg, Fields: e.fields}})
}

// serveError replaces go-openapi's ServeError so that routing, binding and validation
// errors come out in the Error model, with 400 for every kind of invalid input.
func (a *API) serveError(w http.ResponseWriter, _ *http.Request, err error) {
	writeError(w, a.openAPIError(err))
}

func (a *API) openAPIError(err error) *apiError {
	var (
		composite *oaerrors.CompositeError
		parse     *oaerrors.ParseError
		validErr  *oaerrors.Validation
		notAllow  *oaerrors.MethodNotAllowedError
		tooLarge  *http.MaxBytesError
		coded     oaerrors.Error
	)
	switch {
	case errors.As(err, &composite) && len(composite.Errors) > 0:
		return a.compositeError(composite)
	case errors.As(err, &parse):
		if errors.As(parse.Reason, &tooLarge) {
			return errBodyTooLarge(tooLarge.Limit)
		}
		var verr *store.ValidationError
		if errors.As(parse.Reason, &verr) {
			return toAPIError(a.log, verr)
		}
		reason := parse.Error()
		if parse.Reason != nil {
			reason = parse.Reason.Error()
		}
		return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf("invalid %s: %s", parse.Name, reason), fields: parse.Name}
	case errors.As(err, &validErr):
		return &apiError{status: clientStatus(validErr.Code()), message: validErr.Error(), fields: validErr.Name}
	case errors.As(err, &notAllow):
		return &apiError{status: http.StatusMethodNotAllowed, message: notAllow.Error(), header: http.Header{"Allow": {strings.Join(notAllow.Allowed, ", ")}}}
	case errors.As(err, &coded):
		if status := clientStatus(coded.Code()); status >= 400 && status < 500 {
			return &apiError{status: status, message: coded.Error()}
		}
	}
	return toAPIError(a.log, err)
}

// clientStatus turns a go-openapi error code into an HTTP status: its validation codes
// (422 and the 6xx range) become 400; real HTTP codes such as 404, 405, 415 stay.
func clientStatus(code int32) int {
	if code >= 600 || code == http.StatusUnprocessableEntity {
		return http.StatusBadRequest
	}
	return int(code)
}

// compositeError joins several binding/validation errors into one 400 (or the status
// of the single error when there is only one).
func (a *API) compositeError(c *oaerrors.CompositeError) *apiError {
	if len(c.Errors) == 1 {
		return a.openAPIError(c.Errors[0])
	}
	var msgs, fields []string
	status := http.StatusBadRequest
	for _, e := range c.Errors {
		ae := a.openAPIError(e)
		if ae.status >= 500 {
			return ae
		}
		if ae.status == http.StatusRequestEntityTooLarge {
			status = ae.status
		}
		msgs = append(msgs, ae.message)
		if ae.fields != "" {
			fields = append(fields, ae.fields)
		}
	}
	return &apiError{status: status, message: strings.Join(msgs, "; "), fields: strings.Join(fields, ",")}
}
