package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

// routeSecretsField is the field of a route write that names its secrets.
const routeSecretsField = "route.secrets"

// checkRouteSecrets refuses, with a 400 naming route.secrets, a list of secrets that a
// route of app may not name now: each must exist (committed) and be the app owner's to
// give: a function secret owned by the app's owner, and ssh:<user> only with the app's
// owner as <user>, whoever writes the route (an admin too). Every call checks again
// against the owner of the moment (a secret may be deleted, an app change hands). Another's
// secret reads as one that does not exist.
func (a *API) checkRouteSecrets(ctx context.Context, app string, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	if err := store.ValidateSecretRefs(routeSecretsField, refs, false); err != nil {
		return err
	}
	if a.secrets == nil {
		return errNoSecrets()
	}
	owner, err := a.store.AppOwner(app)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if err := a.checkSecretUse(ctx, routeSecretsField, ref, owner); err != nil {
			return err
		}
	}
	return nil
}

// checkStepSecrets refuses, with a 400 naming steps[i].secrets, a workflow whose steps name
// secrets its owner may not give them, by the rules of routes' secrets; "ssh:@caller" is
// the key of whoever runs it, lent for that run, and always allowed.
func (a *API) checkStepSecrets(ctx context.Context, owner string, p *workflow.Program) error {
	return p.CheckSecrets(func(ref string) error {
		if a.secrets == nil {
			return errNoSecrets()
		}
		return a.checkSecretUse(ctx, "", ref, owner)
	})
}

// checkSecretUse refuses ref in a resource of owner (field names it in the error; "" lets
// the caller name it) unless it exists and is the owner's to give, whoever writes it (an
// admin too): every call checks it again against the owner of the moment, so a secret that
// is not the owner's would only make calls fail.
func (a *API) checkSecretUse(ctx context.Context, field, ref, owner string) error {
	if user, ok := strings.CutPrefix(ref, store.SSHKeyPrefix); ok {
		return a.checkSSHKeyUse(ctx, field, ref, user, owner)
	}
	rec, err := a.secrets.Get(ctx, ref)
	switch {
	case errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable),
		err == nil && (rec.Kind != store.SecretKindSecret || rec.Owner != owner):
		return errInvalidField(field, fmt.Sprintf("secret %q does not exist: its owner %q creates it first (POST /v1/secrets)", ref, owner))
	}
	return err
}

// checkSSHKeyUse refuses ssh:<user> (ref) in a resource of owner unless the user is the
// owner and has a key. Whether another user has a key is not told.
func (a *API) checkSSHKeyUse(ctx context.Context, field, ref, user, owner string) error {
	if user != owner {
		return errInvalidField(field, fmt.Sprintf("secret %q: only routes of apps that %q owns, and its workflows, may use its SSH key", ref, user))
	}
	_, err := a.secrets.SSHKeyRecord(ctx, user)
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable) {
		return errInvalidField(field, fmt.Sprintf("secret %q: user %q has no SSH key (POST /v1/users/%s/ssh-key makes one)", ref, user, user))
	}
	return err
}
