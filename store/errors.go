package store

import (
	"errors"
	"fmt"
)

// Sentinel errors; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict is a request that the current state forbids, such as deleting an app that has routes.
	ErrConflict = errors.New("conflict")
	// ErrInvalid marks a ValidationError.
	ErrInvalid = errors.New("invalid")
	// ErrTaskRunning: the task is leased to a worker or an external runner; it cannot be
	// cancelled in the queue (its running call must be stopped instead).
	ErrTaskRunning = errors.New("task is running")
	// ErrUnavailable: the store cannot be reached now (its database is down or restarting);
	// the same request may succeed later. Nothing was written.
	ErrUnavailable = errors.New("store unavailable")
)

// ValidationError names the field of a domain object that is invalid.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Is makes errors.Is(err, ErrInvalid) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// kindError is a sentinel kind with a sentence for people: errors.Is matches the kind,
// Error() reads as the sentence ("app \"x\" not found").
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Errorf returns an error of a sentinel kind (ErrNotFound, ErrExists, ErrConflict, ...)
// whose message is the sentence for people: backends use it so that every backend
// answers with the same kinds.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// NotFound is the error of a missing resource: what ("app", "API", "token", "execution")
// and its name. Callers that hide others' resources answer with it, so that a resource
// that is not yours reads exactly as one that does not exist.
func NotFound(what, name string) error { return Errorf(ErrNotFound, "%s %q not found", what, name) }

// Invalid returns the ValidationError of a field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}
