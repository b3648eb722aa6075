package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/store"
)

// runAttempt is one attempt of a step of a run: its call, and which attempt (and item, of
// a map step) it is.
type runAttempt struct {
	step    string
	item    *int
	attempt int
	call    string
}

// header is the line that starts the attempt's log in a run's log.
func (at runAttempt) header() string {
	if at.item != nil {
		return fmt.Sprintf("== step %s item %d attempt %d (call %s) ==\n", at.step, *at.item, at.attempt, at.call)
	}
	return fmt.Sprintf("== step %s attempt %d (call %s) ==\n", at.step, at.attempt, at.call)
}

// runLogState tells where each call of a run belongs, from the run's step_started events,
// and which calls ended, from the step_finished and step_retrying events that name them;
// read once and then only the new ones (a followed log reads them again and again).
type runLogState struct {
	seen  int64
	calls map[string]store.RunEvent
	ended map[string]bool
}

const eventPage = 1000

// attempts lists the attempts of run's calls in the order of its steps, each step's in
// the order they were made.
func (st *runLogState) attempts(ctx context.Context, s Store, run store.Run) ([]runAttempt, error) {
	if st.calls == nil {
		st.calls, st.ended = map[string]store.RunEvent{}, map[string]bool{}
	}
	for st.seen < run.Events {
		events, err := s.ListRunEvents(ctx, run.ID, st.seen, eventPage)
		if err != nil {
			return nil, err
		}
		if len(events) == 0 {
			break
		}
		for _, e := range events {
			if e.Call == "" {
				continue
			}
			switch e.Type {
			case store.EventStepStarted:
				st.calls[e.Call] = e
			case store.EventStepFinished, store.EventStepRetrying:
				st.ended[e.Call] = true
			}
		}
		st.seen = events[len(events)-1].Seq
	}
	var out []runAttempt
	for _, step := range run.Steps {
		for i, call := range step.Calls {
			at := runAttempt{step: step.Name, attempt: i + 1, call: call}
			if e, ok := st.calls[call]; ok {
				at.item = e.Item
				if e.Attempt > 0 {
					at.attempt = e.Attempt
				}
			}
			out = append(out, at)
		}
	}
	return out, nil
}

// appendAttemptLog appends an attempt's header and its call's log (empty when the call has
// no record), ending with a newline.
func (a *API) appendAttemptLog(ctx context.Context, out []byte, at runAttempt) ([]byte, error) {
	out = append(out, at.header()...)
	log, err := a.store.GetExecutionLog(ctx, at.call)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	out = append(out, log...)
	if len(log) > 0 && !bytes.HasSuffix(log, []byte("\n")) {
		out = append(out, '\n')
	}
	return out, nil
}
