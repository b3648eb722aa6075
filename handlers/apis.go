package handlers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/apis"
	"github.com/gantry-dev/gantry/store"
)

// ListApis answers one page of APIs in name order: a developer's own, or for an admin all
// of them or one owner's.
func (a *API) ListApis(ctx context.Context, params apis.ListApisParams) middleware.Responder {
	owner, err := ownerFilter(caller(ctx), params.Owner, "APIs")
	if err != nil {
		return a.errorResponse(err)
	}
	list, next, err := a.store.ListAPIs(ctx, store.APIFilter{Owner: owner}, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.ApisWrapper{Apis: make([]*models.API, 0, len(list)), NextCursor: next}
	for _, api := range list {
		out.Apis = append(out.Apis, apiToModel(api))
	}
	return apis.NewListApisOK().WithPayload(out)
}

// CreateAPI creates an API owned by the caller; its function need not exist yet.
func (a *API) CreateAPI(ctx context.Context, params apis.CreateAPIParams) middleware.Responder {
	in := params.Body.API
	switch {
	case in.Name == "":
		return a.badRequest("api.name", "api.name is required")
	case in.Function == nil:
		return a.badRequest("api.function", "api.function is required: the app and route the API calls")
	case len(in.Uris) == 0:
		return a.badRequest("api.uris", "api.uris is required: at least one path")
	}
	if err := a.checkOIDCIssuer(ctx, in); err != nil {
		return a.errorResponse(err)
	}
	newAPI := func() store.API {
		return store.API{Name: in.Name, Owner: caller(ctx).Name, Enabled: true, MaxBodyBytes: store.DefaultAPIMaxBody}
	}
	// Refuse what will be refused anyway before hashing: an invalid API, a name taken.
	if err := a.checkAPIWrite(newAPI(), in); err != nil {
		return a.errorResponse(withFieldPrefix("api", err))
	}
	if _, err := a.store.GetAPI(ctx, in.Name); err == nil {
		return a.errorResponse(fmt.Errorf("API %q %w", in.Name, store.ErrExists))
	} else if !errors.Is(err, store.ErrNotFound) {
		return a.errorResponse(err)
	}
	hashes, err := a.hashPasswords(ctx, in.BasicUsers)
	if err != nil {
		return a.errorResponse(withFieldPrefix("api", err))
	}
	api := newAPI()
	if err := patchAPI(&api, in, hashes); err != nil {
		return a.errorResponse(withFieldPrefix("api", err))
	}
	key, err := a.putTLSKey(ctx, api.Name, api.Owner, nil, in.TLS) // before the record that names it
	if err != nil {
		return a.errorResponse(err)
	}
	created, err := a.store.CreateAPI(ctx, api)
	if err != nil {
		a.undoTLSKey(ctx, key, err)
		return a.errorResponse(withFieldPrefix("api", err))
	}
	return apis.NewCreateAPICreated().WithPayload(&models.APIWrapper{API: apiToModel(created)})
}

// GetAPI answers one API, without its TLS key or passwords.
func (a *API) GetAPI(ctx context.Context, params apis.GetAPIParams) middleware.Responder {
	api, err := a.store.GetAPI(ctx, params.API)
	if err == nil {
		err = apiGuard(ctx, params.API)(api.Owner)
	}
	if err != nil {
		return a.errorResponse(err)
	}
	return apis.NewGetAPIOK().WithPayload(&models.APIWrapper{API: apiToModel(api)})
}

// PatchAPI changes the fields given; an admin may give the API to another owner.
func (a *API) PatchAPI(ctx context.Context, params apis.PatchAPIParams) middleware.Responder {
	in, who := params.Body.API, caller(ctx)
	if in.Name != "" && in.Name != params.API {
		return a.badRequest("api.name", "api.name %q differs from the API in the URL (%q); APIs cannot be renamed", in.Name, params.API)
	}
	if in.Owner != "" && in.Owner != who.Name && !who.IsAdmin() {
		return a.errorResponse(auth.Forbidden("only an admin may give an API to another owner"))
	}
	if in.Owner != "" {
		if err := store.ValidateUserName(in.Owner); err != nil { // an owner is a user: one rule for user names
			return a.errorResponse(withField("api.owner", err))
		}
	}
	if err := a.checkOIDCIssuer(ctx, in); err != nil {
		return a.errorResponse(err)
	}
	// Refuse what will be refused anyway before hashing: another owner's API or none (a
	// cheap read; the write checks the owner again, in its transaction), an invalid result.
	guard := apiGuard(ctx, params.API)
	current, err := a.store.GetAPI(ctx, params.API)
	if err == nil {
		err = guard(current.Owner)
	}
	if err != nil {
		return a.errorResponse(err)
	}
	if in.Owner != "" {
		current.Owner = in.Owner
	}
	if err := a.checkAPIWrite(current, in); err != nil {
		return a.errorResponse(withFieldPrefix("api", err))
	}
	hashes, err := a.hashPasswords(ctx, in.BasicUsers) // before the store write: it waits for nothing slow
	if err != nil {
		return a.errorResponse(withFieldPrefix("api", err))
	}
	key, err := a.putTLSKey(ctx, params.API, current.Owner, &current, in.TLS) // before the record that names it
	if err != nil {
		return a.errorResponse(err)
	}
	api, err := a.store.UpdateAPI(ctx, params.API, func(api *store.API) error {
		if err := guard(api.Owner); err != nil { // in the transaction: the owner cannot change meanwhile
			return err
		}
		if in.Owner != "" && in.Owner != api.Owner {
			auditNote(ctx, slog.String("old_owner", api.Owner), slog.String("new_owner", in.Owner))
			api.Owner = in.Owner
		}
		if err := patchAPI(api, in, hashes); err != nil {
			return err
		}
		return a.checkOIDCSource(*api)
	})
	if err != nil {
		a.undoTLSKey(ctx, key, err)
		return a.errorResponse(withFieldPrefix("api", err))
	}
	if removesTLS(in.TLS) { // once the record no longer names it
		a.dropTLSKey(ctx, params.API)
	}
	return apis.NewPatchAPIOK().WithPayload(&models.APIWrapper{API: apiToModel(api)})
}

// DeleteAPI deletes an API, then its TLS key; the gateway stops serving it within a second.
func (a *API) DeleteAPI(ctx context.Context, params apis.DeleteAPIParams) middleware.Responder {
	if err := a.store.DeleteAPI(ctx, params.API, apiGuard(ctx, params.API)); err != nil {
		return a.errorResponse(err)
	}
	a.dropTLSKey(ctx, params.API)
	return apis.NewDeleteAPINoContent()
}

// checkOIDCIssuer lets only admins point an API at an identity source of their choosing:
// the server fetches the issuer's documents, so a developer must not choose what it fetches.
func (a *API) checkOIDCIssuer(ctx context.Context, in *models.API) error {
	if in.Oidc != nil && in.Oidc.Issuer != "" && !caller(ctx).IsAdmin() {
		return auth.Forbidden("only an admin may set an API's own OIDC issuer; other APIs use the server's identity source")
	}
	return nil
}

// checkOIDCSource refuses oidc authentication that has no identity source to verify with.
func (a *API) checkOIDCSource(api store.API) error {
	if api.Auth == store.APIAuthOIDC && !a.oidcDefault && (api.OIDCIssuer == "" || api.OIDCAudience == "") {
		return errInvalidField("api.oidc", "oidc authentication needs oidc.issuer and oidc.audience: this server has no identity source (--oidc-issuer)")
	}
	return nil
}

// apiGuard is the ownership check of an API.
func apiGuard(ctx context.Context, name string) store.AppGuard {
	return ownerGuard(ctx, store.NotFound("API", name))
}

// ownerFilter is the owner a list is narrowed to: a developer's own resources (it may name
// only itself), or for an admin all ("") or the owner asked for. "me" is the caller.
func ownerFilter(who auth.Identity, param *string, what string) (string, error) {
	owner := ""
	if param != nil {
		owner = *param
	}
	if owner == "me" {
		owner = who.Name
	}
	if who.IsAdmin() {
		return owner, nil
	}
	if owner != "" && owner != who.Name {
		return "", auth.Forbidden("a developer may only list its own %s", what)
	}
	return who.Name, nil
}

// patchAPI sets the fields present in m: lists and objects given replace the old ones.
// The basic users' passwords come hashed (hashPasswords); a basic user sent without a
// password keeps its old one.
func patchAPI(api *store.API, m *models.API, hashes map[string][]byte) error {
	if m.Function != nil {
		api.App, api.Route = *m.Function.App, *m.Function.Route
	}
	setList(&api.Hosts, m.Hosts)
	setList(&api.Methods, m.Methods)
	setList(&api.URIs, m.Uris)
	setList(&api.Protocols, m.Protocols)
	setIfPresent(&api.HTTPSOnly, m.HTTPSOnly)
	setIfPresent(&api.Enabled, m.Enabled)
	setIfPresent(&api.Timeout, m.Timeout)
	setIfPresent(&api.MaxBodyBytes, m.MaxBodyBytes)
	if m.Authentication != "" {
		api.Auth = m.Authentication
	}
	if m.Oidc != nil { // each field given replaces its own
		if m.Oidc.Issuer != "" {
			api.OIDCIssuer = m.Oidc.Issuer
		}
		if m.Oidc.Audience != "" {
			api.OIDCAudience = m.Oidc.Audience
		}
	}
	if m.Cors != nil {
		api.CORS = store.APICORS{Origins: m.Cors.Origins, Methods: m.Cors.Methods, Headers: m.Cors.Headers}
	}
	if m.RateLimit != nil {
		api.RateLimit = nil
		if *m.RateLimit.Rps > 0 {
			api.RateLimit = &store.RateLimit{RPS: *m.RateLimit.Rps, Burst: m.RateLimit.Burst, Per: m.RateLimit.Per}
		}
	}
	if m.TLS != nil {
		if err := setTLS(api, m.TLS); err != nil {
			return err
		}
	}
	if m.BasicUsers != nil {
		users, err := basicUsers(api.BasicUsers, m.BasicUsers, hashes)
		if err != nil {
			return err
		}
		api.BasicUsers = users
	}
	return nil
}

func setList(dst *[]string, src []string) {
	if src != nil {
		*dst = append([]string{}, src...)
	}
}

// checkAPIWrite refuses, before any password is hashed, a write that the store would refuse
// as invalid: it applies in to api (a copy: the stored API of a PATCH, a new one of a
// create) with stand-ins for the hashes of the passwords sent, and validates the result as
// the store will. Conflicts with other APIs are left to the store's write.
func (a *API) checkAPIWrite(api store.API, in *models.API) error {
	if err := checkBasicUsers(in.BasicUsers); err != nil {
		return err
	}
	unhashed := map[string][]byte{}
	for _, u := range in.BasicUsers {
		if u.Password != "" {
			unhashed[*u.Username] = []byte("not hashed yet")
		}
	}
	if err := patchAPI(&api, in, unhashed); err != nil {
		return err
	}
	api.ApplyDefaults()
	if err := api.Validate(); err != nil {
		return err
	}
	return a.checkOIDCSource(api)
}

// checkBasicUsers refuses basic users that cannot be stored, naming each by its place in
// the list: a null, too many users, a password bcrypt cannot take.
func checkBasicUsers(users []*models.APIBasicUser) error {
	if len(users) > store.MaxAPIUsers {
		return errInvalidField("basic_users", fmt.Sprintf("at most %d users", store.MaxAPIUsers))
	}
	for i, u := range users {
		field := fmt.Sprintf("basic_users.%d", i)
		switch {
		case u == nil || u.Username == nil:
			return errInvalidField(field, "a basic user is an object with a username")
		case len(u.Password) > maxPasswordBytes:
			return errInvalidField(field+".password", fmt.Sprintf("user %q: a password is at most %d bytes", *u.Username, maxPasswordBytes))
		}
	}
	return nil
}

// hashPasswords hashes the passwords sent with basic users, by username, in the server's
// password pool: one at a time per caller, so that one caller's many users (or many
// requests) wait for their own hashes and never take the slots of others. It runs after
// every cheap check (checkAPIWrite, the API's owner) and before the store write, never
// inside it. Users sent without a password are not hashed (they keep the stored hash); a
// password sent is hashed even if it is the stored one, since comparing it with the stored
// hash would cost a bcrypt run too. A pool with too many callers waiting refuses the
// request (503) before it hashes anything.
func (a *API) hashPasswords(ctx context.Context, users []*models.APIBasicUser) (map[string][]byte, error) {
	if err := checkBasicUsers(users); err != nil { // checked already; hashPasswords stays safe on its own
		return nil, err
	}
	hashes := map[string][]byte{}
	key := "owner " + caller(ctx).Name
	for _, u := range users {
		if u.Password == "" {
			continue
		}
		var (
			hash    []byte
			hashErr error
		)
		if err := a.passwords.Run(ctx, key, func() { hash, hashErr = a.hashPassword(u.Password) }); err != nil {
			return nil, err
		}
		if hashErr != nil {
			return nil, errInvalidField("basic_users", fmt.Sprintf("user %q: %v", *u.Username, hashErr))
		}
		hashes[*u.Username] = hash
	}
	return hashes, nil
}

// maxPasswordBytes is the longest password bcrypt takes.
const maxPasswordBytes = 72

// basicUsers are the users sent, with the hashes of the passwords sent; a user sent
// without one keeps its old hash, and a new user sent without one is refused.
func basicUsers(old []store.BasicUser, in []*models.APIBasicUser, hashes map[string][]byte) ([]store.BasicUser, error) {
	if err := checkBasicUsers(in); err != nil {
		return nil, err
	}
	oldHash := map[string][]byte{}
	for _, u := range old {
		oldHash[u.Username] = u.Hash
	}
	users := make([]store.BasicUser, 0, len(in))
	for i, u := range in {
		name := *u.Username
		hash := oldHash[name]
		if u.Password != "" {
			hash = hashes[name]
		}
		if hash == nil {
			return nil, errInvalidField(fmt.Sprintf("basic_users.%d.password", i), fmt.Sprintf("user %q is new: it needs a password", name))
		}
		users = append(users, store.BasicUser{Username: name, Hash: hash})
	}
	return users, nil
}

func apiToModel(api store.API) *models.API {
	app, route := api.App, api.Route
	m := &models.API{
		Name: api.Name, Owner: api.Owner, Function: &models.APIFunction{App: &app, Route: &route},
		Hosts: orEmpty(api.Hosts), Methods: orEmpty(api.Methods), Uris: api.URIs, Protocols: api.Protocols,
		BasicUsers: []*models.APIBasicUser{},
		HTTPSOnly:  &api.HTTPSOnly, Authentication: api.Auth, Enabled: &api.Enabled,
		MaxBodyBytes: &api.MaxBodyBytes, CreatedAt: dateTime(api.CreatedAt), UpdatedAt: dateTime(api.UpdatedAt),
	}
	if api.Timeout != 0 {
		m.Timeout = &api.Timeout
	}
	for _, u := range api.BasicUsers {
		name := u.Username
		m.BasicUsers = append(m.BasicUsers, &models.APIBasicUser{Username: &name})
	}
	if api.OIDCIssuer != "" || api.OIDCAudience != "" {
		m.Oidc = &models.APIOIDC{Issuer: api.OIDCIssuer, Audience: api.OIDCAudience}
	}
	if c := api.CORS; len(c.Origins)+len(c.Methods)+len(c.Headers) > 0 {
		m.Cors = &models.APICORS{Origins: c.Origins, Methods: c.Methods, Headers: c.Headers}
	}
	if rl := api.RateLimit; rl != nil {
		rps := rl.RPS
		m.RateLimit = &models.APIRateLimit{Rps: &rps, Burst: rl.Burst, Per: rl.Per}
	}
	if api.TLSCert != "" {
		m.TLS = &models.APITLS{Certificate: api.TLSCert}
		if leaf := parseLeaf(api.TLSCert); leaf != nil {
			m.TLS.NotAfter = dateTime(leaf.NotAfter)
			m.TLS.DNSNames = leaf.DNSNames
		}
	}
	return m
}

// orEmpty answers a list that is absent as [] ("any"), not null.
func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// parseLeaf returns the first certificate of a PEM chain, or nil.
func parseLeaf(chain string) *x509.Certificate {
	block, _ := pem.Decode([]byte(chain))
	if block == nil {
		return nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return c
}
