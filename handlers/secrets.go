package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	secretops "github.com/gantry-dev/gantry/gen/restapi/operations/secrets"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
)

// Secrets is what the API needs of the secret service (secrets.Service): function secrets'
// records and writes, users' SSH key pairs. No method returns a value: the API never
// answers one.
type Secrets interface {
	// Get returns the record of a committed secret; store.ErrNotFound otherwise.
	Get(ctx context.Context, name string) (store.Secret, error)
	// List returns a page of the committed records that pass f, in name order.
	List(ctx context.Context, f store.SecretFilter, page store.Page) ([]store.Secret, string, error)
	// PutSecret stores a new version of a function secret, creating it (owned by owner) when
	// there is none; guard vets the owner of an existing one.
	PutSecret(ctx context.Context, name, owner, by string, data map[string][]byte, guard store.SecretGuard) (store.Secret, bool, error)
	// Delete removes a secret of kind with every version of its value.
	Delete(ctx context.Context, name, kind string, guard store.SecretGuard) error
	// GenerateSSHKey makes (or rotates) user's SSH key pair; only its result holds the public key.
	GenerateSSHKey(ctx context.Context, user, by string, o secrets.KeyOptions) (secrets.SSHKey, error)
	// SSHKeyRecord returns the record of user's SSH key; store.ErrNotFound without one.
	SSHKeyRecord(ctx context.Context, user string) (store.Secret, error)
}

// errNoSecrets answers what needs the secret service on a server without one.
func errNoSecrets() *httperr.Error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: "secrets are not configured on this server", Header: httperr.RetryAfter(60)}
}

// secretNotFound is the answer to a secret that does not exist and to another's: the same.
func secretNotFound(name string) error { return store.NotFound("secret", name) }

// secretGuard is the ownership check of a function secret, run by the store inside the
// write: another developer's secret reads as not found.
func secretGuard(ctx context.Context, name string) store.SecretGuard {
	return store.SecretGuard(ownerGuard(ctx, secretNotFound(name)))
}

// hideSecret answers a missing secret, whatever the layer that found it missing said, as
// secretNotFound, so that a missing secret and another's read alike.
func hideSecret(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable) {
		return secretNotFound(name)
	}
	return err
}

// ListSecrets answers one page of function secrets in name order: a developer's own, or
// for an admin all of them or one owner's. No value is ever answered.
func (a *API) ListSecrets(ctx context.Context, params secretops.ListSecretsParams) middleware.Responder {
	if a.secrets == nil {
		return a.errorResponse(errNoSecrets())
	}
	owner, err := ownerFilter(caller(ctx), params.Owner, "secrets")
	if err != nil {
		return a.errorResponse(err)
	}
	f := store.SecretFilter{Owner: owner, Kind: store.SecretKindSecret}
	list, next, err := a.secrets.List(ctx, f, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.SecretsWrapper{Secrets: make([]*models.Secret, 0, len(list)), NextCursor: next}
	for _, s := range list {
		out.Secrets = append(out.Secrets, secretToModel(s))
	}
	return secretops.NewListSecretsOK().WithPayload(out)
}

// CreateSecret creates a function secret owned by the caller; 409 if the name is taken.
func (a *API) CreateSecret(ctx context.Context, params secretops.CreateSecretParams) middleware.Responder {
	in := params.Body.Secret
	if in == nil {
		return a.badRequest("secret", "secret is required")
	}
	if in.Name == "" {
		return a.badRequest("secret.name", "secret.name is required")
	}
	if a.secrets == nil {
		return a.errorResponse(errNoSecrets())
	}
	taken := func(string) error { return store.Errorf(store.ErrExists, "secret %q already exists", in.Name) }
	who := caller(ctx).Name
	rec, _, err := a.secrets.PutSecret(ctx, in.Name, who, who, secretData(in.Data), taken)
	if err != nil {
		return a.errorResponse(withFieldPrefix("secret", err))
	}
	return secretops.NewCreateSecretCreated().WithPayload(&models.SecretWrapper{Secret: secretToModel(rec)})
}

// GetSecret answers the record of a function secret the caller may use; never its value.
func (a *API) GetSecret(ctx context.Context, params secretops.GetSecretParams) middleware.Responder {
	if a.secrets == nil {
		return a.errorResponse(errNoSecrets())
	}
	rec, err := a.secrets.Get(ctx, params.Name)
	if err == nil && (rec.Kind != store.SecretKindSecret || !mayUse(caller(ctx), rec.Owner)) {
		err = secretNotFound(params.Name)
	}
	if err != nil {
		return a.errorResponse(hideSecret(params.Name, err))
	}
	return secretops.NewGetSecretOK().WithPayload(&models.SecretWrapper{Secret: secretToModel(rec)})
}

// PutSecret stores a new version of a function secret (201 when it creates it, owned by
// the caller); another developer's secret answers 404.
func (a *API) PutSecret(ctx context.Context, params secretops.PutSecretParams) middleware.Responder {
	in := params.Body.Secret
	if in == nil {
		return a.badRequest("secret", "secret is required")
	}
	if in.Name != "" && in.Name != params.Name {
		return a.badRequest("secret.name", "secret.name %q differs from the secret in the URL (%q); secrets cannot be renamed", in.Name, params.Name)
	}
	if a.secrets == nil {
		return a.errorResponse(errNoSecrets())
	}
	who := caller(ctx).Name
	rec, created, err := a.secrets.PutSecret(ctx, params.Name, who, who, secretData(in.Data), secretGuard(ctx, params.Name))
	if err != nil {
		return a.errorResponse(hideSecret(params.Name, withFieldPrefix("secret", err)))
	}
	if created {
		return secretops.NewPutSecretCreated().WithPayload(&models.SecretWrapper{Secret: secretToModel(rec)})
	}
	return secretops.NewPutSecretOK().WithPayload(&models.SecretWrapper{Secret: secretToModel(rec)})
}

// DeleteSecret deletes a function secret and every version of its value; another
// developer's secret answers 404.
func (a *API) DeleteSecret(ctx context.Context, params secretops.DeleteSecretParams) middleware.Responder {
	if a.secrets == nil {
		return a.errorResponse(errNoSecrets())
	}
	if err := a.secrets.Delete(ctx, params.Name, store.SecretKindSecret, secretGuard(ctx, params.Name)); err != nil {
		return a.errorResponse(hideSecret(params.Name, err))
	}
	return secretops.NewDeleteSecretNoContent()
}

// secretData is the value of a secret as the service takes it: the strings of the request
// as bytes. The service validates it.
func secretData(m models.SecretData) map[string][]byte {
	data := make(map[string][]byte, len(m))
	for k, v := range m {
		data[k] = []byte(v)
	}
	return data
}
