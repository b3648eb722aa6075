package workflow

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gantry-dev/gantry/store"
)

// checkSecrets checks the secrets step s names (f is its field, "steps[i]"): only a call
// gets them, and "ssh:@caller" is allowed.
func checkSecrets(s Step, f string) error {
	if len(s.Secrets) == 0 {
		return nil
	}
	if s.Call == nil {
		return store.Invalid(f+".secrets", "secrets need a call")
	}
	return store.ValidateSecretRefs(f+".secrets", s.Secrets, true)
}

// stepSecrets are the secrets a step's call gets besides its route's: the step's, with
// "ssh:@caller" resolved to the SSH key of the run's caller ("ssh:<caller>"), each once.
// A run whose caller cannot have an SSH key (none, or a name no key is kept under) fails
// the step; one whose caller has none fails its call, when the secret is found missing.
func stepSecrets(refs []string, caller string) ([]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		if ref == store.SSHKeyPrefix+store.SSHCaller {
			if caller == "" {
				return nil, fmt.Errorf("secrets: %q is the SSH key of the run's caller, and this run has no caller", ref)
			}
			if err := store.ValidateSSHUser(caller); err != nil {
				var verr *store.ValidationError
				msg := err.Error()
				if errors.As(err, &verr) {
					msg = verr.Message
				}
				return nil, fmt.Errorf("secrets: %q is the SSH key of the run's caller, and %s", ref, msg)
			}
			ref = store.SSHKeySecretName(caller)
		}
		if !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	return out, nil
}

// lentBy is the user who lends its SSH key to a step that names "ssh:@caller" (the run's
// caller), "" for a step that does not.
func lentBy(refs []string, caller string) string {
	if slices.Contains(refs, store.SSHKeyPrefix+store.SSHCaller) {
		return caller
	}
	return ""
}

// CheckSecrets calls check(ref) for every secret a step names, but "ssh:@caller" (the
// key of whoever runs it, lent by that user for the run), and returns the first error:
// one of kind store.ErrNotFound or store.ErrInvalid as a *store.ValidationError of field
// "steps[i].secrets" with check's message, any other as it is.
func (p *Program) CheckSecrets(check func(ref string) error) error {
	for i, sp := range p.Steps {
		for _, ref := range sp.Secrets {
			if ref == store.SSHKeyPrefix+store.SSHCaller {
				continue
			}
			if err := check(ref); err != nil {
				if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
					return store.Invalid(fmt.Sprintf("steps[%d].secrets", i), "%s", err.Error())
				}
				return err
			}
		}
	}
	return nil
}
