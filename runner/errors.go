package runner

import (
	"errors"
	"fmt"
)

// Errors of a call; httperr maps each to its HTTP status in one place.
var (
	// ErrTimeout: the function ran past its route's timeout and its container was killed (504).
	ErrTimeout = errors.New("Timed out") //nolint:staticcheck // ST1005: the API's message, as IronFunctions sends it
	// ErrBusy: no container of the route became free before the call's deadline (503).
	ErrBusy = errors.New("no container free for this route; try again later")
	// ErrDockerUnavailable: the Docker daemon cannot be reached (503).
	ErrDockerUnavailable = errors.New("docker is unavailable")
	// ErrImageNotFound: the route's image is not on this host and could not be pulled.
	ErrImageNotFound = errors.New("image not found")
	// ErrShuttingDown: the runner is closing and takes no new calls (503).
	ErrShuttingDown = errors.New("gantry is shutting down")
	// ErrCancelled: the call was cancelled by DELETE /v1/executions/{id} (409 to a sync caller).
	ErrCancelled = errors.New("the call was cancelled")
	// ErrHeadersTooLarge: a default-format call's request headers, as the variables they
	// become (FN_HEADER_, HEADER_, CE_), are more than its container's environment takes
	// (MaxHeaderEnvBytes) (431).
	ErrHeadersTooLarge = errors.New("request headers too large")
	// ErrURLTooLong: a default-format call's URL is more than its container's environment
	// takes (MaxURLEnvBytes), or its path parameters, counted twice (FN_PARAM_ and PARAM_), are
	// more than MaxParamEnvBytes (414).
	ErrURLTooLong = errors.New("request URL too long")
	// ErrStartTimeout: Docker did not create and start the container within StartTimeout (503).
	ErrStartTimeout = errors.New("the function's container did not start in time; Docker may be overloaded")
)

// Reasons of a FunctionError.
const (
	ReasonBadExit = "bad_exit" // a non-zero exit, a crash, a broken protocol
	ReasonKilled  = "killed"   // killed: out of memory, or by a signal from outside
)

// FunctionError is a call that the function itself failed: a non-zero exit, an out-of-memory
// kill, a crash of a hot container or a broken protocol (502).
type FunctionError struct {
	Reason   string // ReasonBadExit or ReasonKilled
	ExitCode *int
	Message  string
}

func (e *FunctionError) Error() string { return e.Message }

func exitError(code int, reason, detail string) *FunctionError {
	c := code
	msg := fmt.Sprintf("function exited with code %d", code)
	if detail != "" {
		msg += ": " + detail
	}
	return &FunctionError{Reason: reason, ExitCode: &c, Message: msg}
}
