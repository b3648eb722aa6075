package invoke

import (
	"net/http"

	"github.com/gantry-dev/gantry/store"
)

// Finished is a call that reached a final status on this node, as OnFinished tells it.
type Finished struct {
	Execution store.Execution
	// Delivery is the event delivery the call made ("" for other calls), and EventType the
	// type of the event it delivered (its ce-type).
	Delivery  string
	EventType string
}

// OnFinished calls fn with every call that reaches a final status on this node, after its
// record was written: a sync call once it is recorded, an async call once the store took
// its end (CompleteTask), a queued call cancelled here (Cancel). Calls of external runners,
// and async calls the store ends by itself (a task dropped, a cancel at the end of a
// lease), are not told. fn is called on the call's own path: it must return at once (hand
// the call to a queue) and never call the service back. The returned function stops the
// calls to fn; it does not wait for one in progress.
func (s *Service) OnFinished(fn func(Finished)) (unsubscribe func()) {
	s.finMu.Lock()
	defer s.finMu.Unlock()
	s.finSeq++
	id := s.finSeq
	if s.finished == nil {
		s.finished = map[int]func(Finished){}
	}
	s.finished[id] = fn
	return func() {
		s.finMu.Lock()
		defer s.finMu.Unlock()
		delete(s.finished, id)
	}
}

// tellFinished tells OnFinished's subscribers that the call of task t ended with ex.
func (s *Service) tellFinished(ex store.Execution, t *store.Task) {
	s.finMu.Lock()
	fns := make([]func(Finished), 0, len(s.finished))
	for _, fn := range s.finished {
		fns = append(fns, fn)
	}
	s.finMu.Unlock()
	if len(fns) == 0 {
		return
	}
	f := Finished{Execution: ex}
	if t != nil && t.Delivery != "" {
		f.Delivery, f.EventType = t.Delivery, http.Header(t.Header).Get("Ce-Type")
	}
	for _, fn := range fns {
		fn(f)
	}
}
