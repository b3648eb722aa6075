package handlers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-openapi/runtime/middleware"

	waasmodels "github.com/gantry-dev/gantry/gen/waas/models"
	waassshkeys "github.com/gantry-dev/gantry/gen/waas/restapi/operations/ssh_keys"
	"github.com/gantry-dev/gantry/secrets"
)

// The SSH keys of the /waas surface (swagger/WAAS.md): the same keys, checks and service as
// /v1/users/{user_id}/ssh-key (ssh_keys.go), in this surface's shapes.

// CreateUserSSHKey generates (or rotates) the user's SSH key pair: 201 {"public_key"}.
func (s *WaaS) CreateUserSSHKey(ctx context.Context, params waassshkeys.CreateUserSSHKeyParams) middleware.Responder {
	key, err := s.a.generateSSHKey(ctx, params.UserID, secrets.KeyOptions{})
	if err != nil {
		return s.fail(err)
	}
	return waassshkeys.NewCreateUserSSHKeyCreated().WithPayload(&waasmodels.UserSSHKey{PublicKey: &key.PublicKey})
}

// CreateSSHKey generates (or rotates) the caller's own SSH key pair, keeping the request's
// metadata with it: 201 {"id","public_key"}, id that of the new pair.
func (s *WaaS) CreateSSHKey(ctx context.Context, params waassshkeys.CreateSSHKeyParams) middleware.Responder {
	var o secrets.KeyOptions
	if params.Body != nil && len(params.Body.Metadata) > 0 {
		md, err := waasMetadata(params.Body.Metadata)
		if err != nil {
			return s.fail(err)
		}
		o.Metadata = md
	}
	key, err := s.a.generateSSHKey(ctx, caller(ctx).Name, o)
	if err != nil {
		return s.fail(err)
	}
	id := ""
	if key.Record.SSH != nil {
		id = key.Record.SSH.ID
	}
	return waassshkeys.NewCreateSSHKeyCreated().WithPayload(&waasmodels.SSHKey{ID: &id, PublicKey: &key.PublicKey})
}

// waasMetadata turns the client's metadata into the strings a key's record keeps: a string
// as it is, any other JSON value as its JSON text (null as "null").
func waasMetadata(in map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for k, v := range in {
		if str, ok := v.(string); ok {
			out[k] = str
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, errInvalidField("metadata."+k, fmt.Sprintf("metadata %q is not a JSON value", k))
		}
		out[k] = string(b)
	}
	return out, nil
}
