package invoke

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Cancel cancels a call and returns its execution. A queued call never runs (CANCELLED at
// once). A running call in this process is stopped (its container killed; it ends
// CANCELLED). An async call leased elsewhere is marked in the queue so that it is never
// run again (its holder's result is still recorded), and its node stops it if it runs it.
// A sync call running on another node is asked to stop through the store
// (RequestCancel): that node's follower (Follow) stops it. Either way the execution is
// answered as it is now, still RUNNING. A finished call is a store.ErrConflict.
func (s *Service) Cancel(ctx context.Context, id string) (store.Execution, error) {
	// The task as it was queued, for OnFinished (an event delivery is told as one, so that
	// a delivery of a system event publishes none: see Finished); nil once it is gone.
	var queued *store.Task
	if t, err := s.store.GetTask(ctx, id); err == nil {
		queued = &t
	}
	owner, err := s.store.CancelTask(ctx, id)
	switch {
	case err == nil: // it was queued: it ended CANCELLED
		ex, err := s.store.GetExecution(ctx, id)
		if err == nil && ex.Done() {
			s.tellFinished(ex, queued)
		}
		return ex, err
	case !errors.Is(err, store.ErrTaskRunning) && !errors.Is(err, store.ErrNotFound):
		return store.Execution{}, err
	}
	s.mu.Lock()
	cancel := s.running[id]
	if cancel != nil {
		cancel(runner.ErrCancelled)
	} else if s.workers != "" && strings.HasPrefix(owner, s.workers) {
		s.cancelled[id] = true // leased by one of our workers, not started yet
	}
	s.mu.Unlock()
	ex, gerr := s.store.GetExecution(ctx, id)
	switch {
	case gerr != nil:
		return store.Execution{}, gerr
	case cancel != nil, errors.Is(err, store.ErrTaskRunning):
		return ex, nil
	case ex.Done():
		return ex, fmt.Errorf("%w: execution %q already finished (%s)", store.ErrConflict, id, ex.Status)
	case ex.Status == store.StatusRunning: // not in the queue, not here: a sync call of another node
		if err := s.store.RequestCancel(ctx, id); err != nil {
			return ex, err
		}
		return ex, nil
	}
	return ex, fmt.Errorf("%w: execution %q is not running", store.ErrConflict, id)
}
