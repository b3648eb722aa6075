package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/store"
)

// Streams of a run (Server-Sent Events of its events, its followed log) are written with
// plain net/http through a responder of the generated server, flushed as they go, and end
// when the run is final, the client goes away, or the server stops (EndStreams). Both wait
// for the run with waitRun.

// errStreamsEnded is what waitRun answers once EndStreams was called.
var errStreamsEnded = errors.New("the server is stopping: streams end")

// EndStreams ends what waits on a run: open event streams (their clients resume with
// Last-Event-ID), followed logs, and /waas long polls (which answer what they have).
// http.Server.Shutdown does not cancel the context of a request, so without it a stream
// would hold a shutdown up for its whole drain timeout. Call it as shutdown starts; it may
// be called more than once.
func (a *API) EndStreams() {
	a.endStreamsOnce.Do(func() { close(a.streamsEnd) })
}

// streamsEnded tells whether EndStreams was called.
func (a *API) streamsEnded() bool {
	select {
	case <-a.streamsEnd:
		return true
	default:
		return false
	}
}

// eventStream streams a run's events after after as Server-Sent Events: `id: SEQ`,
// `event: TYPE`, `data: JSON`; a keep-alive comment when nothing happened for a while;
// the stream ends after the run's finished event.
func (a *API) eventStream(ctx context.Context, id string, after int64) middleware.Responder {
	return middleware.ResponderFunc(func(w http.ResponseWriter, _ runtime.Producer) {
		rc := http.NewResponseController(w)
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold the events back
		w.WriteHeader(http.StatusOK)
		if rc.Flush() != nil {
			return
		}
		seen := after
		for {
			events, err := a.store.ListRunEvents(ctx, id, seen, eventPage)
			if err != nil {
				a.streamEnded(ctx, "events", id, err)
				return
			}
			for _, e := range events {
				data, err := json.Marshal(eventToModel(e))
				if err != nil {
					a.streamEnded(ctx, "events", id, err)
					return
				}
				if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, data); err != nil {
					return
				}
				seen = e.Seq
				if e.Type == store.EventFinished {
					_ = rc.Flush()
					return
				}
			}
			if rc.Flush() != nil {
				return
			}
			if len(events) == eventPage {
				continue
			}
			final, err := a.followRun(ctx, id, seen, func() error {
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return err
				}
				return rc.Flush()
			})
			if err != nil {
				a.streamEnded(ctx, "events", id, err)
				return
			}
			if final { // final, and its events all sent before the resume point
				return
			}
		}
	})
}

// followRun waits until the run has events after seen (answering false) or is final with
// none (true), calling keepAlive whenever a.keepAlive passes without either.
func (a *API) followRun(ctx context.Context, id string, seen int64, keepAlive func() error) (final bool, err error) {
	for {
		r, err := a.store.GetRun(ctx, id)
		if err != nil {
			return false, err
		}
		if r.Events > seen {
			return false, nil
		}
		if r.Done() {
			return true, nil
		}
		wctx, cancel := context.WithTimeout(ctx, a.keepAlive)
		err = a.waitRun(wctx, id, seen)
		cancel()
		switch {
		case ctx.Err() != nil:
			return false, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			if err := keepAlive(); err != nil {
				return false, err
			}
		case err != nil:
			return false, err
		}
	}
}

// followRunLog streams a run's log: the attempts whose calls ended so far, in the order of
// the steps, then each attempt as an event names its call's end (step_finished or
// step_retrying), until the run is final, when the rest is written as it is. Each attempt is
// written and flushed on its own; past a.maxRunLog bytes the log stops, as runLog's does.
// Calls no event named (items cancelled after another failed) come when the run is final.
func (a *API) followRunLog(ctx context.Context, run store.Run) middleware.Responder {
	return middleware.ResponderFunc(func(w http.ResponseWriter, _ runtime.Producer) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		if rc.Flush() != nil { // the answer starts, even with no attempt to write yet
			return
		}
		var st runLogState
		written := map[string]bool{}
		size := 0
		var out []byte
		for {
			final := run.Done()
			attempts, err := st.attempts(ctx, a.store, run)
			if err != nil {
				a.streamEnded(ctx, "log", run.ID, err)
				return
			}
			for _, at := range attempts {
				if written[at.call] || (!final && !st.ended[at.call]) {
					continue
				}
				if size >= a.maxRunLog {
					_, _ = io.WriteString(w, runLogStops(a.maxRunLog))
					_ = rc.Flush()
					return
				}
				if out, err = a.appendAttemptLog(ctx, out[:0], at); err != nil {
					a.streamEnded(ctx, "log", run.ID, err)
					return
				}
				written[at.call] = true
				size += len(out)
				if _, err := w.Write(out); err != nil || rc.Flush() != nil {
					return
				}
			}
			if final {
				return
			}
			if _, err := a.followRun(ctx, run.ID, run.Events, func() error { return nil }); err != nil {
				if errors.Is(err, errStreamsEnded) {
					_, _ = io.WriteString(w, "== the server is stopping: this log is not over; ask again to read the rest ==\n")
					_ = rc.Flush()
				}
				a.streamEnded(ctx, "log", run.ID, err)
				return
			}
			if run, err = a.store.GetRun(ctx, run.ID); err != nil {
				a.streamEnded(ctx, "log", run.ID, err)
				return
			}
		}
	})
}

// streamEnded logs why a stream stopped early, unless the client went away or the server
// is stopping.
func (a *API) streamEnded(ctx context.Context, what, id string, err error) {
	switch {
	case errors.Is(err, errStreamsEnded):
		a.log.Debug("stream of a run ended: the server is stopping", "stream", what, "run", id)
	case ctx.Err() == nil:
		a.log.Warn("stream of a run ended early", "stream", what, "run", id, "err", err)
	}
}
