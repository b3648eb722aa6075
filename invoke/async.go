package invoke

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// HeaderInvokeType lets a caller choose how a call runs, whatever the route's type:
// "async" (202 at once, run later) or "sync".
const HeaderInvokeType = "Gantry-Invoke-Type"

// HeaderPriority sets an async call's priority, 0 (first, the default) to 9: the queue is
// FIFO within a priority.
const HeaderPriority = "Gantry-Priority"

func priority(h http.Header) (uint8, error) {
	v := h.Get(HeaderPriority)
	if v == "" {
		return 0, nil
	}
	if len(v) != 1 || v[0] < '0' || v[0] > '9' {
		return 0, &store.ValidationError{Field: HeaderPriority, Message: fmt.Sprintf("%s must be a digit from 0 (first) to 9, not %q", HeaderPriority, v)}
	}
	return v[0] - '0', nil
}

// wantsAsync decides how a call runs: the Gantry-Invoke-Type header, else the route's type.
func wantsAsync(rt store.Route, h http.Header) (bool, error) {
	switch v := strings.ToLower(h.Get(HeaderInvokeType)); v {
	case "":
		return rt.Type == store.TypeAsync, nil
	case store.TypeAsync:
		return true, nil
	case store.TypeSync:
		return false, nil
	default:
		return false, &store.ValidationError{Field: HeaderInvokeType, Message: fmt.Sprintf("%s must be %q or %q, not %q", HeaderInvokeType, store.TypeSync, store.TypeAsync, v)}
	}
}

// accept stores an async call and its QUEUED execution durably and answers at once. The
// task keeps the request's headers, less those meant for Gantry or for one connection.
func (s *Service) accept(ctx context.Context, t store.Task) (*Response, error) {
	prio, err := priority(t.Header)
	if err != nil {
		return nil, err
	}
	t.Header, t.Priority = runner.ForwardHeader(t.Header), prio
	rt := t.Route
	if err := s.store.EnqueueTask(ctx, t, store.Execution{App: rt.App, AppID: t.AppID, Route: rt.Path, Type: store.TypeAsync}); err != nil {
		return nil, fmt.Errorf("accept async call: %w", err)
	}
	s.wakeWorker() // at once here; other nodes' workers through the feed's ChangeTask (Follow)
	return &Response{CallID: t.ID, Route: rt, Accepted: true, Result: &runner.Result{Header: http.Header{}}}, nil
}
