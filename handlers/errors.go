package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	oaerrors "github.com/go-openapi/errors"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
)

// errInvalidField is invalid input, naming the field at fault (400).
func errInvalidField(field, message string) error {
	return &store.ValidationError{Field: field, Message: message}
}

// WriteError answers err with the one error mapping (httperr).
func (a *API) WriteError(w http.ResponseWriter, err error) { httperr.WriteError(w, a.log, err) }

// errorResponse answers an operation with err through the one error mapping.
func (a *API) errorResponse(err error) middleware.Responder {
	return responder(httperr.From(a.log, err))
}

// responder answers an operation with e.
func responder(e *httperr.Error) middleware.Responder {
	return middleware.ResponderFunc(func(w http.ResponseWriter, _ runtime.Producer) { httperr.Write(w, e) })
}

// badRequest answers 400 naming the offending field.
func (a *API) badRequest(field, format string, args ...any) middleware.Responder {
	return a.errorResponse(errInvalidField(field, fmt.Sprintf(format, args...)))
}

// withFieldPrefix names a store validation error's field as the request body does
// ("memory" becomes "route.memory").
func withFieldPrefix(prefix string, err error) error {
	var verr *store.ValidationError
	if errors.As(err, &verr) && verr.Field == "" {
		return &store.ValidationError{Field: prefix, Message: verr.Message}
	}
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

func errPathNotFound(path string) *httperr.Error {
	return httperr.New(http.StatusNotFound, fmt.Sprintf("path %s was not found", path))
}

func errMethodNotAllowed(method, allowed string) *httperr.Error {
	return &httperr.Error{Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("method %s is not allowed here", method), Header: http.Header{"Allow": {allowed}}}
}

func errUnsupportedMediaType(contentType string) *httperr.Error {
	return &httperr.Error{Status: http.StatusUnsupportedMediaType, Message: fmt.Sprintf("unsupported media type %q: send %s", contentType, runtime.JSONMime), Fields: "Content-Type"}
}

func errUnsupportedCharset(charset string) *httperr.Error {
	return &httperr.Error{Status: http.StatusUnsupportedMediaType, Message: fmt.Sprintf("charset %q is not supported: send UTF-8", charset), Fields: "Content-Type"}
}

func errNoEvents() *httperr.Error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: "this server publishes no events", Header: httperr.RetryAfter(60)}
}

func errNoSchedules() *httperr.Error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: "this server checks no schedules", Header: httperr.RetryAfter(60)}
}

// eventReadError maps the errors of events.ReadHTTP that are not the store's: a body over
// the bound (413) and a request that is no CloudEvent Gantry reads (415). Its validation
// errors (400, naming the attribute) go through the one mapping as they are.
func eventReadError(err error, limit int64) error {
	switch {
	case errors.Is(err, events.ErrTooLarge):
		return httperr.BodyTooLarge(limit)
	case errors.Is(err, events.ErrContentType):
		return &httperr.Error{Status: http.StatusUnsupportedMediaType, Message: err.Error(), Fields: "Content-Type"}
	}
	return err
}

func errNoFunctions() *httperr.Error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: "this server runs no functions", Header: httperr.RetryAfter(60)}
}

// serveError replaces go-openapi's ServeError so that routing, binding and validation
// errors come out in the Error model, with 400 for every kind of invalid input.
func (a *API) serveError(w http.ResponseWriter, _ *http.Request, err error) {
	httperr.Write(w, a.openAPIError(err))
}

func (a *API) openAPIError(err error) *httperr.Error {
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
			return httperr.BodyTooLarge(tooLarge.Limit)
		}
		var verr *store.ValidationError
		if errors.As(parse.Reason, &verr) {
			return httperr.From(a.log, verr)
		}
		reason := parse.Error()
		if parse.Reason != nil {
			reason = parse.Reason.Error()
		}
		return &httperr.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("invalid %s: %s", parse.Name, reason), Fields: parse.Name}
	case errors.As(err, &validErr):
		return &httperr.Error{Status: clientStatus(validErr.Code()), Message: validErr.Error(), Fields: validErr.Name}
	case errors.As(err, &notAllow):
		return &httperr.Error{Status: http.StatusMethodNotAllowed, Message: notAllow.Error(), Header: http.Header{"Allow": {strings.Join(notAllow.Allowed, ", ")}}}
	case errors.As(err, &coded):
		if status := clientStatus(coded.Code()); status >= 400 && status < 500 {
			return httperr.New(status, coded.Error())
		}
	}
	return httperr.From(a.log, err)
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
func (a *API) compositeError(c *oaerrors.CompositeError) *httperr.Error {
	if len(c.Errors) == 1 {
		return a.openAPIError(c.Errors[0])
	}
	var msgs, fields []string
	status := http.StatusBadRequest
	for _, e := range c.Errors {
		ae := a.openAPIError(e)
		if ae.Status >= 500 {
			return ae
		}
		if ae.Status == http.StatusRequestEntityTooLarge {
			status = ae.Status
		}
		msgs = append(msgs, ae.Message)
		if ae.Fields != "" {
			fields = append(fields, ae.Fields)
		}
	}
	return &httperr.Error{Status: status, Message: strings.Join(msgs, "; "), Fields: strings.Join(fields, ",")}
}
