package handlers

import (
	"context"
	"errors"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	sshkeyops "github.com/gantry-dev/gantry/gen/restapi/operations/ssh_keys"
	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
)

// sshKeyNotFound is the answer to a user without an SSH key and to another user's key: the
// same, so that whether someone else has a key does not leak.
func sshKeyNotFound(user string) error { return store.NotFound("SSH key of user", user) }

// sshKeyAccess answers nil when the caller may manage user's SSH key: its own, whatever its
// role (end users have keys), or anyone's for an admin. Another's reads as not found.
func sshKeyAccess(ctx context.Context, user string) error {
	who := caller(ctx)
	if who.IsAdmin() || who.Name != "" && who.Name == user {
		return nil
	}
	return sshKeyNotFound(user)
}

// hideSSHKey answers a missing SSH key as sshKeyNotFound, whatever the layer that found it
// missing said.
func hideSSHKey(user string, err error) error {
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable) {
		return sshKeyNotFound(user)
	}
	return err
}

// generateSSHKey makes (or rotates) user's SSH key pair for the caller, after the checks
// every surface shares: a secret service, and a caller who may manage that user's key.
func (a *API) generateSSHKey(ctx context.Context, user string, o secrets.KeyOptions) (secrets.SSHKey, error) {
	if a.secrets == nil {
		return secrets.SSHKey{}, errNoSecrets()
	}
	if err := sshKeyAccess(ctx, user); err != nil {
		return secrets.SSHKey{}, err
	}
	key, err := a.secrets.GenerateSSHKey(ctx, user, caller(ctx).Name, o)
	var verr *store.ValidationError
	if errors.As(err, &verr) && verr.Field == "user" { // the path's user_id
		return secrets.SSHKey{}, withField("user_id", err)
	}
	return key, err
}

// CreateSSHKey generates the user's SSH key pair, or rotates it, and answers the public key:
// this once.
func (a *API) CreateSSHKey(ctx context.Context, params sshkeyops.CreateSSHKeyParams) middleware.Responder {
	var o secrets.KeyOptions
	if b := params.Body; b != nil {
		o = secrets.KeyOptions{Type: b.Type, Bits: int(b.Bits), Comment: b.Comment}
	}
	key, err := a.generateSSHKey(ctx, params.UserID, o)
	if err != nil {
		return a.errorResponse(err)
	}
	fingerprint := ""
	if key.Record.SSH != nil {
		fingerprint = key.Record.SSH.Fingerprint
	}
	return sshkeyops.NewCreateSSHKeyCreated().WithPayload(&models.SSHKeyCreated{PublicKey: &key.PublicKey, Fingerprint: &fingerprint})
}

// GetSSHKey describes the user's SSH key: no key material.
func (a *API) GetSSHKey(ctx context.Context, params sshkeyops.GetSSHKeyParams) middleware.Responder {
	if a.secrets == nil {
		return a.errorResponse(errNoSecrets())
	}
	if err := sshKeyAccess(ctx, params.UserID); err != nil {
		return a.errorResponse(err)
	}
	rec, err := a.secrets.SSHKeyRecord(ctx, params.UserID)
	if err != nil {
		return a.errorResponse(hideSSHKey(params.UserID, err))
	}
	return sshkeyops.NewGetSSHKeyOK().WithPayload(&models.SSHKeyWrapper{SSHKey: sshKeyToModel(params.UserID, rec)})
}

// DeleteSSHKey deletes the user's SSH key pair, every version of it.
func (a *API) DeleteSSHKey(ctx context.Context, params sshkeyops.DeleteSSHKeyParams) middleware.Responder {
	if a.secrets == nil {
		return a.errorResponse(errNoSecrets())
	}
	if err := sshKeyAccess(ctx, params.UserID); err != nil {
		return a.errorResponse(err)
	}
	if err := a.secrets.Delete(ctx, store.SSHKeySecretName(params.UserID), store.SecretKindSSHKey, nil); err != nil {
		return a.errorResponse(hideSSHKey(params.UserID, err))
	}
	return sshkeyops.NewDeleteSSHKeyNoContent()
}
