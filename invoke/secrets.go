package invoke

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
)

// Secrets is what the invocation service needs of the secret service: when the secrets a
// call names last changed, from the records it keeps in memory (no I/O). The runner reads
// their values (runner.Secrets) when it starts a container.
//
// A call's secrets are its route's (Route.Secrets), then its own (Task.Secrets: a workflow
// step's, "ssh:@caller" resolved), each once: names only, in the task as in the queue,
// never values. Such a call is for Gantry's own workers only: an external runner (GET
// /v1/tasks) could only learn the names, and would run the function without its files, so
// it must not be handed one (the lease to external runners refuses tasks that name
// secrets, rather than hand out names it cannot use).
type Secrets interface {
	// Version is when the newest of refs last changed, refs being owner's to give a
	// function (a secret owner owns, owner's own SSH key) or the SSH key of lent ("" for
	// none); for a ref that does not exist or is not theirs, an error wrapping
	// store.ErrConflict that names it.
	Version(owner, lent string, refs []string) (time.Time, error)
}

// secretDrainer is the runner's drain of the hot containers that hold a secret
// (*runner.Runner has it). It stands apart from Runner so that the runners of tests that
// know nothing of secrets still serve; with a runner without it, containers that hold a
// changed secret are replaced only when a call that knows the change arrives (its newer
// SecretsVersion drains their pool).
type secretDrainer interface{ DrainSecret(ref string) }

var _ secretDrainer = (*runner.Runner)(nil)

// noSecretStore: a call names secrets, but the service has no Options.Secrets. It never
// runs without them: 503 (the server is configured without a secret store), and an async
// call is not retried.
type noSecretStore struct{ route string }

func (e *noSecretStore) Error() string {
	return fmt.Sprintf("route %s names secrets, but this server has no secret store: it runs no function with secrets", e.route)
}

// Answer is the HTTP answer of the error.
func (e *noSecretStore) Answer() *httperr.Error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: e.Error(), Header: httperr.RetryAfter(60)}
}

// callSecrets are the secrets a call of task t gets: its route's, then its own, each once.
func callSecrets(t store.Task) []string {
	if len(t.Secrets) == 0 {
		return t.Route.Secrets
	}
	refs := make([]string, 0, len(t.Route.Secrets)+len(t.Secrets))
	for _, list := range [][]string{t.Route.Secrets, t.Secrets} {
		for _, ref := range list {
			if !slices.Contains(refs, ref) {
				refs = append(refs, ref)
			}
		}
	}
	return refs
}

// secretsOf are the secrets of a call of task t and when the newest of them last changed.
// A call that names a secret that does not exist fails (store.ErrConflict, naming it), as
// does one that names secrets when the service has no secret store: never does a function
// run without the secrets its route names.
func (s *Service) secretsOf(t store.Task) ([]string, time.Time, error) {
	refs := callSecrets(t)
	if len(refs) == 0 {
		return nil, time.Time{}, nil
	}
	name := t.Route.App + t.Route.Path
	if s.secrets == nil {
		return nil, time.Time{}, &noSecretStore{route: name}
	}
	// Checked at every call against who owns them now: an app that changed hands, or a
	// secret deleted and made again by another, gives its functions nobody else's.
	var version time.Time
	if len(t.Route.Secrets) > 0 {
		owner, err := s.store.AppOwner(t.Route.App)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("the secrets of %s: %w", name, err)
		}
		if version, err = s.secrets.Version(owner, "", t.Route.Secrets); err != nil {
			return nil, time.Time{}, fmt.Errorf("the secrets of %s: %w", name, err)
		}
	}
	if len(t.Secrets) > 0 {
		if t.SecretsOwner == "" {
			return nil, time.Time{}, store.Errorf(store.ErrConflict, "the secrets of %s: the call names secrets without their owner", name)
		}
		v, err := s.secrets.Version(t.SecretsOwner, t.SecretsLent, t.Secrets)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("the secrets of %s: %w", name, err)
		}
		if v.After(version) {
			version = v
		}
	}
	return refs, version, nil
}
