package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/models"
	authops "github.com/gantry-dev/gantry/gen/restapi/operations/auth"
	"github.com/gantry-dev/gantry/store"
)

// Whoami answers the caller's identity.
func (a *API) Whoami(ctx context.Context, _ authops.WhoamiParams) middleware.Responder {
	return authops.NewWhoamiOK().WithPayload(&models.PrincipalWrapper{Principal: principalToModel(caller(ctx))})
}

// CreateToken makes an API token and answers its secret, this once. An admin makes tokens
// for anyone with any role (admin, developer, user); a developer makes developer tokens for
// itself; an end user makes none (the spec does not open this operation to it).
func (a *API) CreateToken(ctx context.Context, params authops.CreateTokenParams) middleware.Responder {
	in, who := params.Body.Token, caller(ctx)
	if in.Name == "" {
		return a.badRequest("token.name", "token.name is required")
	}
	user, role := in.User, in.Role
	if user == "" {
		user = who.Name
	}
	if role == "" {
		role = auth.RoleDeveloper
	}
	if !who.IsAdmin() && (user != who.Name || role != auth.RoleDeveloper) {
		return a.errorResponse(auth.Forbidden("a developer may only create developer tokens for itself"))
	}
	var expires *time.Time
	if in.ExpiresAt != nil {
		t := time.Time(*in.ExpiresAt).UTC()
		if !t.After(time.Now()) {
			return a.badRequest("token.expires_at", "token.expires_at must be in the future")
		}
		expires = &t
	}
	// A developer's token never outlives the credential that made it (an expiring token, an
	// OIDC login): it takes that expiry by default, and may not ask for a later one.
	if limit := who.ExpiresAt; limit != nil && !who.IsAdmin() {
		if expires == nil {
			expires = limit
		} else if expires.After(*limit) {
			return a.badRequest("token.expires_at", "token.expires_at may not be later than the expiry of the credentials used (%s)", limit.UTC().Format(time.RFC3339))
		}
	}
	id := a.store.NewID()
	secret, hash := auth.NewSecret(id)
	t, err := a.store.CreateToken(ctx, store.Token{ID: id, Name: in.Name, User: user, Role: role, Hash: hash,
		CreatedBy: who.Name, ParentID: who.TokenID, ExpiresAt: expires})
	if err != nil {
		return a.errorResponse(withFieldPrefix("token", err))
	}
	auditNote(ctx, slog.String("token_created", t.ID), slog.String("token_user", t.User), slog.String("token_role", t.Role))
	out := tokenToModel(t)
	out.Secret = secret
	return authops.NewCreateTokenCreated().WithPayload(&models.TokenWrapper{Token: out})
}

// ListTokens answers one page of tokens, newest first: all of them for an admin, the
// caller's own for a developer.
func (a *API) ListTokens(ctx context.Context, params authops.ListTokensParams) middleware.Responder {
	var f store.TokenFilter
	if who := caller(ctx); !who.IsAdmin() {
		f.User = who.Name
	}
	list, next, err := a.store.ListTokens(ctx, f, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.TokensWrapper{Tokens: make([]*models.Token, 0, len(list)), NextCursor: next}
	for _, t := range list {
		out.Tokens = append(out.Tokens, tokenToModel(t))
	}
	return authops.NewListTokensOK().WithPayload(out)
}

// GetToken answers one token, without its secret.
func (a *API) GetToken(ctx context.Context, params authops.GetTokenParams) middleware.Responder {
	t, err := a.visibleToken(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	return authops.NewGetTokenOK().WithPayload(&models.TokenWrapper{Token: tokenToModel(t)})
}

// RevokeToken deletes a token: the next request that presents it gets 401.
func (a *API) RevokeToken(ctx context.Context, params authops.RevokeTokenParams) middleware.Responder {
	if _, err := a.visibleToken(ctx, params.ID); err != nil {
		return a.errorResponse(err)
	}
	n, err := a.store.DeleteToken(ctx, params.ID)
	if err != nil {
		return a.errorResponse(err)
	}
	auditNote(ctx, slog.String("token_revoked", params.ID), slog.Int("tokens_revoked", n))
	return authops.NewRevokeTokenNoContent()
}

// visibleToken reads a token the caller may see: any for an admin, its own for a developer
// (another's is not found, as for apps).
func (a *API) visibleToken(ctx context.Context, id string) (store.Token, error) {
	t, err := a.store.GetToken(ctx, id)
	if err != nil {
		return store.Token{}, err
	}
	if err := ownerGuard(ctx, store.NotFound("token", id))(t.User); err != nil {
		return store.Token{}, err
	}
	return t, nil
}

func tokenToModel(t store.Token) *models.Token {
	out := &models.Token{ID: t.ID, Name: t.Name, User: t.User, Role: t.Role, CreatedBy: t.CreatedBy, CreatedAt: dateTime(t.CreatedAt)}
	if t.ExpiresAt != nil {
		out.ExpiresAt = dateTime(*t.ExpiresAt)
	}
	return out
}
