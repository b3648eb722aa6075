package invoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Response headers of every function call.
const (
	HeaderCallID    = "Gantry-Call-Id"
	HeaderRoute     = "Gantry-Route"
	headerTruncated = "Gantry-Output-Truncated"
)

// Limits are the bounds a caller puts on one call read over HTTP.
type Limits struct {
	// MaxBody is the caller's bound of the request body (413 above it; 0 allows none). The
	// service's MaxCallBody bounds it too.
	MaxBody int64
	// Timeout, when set, bounds the whole call: past it the caller gets 504 "Timed out".
	// 0: the route's own timeout.
	Timeout time.Duration
	// PayloadQuery lets ?payload= stand for an empty body (/r/ calls).
	PayloadQuery bool
}

// Prepare reads an HTTP request's body within the limits into req, with its method (HEAD
// runs as GET), and its header less the ce-* headers that only Gantry sends
// (withoutForgedEvent), and resolves the call. The caller then decides the route's auth (Admit)
// and answers the call with Serve. Its errors are answered with httperr: a body over the
// bound (413; the connection is then closed), a body cut off (400), an unknown app or
// route (404).
func (s *Service) Prepare(w http.ResponseWriter, r *http.Request, req Request, limits Limits) (*Call, error) {
	maxBody := min(limits.MaxBody, s.maxCallBody)
	if r.ContentLength > maxBody {
		w.Header().Set("Connection", "close") // the unread body must not be taken for the next request
		return nil, httperr.BodyTooLarge(maxBody)
	}
	body, err := readCallBody(w, r, maxBody)
	if err != nil {
		w.Header().Set("Connection", "close")
		return nil, readBodyError(err)
	}
	if limits.PayloadQuery && len(body) == 0 && r.URL.RawQuery != "" { // ?payload= stands for an empty body
		if query := r.URL.Query(); query.Has("payload") {
			body = []byte(query.Get("payload"))
		}
	}
	req.Method, req.Body = r.Method, body
	req.Header = withoutForgedEvent(req.Header)
	if req.Method == http.MethodHead {
		req.Method = http.MethodGet
	}
	var deadline time.Time
	if limits.Timeout > 0 {
		deadline = time.Now().Add(limits.Timeout)
	}
	c, err := s.Resolve(r.Context(), req)
	if err != nil {
		return nil, err
	}
	c.deadline = deadline
	return c, nil
}

// Serve runs a call that Prepare resolved (and its caller admitted) and writes its answer:
// the function's status, headers and output, the route's headers, then Gantry-Call-Id and
// Gantry-Route (a function cannot change them); for an async call 202 with its id; HEAD
// without a body. Errors are answered through httperr, with Gantry-Call-Id once the call
// has an execution.
func (s *Service) Serve(w http.ResponseWriter, r *http.Request, c *Call) {
	ctx := r.Context()
	if !c.deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, c.deadline, runner.ErrTimeout)
		defer cancel()
	}
	resp, err := s.Run(ctx, c)
	if err != nil && !c.deadline.IsZero() && errors.Is(context.Cause(ctx), runner.ErrTimeout) {
		err = runner.ErrTimeout
	}
	h := w.Header()
	if err == nil {
		for k, v := range resp.Header { // the function's own headers, cleaned by the runner
			h[k] = v
		}
		for k, v := range resp.Route.Headers {
			h[http.CanonicalHeaderKey(k)] = v
		}
	}
	if resp != nil { // Gantry's headers last: a function cannot change them
		h.Set(HeaderCallID, resp.CallID)
		h.Set(HeaderRoute, resp.Route.App+resp.Route.Path)
		h.Del(headerTruncated)
		if resp.OutputTruncated {
			h.Set(headerTruncated, "true")
		}
	}
	if err != nil {
		httperr.WriteError(w, s.log, err)
		return
	}
	if resp.Accepted { // async: stored, runs later
		h.Set("Location", "/v1/executions/"+resp.CallID)
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = fmt.Fprintf(w, "{\"call_id\":%q}\n", resp.CallID)
		return
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body))) // HEAD too: the length GET would send
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body)
	}
}

// Gantry's own CloudEvents: a type under SystemTypePrefix, a source under
// SystemSourcePrefix. Only Gantry sends them to functions (a schedule's tick, a system
// event's delivery); a caller's ce-type or ce-source claiming them is dropped.
const (
	SystemTypePrefix   = "dev.gantry."
	SystemSourcePrefix = "/gantry/"
)

// withoutForgedEvent is a caller's header less the ce-type and ce-source headers that
// claim to be Gantry's (a ce-type under dev.gantry., a ce-source under /gantry/, read as
// the function reads them: percent-decoded), so that a function can tell a tick or a
// system event Gantry sends from a forged one by its type and source. Only the callers'
// calls (Prepare: /r/ and the gateway, sync and async) go through it, never the calls
// Gantry makes (DeliveryCall, ScheduledCall). h is not modified: a copy is returned when
// a header goes.
func withoutForgedEvent(h http.Header) http.Header {
	forged := func(name string, vs []string) bool {
		var prefix string
		switch { // EqualFold, not ToLower: every header of every call passes here
		case strings.EqualFold(name, "ce-type"):
			prefix = SystemTypePrefix
		case strings.EqualFold(name, "ce-source"):
			prefix = SystemSourcePrefix
		default:
			return false
		}
		for _, v := range vs {
			if d, err := url.PathUnescape(v); err == nil && strings.HasPrefix(d, prefix) || strings.HasPrefix(v, prefix) {
				return true
			}
		}
		return false
	}
	var out http.Header
	for k, vs := range h {
		if forged(k, vs) {
			if out == nil {
				out = h.Clone()
			}
			delete(out, k)
		}
	}
	if out == nil {
		return h
	}
	return out
}

// readCallBody reads a call's body, at most max bytes: one read of the announced length
// (already checked against max; net/http ends the body there), or, for a chunked body,
// reads bounded by max.
func readCallBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	switch {
	case r.ContentLength == 0:
		return []byte{}, nil
	case r.ContentLength > 0:
		body := make([]byte, r.ContentLength)
		_, err := io.ReadFull(r.Body, body)
		return body, err
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, max))
}

// readBodyError classifies a failure to read a call's body: too large (413) or cut off (400).
func readBodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return httperr.BodyTooLarge(tooLarge.Limit)
	}
	return &store.ValidationError{Field: "body", Message: "could not read the request body: " + err.Error()}
}
