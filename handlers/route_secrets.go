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
// owner as <user>, unless the caller is an admin, who may name any. The route's calls
// check again when they read the secrets (a secret may be deleted meanwhile). Another's
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
	admin := caller(ctx).IsAdmin()
	for _, ref := range refs {
		if err := a.checkSecretUse(ctx, routeSecretsField, ref, owner, admin); err != nil {
			return err
		}
	}
	return nil
}

// checkStepSecrets refuses, with a 400 naming steps[i].secrets, a workflow whose steps name
// secrets its owner may not give them, by the rules of routes' secrets; "ssh:@caller" is
// the key of whoever runs it, lent for that run, and always allowed.
func (a *API) checkStepSecrets(ctx context.Context, owner string, p *workflow.Program) error {
	admin := caller(ctx).IsAdmin()
	return p.CheckSecrets(func(ref string) error {
		if a.secrets == nil {
			return errNoSecrets()
		}
		return a.checkSecretUse(ctx, "", ref, owner, admin)
	})
}

// checkSecretUse refuses ref in a resource of owner (field names it in the error; "" lets
// the caller name it) unless it exists and is the owner's to give, or the caller is an admin.
func (a *API) checkSecretUse(ctx context.Context, field, ref, owner string, admin bool) error {
	if user, ok := strings.CutPrefix(ref, store.SSHKeyPrefix); ok {
		return a.checkSSHKeyUse(ctx, field, ref, user, owner, admin)
	}
	rec, err := a.secrets.Get(ctx, ref)
	switch {
	case errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable),
		err == nil && (rec.Kind != store.SecretKindSecret || rec.Owner != owner && !admin):
		return errInvalidField(field, fmt.Sprintf("secret %q does not exist: its owner %q creates it first (POST /v1/secrets)", ref, owner))
	}
	return err
}

// checkSSHKeyUse refuses ssh:<user> (ref) in a resource of owner unless the user is the
// owner or the caller an admin, and unless the user has a key. Whether another user has a
// key is not told.
func (a *API) checkSSHKeyUse(ctx context.Context, field, ref, user, owner string, admin bool) error {
	if user != owner && !admin {
		return errInvalidField(field, fmt.Sprintf("secret %q: only routes of apps that %q owns, and its workflows, may use its SSH key", ref, user))
	}
	_, err := a.secrets.SSHKeyRecord(ctx, user)
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable) {
		return errInvalidField(field, fmt.Sprintf("secret %q: user %q has no SSH key (POST /v1/users/%s/ssh-key makes one)", ref, user, user))
	}
	return err
}
