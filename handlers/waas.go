package handlers

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/runtime/security"

	"github.com/gantry-dev/gantry/auth"
	waasmodels "github.com/gantry-dev/gantry/gen/waas/models"
	waasrestapi "github.com/gantry-dev/gantry/gen/waas/restapi"
	"github.com/gantry-dev/gantry/httperr"
)

// The /waas surface (swagger/waas.yml, swagger/WAAS.md): the hpcwaas-api workflow REST API,
// served unwrapped and exactly so that its `waas` client works against
// `--api_url https://HOST/waas`, over the same services as /v1 (workflow_access.go,
// ssh_keys.go): the same authentication, the same access rules (others' workflows, runs and
// SSH keys are not found), the same trigger, cancel and wait, the same SSH keys, and the
// one error mapping (httperr), written in that API's error shape (waas_errors.go).

// waasBasePath is where the surface is served (waas.yml's basePath).
const waasBasePath = "/waas"

// WaaS implements the operations of swagger/waas.yml (gen/waas/restapi's WorkflowsAPI,
// ExecutionsAPI and SSHKeysAPI) over the API's services; an operation without a method
// here fails to compile.
type WaaS struct {
	a *API
}

// waasHandler returns the /waas surface: credentials are checked before routing, as on
// /v1 (Bearer, or Basic with the token as the password), bodies are capped as on /v1, a
// body without Content-Type is read as JSON (the client never sends one), and every error,
// go-openapi's own included, comes out as {"errors":[...]}.
func (a *API) waasHandler() (http.Handler, error) {
	roles, err := loadWaaSRoles()
	if err != nil {
		return nil, err
	}
	s := &WaaS{a: a}
	refuse := func() (*waasmodels.Principal, error) { // never called: the authenticators below replace go-openapi's
		return nil, auth.Unauthenticated("credentials are required: send Authorization: Bearer <token>")
	}
	h, api, err := waasrestapi.HandlerAPI(waasrestapi.Config{
		WorkflowsAPI:  s,
		ExecutionsAPI: s,
		SSHKeysAPI:    s,
		Logger: func(format string, args ...any) {
			if a.log.Enabled(context.Background(), slog.LevelDebug) {
				a.log.Debug(fmt.Sprintf(format, args...))
			}
		},
		AuthBearer: func(string) (*waasmodels.Principal, error) { return refuse() },
		AuthBasic:  func(string, string) (*waasmodels.Principal, error) { return refuse() },
		APIKeyAuthenticator: func(string, string, security.TokenAuthentication) runtime.Authenticator {
			return waasPrincipalAuthenticator()
		},
		BasicAuthenticator: func(security.UserPassAuthentication) runtime.Authenticator {
			return waasPrincipalAuthenticator()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("build the /waas API: %w", err)
	}
	api.ServeError = func(w http.ResponseWriter, _ *http.Request, err error) { writeWaaSError(w, a.openAPIError(err)) }
	inner := a.waasAuthenticate(roles, limitBodyAnswering(MaxManagementBody, writeWaaSError, checkContentTypeAnswering(writeWaaSError, h)))
	return a.audited(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasDotSegment(r.URL.Path) { // the router would clean it and re-target the request
			writeWaaSError(w, a.httpError(errInvalidField("path", fmt.Sprintf("path %s has a . or .. segment", r.URL.Path))))
			return
		}
		inner.ServeHTTP(w, r)
	})), nil
}

// waasAuthenticate checks credentials before routing, as authenticate does for /v1, with
// two differences: HTTP Basic carries the token as its password (waasCredentials), and
// errors come out in the /waas shape. Every /waas operation needs credentials.
func (a *API) waasAuthenticate(roles operationRoles, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.auth == nil {
			a.serveAs(w, r, auth.Anonymous, next)
			return
		}
		id, err := a.auth.Authenticate(r.Context(), waasCredentials(r.Header.Get("Authorization")))
		if err == nil && !roles.allows(id.Role, r.Method, r.URL.Path) {
			err = auth.Forbidden("role %s may not call %s %s", id.Role, r.Method, r.URL.Path)
		}
		if err != nil {
			writeWaaSError(w, a.httpError(err))
			return
		}
		a.serveAs(w, r, id, next)
	})
}

// waasCredentials turns `Authorization: Basic base64(user:token)` into `Bearer token`, for
// the Authenticator, which takes Bearer only: the password is the token (a Gantry API token
// or an OIDC token), the user name is ignored; with an empty password the user name is
// taken (`waas --user <token>`). Anything else passes unchanged, so a Basic value that is
// not base64 fails as any non-Bearer value does.
func waasCredentials(authorization string) string {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return authorization
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return authorization
	}
	user, password, _ := strings.Cut(string(raw), ":")
	if password == "" {
		password = user
	}
	if password == "" {
		return authorization
	}
	return "Bearer " + password
}

// waasPrincipalAuthenticator is the go-openapi authenticator of both of waas.yml's schemes:
// the credentials were verified before routing (waasAuthenticate), so it hands over the
// identity found then, as the surface's Principal.
func waasPrincipalAuthenticator() runtime.Authenticator {
	return security.HTTPAuthenticator(func(r *http.Request) (bool, any, error) {
		id, ok := identity(r.Context())
		if !ok {
			return true, nil, auth.Unauthenticated("credentials are required: send Authorization: Bearer <token>")
		}
		name, role, kind := id.Name, id.Role, id.Kind
		return true, &waasmodels.Principal{Name: &name, Role: &role, Kind: &kind, Groups: id.Groups, TokenID: id.TokenID}, nil
	})
}

// httpError is the answer to err through the one mapping.
func (a *API) httpError(err error) *httperr.Error { return httperr.From(a.log, err) }

// emptyAnswer answers with a generated body-less response (201, 202), stating
// Content-Length: 0 as the client's upstream does.
func emptyAnswer(r middleware.Responder) middleware.Responder {
	return middleware.ResponderFunc(func(w http.ResponseWriter, p runtime.Producer) {
		w.Header().Set("Content-Length", "0")
		r.WriteResponse(w, p)
	})
}
