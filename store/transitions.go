package store

// transitions is the one table of the execution statuses a stored execution may go to from
// the one it has ("" is a new execution). Every backend checks its writes against it
// (CanTransition), and storetest walks it.
//
//   - A sync call is recorded RUNNING and ends SUCCESS, FAILED or CANCELLED; it may be
//     recorded once, already ended (a call refused before it ran, a record imported).
//   - An async call is accepted QUEUED; a lease makes it RUNNING; a retry, or the release
//     of a dead run's lease, makes it QUEUED again; a lease that expired is taken again
//     (RUNNING to RUNNING). A queued one may be CANCELLED; a running one ends like a sync call.
//   - SUCCESS, FAILED and CANCELLED are final: a final execution never changes status
//     (late log output may still be appended to it).
var transitions = map[string][]string{
	"":            {StatusQueued, StatusRunning, StatusSuccess, StatusFailed, StatusCancelled},
	StatusQueued:  {StatusRunning, StatusCancelled},
	StatusRunning: {StatusRunning, StatusQueued, StatusSuccess, StatusFailed, StatusCancelled},
}

// CanTransition reports whether a stored execution with status from may be written with
// status to (from "" for a new execution).
func CanTransition(from, to string) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// TransitionError is the error of a write that CanTransition refuses.
func TransitionError(id, from, to string) error {
	if from == "" {
		return Errorf(ErrConflict, "execution %q cannot start %s", id, to)
	}
	return Errorf(ErrConflict, "execution %q cannot go from %s to %s", id, from, to)
}
