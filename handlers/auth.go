package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/security"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi"
	"github.com/gantry-dev/gantry/store"
)

// Authenticator verifies the credentials of a request.
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Identity, error)
	// Recognizes tells, without verifying it, whether a credential header value holds one
	// of the credentials Authenticate takes, in any form (Bearer, Basic user or password,
	// another scheme, bare), so that it never reaches a function.
	Recognizes(authorization string) bool
}

type identityKey struct{}

// identity returns the caller's identity, set by authenticate before routing.
func identity(ctx context.Context) (auth.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(auth.Identity)
	return id, ok
}

// caller returns the identity of an operation's caller. Every operation that needs one is
// reached only through authenticate; an operation without one sees an identity with no
// rights (an empty developer), never an admin.
func caller(ctx context.Context) auth.Identity {
	id, _ := identity(ctx)
	return id
}

// authenticate checks credentials before routing: a /v1 request passes only with a valid
// identity, except the operations the spec declares public (`security: []`), and only to
// an operation the identity's role may call (roles: admins and developers any, other roles
// those the spec opens to them with x-gantry-roles; 403 otherwise). With authentication
// off (no Authenticator) every caller is auth.Anonymous, an admin. A request the web console
// makes in process for a session carries the session's identity (auth.Vouch) instead of
// credentials; roles are checked as for any other.
func (a *API) authenticate(public publicOperations, roles operationRoles, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.auth == nil {
			a.serveAs(w, r, auth.Anonymous, next)
			return
		}
		if id, ok := auth.Vouched(r.Context()); ok { // the console, in process, for a session
			if !roles.allows(id.Role, r.Method, r.URL.Path) {
				a.WriteError(w, auth.Forbidden("role %s may not call %s %s", id.Role, r.Method, r.URL.Path))
				return
			}
			a.serveAs(w, r, id, next)
			return
		}
		if public.match(r.Method, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		id, err := a.auth.Authenticate(r.Context(), r.Header.Get("Authorization"))
		if err == nil && !roles.allows(id.Role, r.Method, r.URL.Path) {
			err = auth.Forbidden("role %s may not call %s %s", id.Role, r.Method, r.URL.Path)
		}
		if err != nil {
			a.WriteError(w, err)
			return
		}
		a.serveAs(w, r, id, next)
	})
}

func (a *API) serveAs(w http.ResponseWriter, r *http.Request, id auth.Identity, next http.Handler) {
	if e := auditEntryOf(r.Context()); e != nil {
		e.who = id
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
}

// principalAuthenticator is the go-openapi authenticator of the spec's bearer scheme: the
// credentials were verified before routing, so it hands over the identity found then, as
// the spec's Principal. An operation the spec secures is thus refused (401) even if a path
// slipped past authenticate.
func principalAuthenticator(string, string, security.TokenAuthentication) runtime.Authenticator {
	return security.HTTPAuthenticator(func(r *http.Request) (bool, any, error) {
		id, ok := identity(r.Context())
		if !ok {
			return true, nil, auth.Unauthenticated("credentials are required: send Authorization: Bearer <token>")
		}
		return true, principalToModel(id), nil
	})
}

func principalToModel(id auth.Identity) *models.Principal {
	name, role, kind := id.Name, id.Role, id.Kind
	return &models.Principal{Name: &name, Role: &role, Kind: &kind, Groups: id.Groups, TokenID: id.TokenID}
}

// publicOperations are the operations of the spec with `security: []`, which need no
// credentials, as method + path templates under /v1.
type publicOperations []publicOperation

type publicOperation struct {
	method   string
	segments []string // "{x}" matches any one segment
}

// loadPublicOperations reads the spec's public operations once per process (the spec is
// compiled in; analysing it took a third of building a Handler). Never written after.
var loadPublicOperations = sync.OnceValues(publicOperationsOf)

func publicOperationsOf() (publicOperations, error) {
	doc, err := loads.Analyzed(restapi.SwaggerJSON, "")
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	an := doc.Analyzer
	var public publicOperations
	for method, byPath := range an.Operations() {
		for path, op := range byPath {
			if len(an.SecurityRequirementsFor(op)) == 0 {
				public = append(public, publicOperation{method: strings.ToUpper(method), segments: strings.Split(doc.BasePath()+path, "/")})
			}
		}
	}
	return public, nil
}

func (p publicOperations) match(method, path string) bool {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	segs := strings.Split(path, "/")
	for _, op := range p {
		if op.method == method && matchSegments(op.segments, segs) {
			return true
		}
	}
	return false
}

func matchSegments(template, segs []string) bool {
	if len(template) != len(segs) {
		return false
	}
	for i, t := range template {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if segs[i] == "" {
				return false
			}
		} else if t != segs[i] {
			return false
		}
	}
	return true
}

// ---- authorization ----

// mayUse tells whether id may see and change the apps (and workflows) of owner. An end
// user (role user) owns nothing, whatever its name.
func mayUse(id auth.Identity, owner string) bool {
	return id.IsAdmin() || (id.Role != auth.RoleUser && id.Name != "" && id.Name == owner)
}

// ownerGuard answers a resource the caller may not use (another owner's) with notFound, the
// answer for a resource that does not exist, so names do not leak. The store runs it inside
// its write transactions, so the owner cannot change between the check and the write.
func ownerGuard(ctx context.Context, notFound error) store.AppGuard {
	who := caller(ctx)
	return func(owner string) error {
		if !mayUse(who, owner) {
			return notFound
		}
		return nil
	}
}

// appGuard is the ownership check of an app.
func appGuard(ctx context.Context, app string) store.AppGuard {
	return ownerGuard(ctx, store.NotFound("app", app))
}

// checkApp answers nil when the caller may use app, or the error to answer: not found when
// the app does not exist or belongs to someone else.
func (a *API) checkApp(ctx context.Context, app string) error {
	owner, err := a.store.AppOwner(app)
	if err != nil {
		return err
	}
	return appGuard(ctx, app)(owner)
}

// requireAdmin answers nil for an admin, or the 403 to answer.
func requireAdmin(ctx context.Context, what string) error {
	if !caller(ctx).IsAdmin() {
		return auth.Forbidden("%s needs the admin role", what)
	}
	return nil
}

// serveMetrics serves /metrics to admins (Prometheus sends a bearer token: its
// authorization.credentials_file), or to anyone with authentication off.
func (a *API) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if a.auth != nil {
		id, err := a.auth.Authenticate(r.Context(), r.Header.Get("Authorization"))
		if err == nil && !id.IsAdmin() {
			err = auth.Forbidden("metrics are for admins")
		}
		if err != nil {
			a.WriteError(w, err)
			return
		}
	}
	a.metrics.ServeHTTP(w, r)
}
