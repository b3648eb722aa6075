package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/store"
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
		if user, ok := strings.CutPrefix(ref, store.SSHKeyPrefix); ok {
			if err := a.checkRouteSSHKey(ctx, ref, user, owner, admin); err != nil {
				return err
			}
			continue
		}
		rec, err := a.secrets.Get(ctx, ref)
		switch {
		case errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable),
			err == nil && (rec.Kind != store.SecretKindSecret || rec.Owner != owner && !admin):
			return errInvalidField(routeSecretsField, fmt.Sprintf("secret %q does not exist: the app's owner creates it first (POST /v1/secrets)", ref))
		case err != nil:
			return err
		}
	}
	return nil
}

// checkRouteSSHKey refuses ssh:<user> (ref) in a route of an app of owner unless the user
// is the owner or the caller an admin, and unless the user has a key. Whether another
// user has a key is not told.
func (a *API) checkRouteSSHKey(ctx context.Context, ref, user, owner string, admin bool) error {
	if user != owner && !admin {
		return errInvalidField(routeSecretsField, fmt.Sprintf("secret %q: only routes of apps that %q owns may use its SSH key (or routes an admin writes)", ref, user))
	}
	_, err := a.secrets.SSHKeyRecord(ctx, user)
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable) {
		return errInvalidField(routeSecretsField, fmt.Sprintf("secret %q: user %q has no SSH key (POST /v1/users/%s/ssh-key makes one)", ref, user, user))
	}
	return err
}
