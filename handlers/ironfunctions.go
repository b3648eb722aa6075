package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/security"

	"github.com/gantry-dev/gantry/auth"
	ifmodels "github.com/gantry-dev/gantry/gen/ironfunctions/models"
	ifrestapi "github.com/gantry-dev/gantry/gen/ironfunctions/restapi"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
)

// The IronFunctions surface (swagger/ironfunctions.yml): the IronFunctions v1 API as its
// 0.1.29 clients (`fn`, functions_go) speak it, served on a listener of its own
// (IronFunctionsHandler) over the same store and services as /v1: the same authentication
// (Bearer; anonymous only without an Authenticator), the same ownership rules (others' apps
// are not found), the same checks of route writes, the one error mapping, whose error shape
// IronFunctions shares. What differs is IronFunctions': 200 on creates, {"message"} on
// deletes, complete lists, route creates that make the missing app, merging PUTs.

// IronFunctionsMaxList is the most items a list of the IronFunctions surface answers; a
// longer list answers 400 (its clients never page).
const IronFunctionsMaxList = 10_000

// errDeleteAppWithRoutes is IronFunctions' answer to deleting an app that has routes
// (400, as its server answered).
func errDeleteAppWithRoutes(app string) error {
	return errInvalidField("app", fmt.Sprintf("cannot remove app %q: it has routes; delete them first", app))
}

// IronFunctions implements the operations of swagger/ironfunctions.yml
// (gen/ironfunctions/restapi's AppsAPI and RoutesAPI) over the API's services; an operation
// without a method here fails to compile.
type IronFunctions struct {
	a *API
}

// loadIronFunctionsRoles reads the roles of ironfunctions.yml once per process, as loadWaaSRoles.
var loadIronFunctionsRoles = sync.OnceValues(func() (operationRoles, error) { return operationRolesOf(ifrestapi.SwaggerJSON) })

// IronFunctionsHandler returns what the --ironfunctions-addr listener serves: the
// IronFunctions v1 API under /v1 (credentials checked before routing as on Gantry's /v1,
// bodies capped and JSON only, unknown fields refused but for the spec's allowlisted
// ones), GET /version at the root, function calls under /r/ (the main listener's), and a
// JSON 404 elsewhere.
func (a *API) IronFunctionsHandler() (http.Handler, error) {
	roles, err := loadIronFunctionsRoles()
	if err != nil {
		return nil, err
	}
	s := &IronFunctions{a: a}
	h, api, err := ifrestapi.HandlerAPI(ifrestapi.Config{
		AppsAPI:   s,
		RoutesAPI: s,
		Logger: func(format string, args ...any) {
			if a.log.Enabled(context.Background(), slog.LevelDebug) {
				a.log.Debug(fmt.Sprintf(format, args...))
			}
		},
		// The spec's models hold the fields IronFunctions' clients send and Gantry ignores
		// (app_name, jwt_key, message, error): the strict consumer takes them, and refuses
		// any other unknown field.
		JSONConsumer: strictJSONConsumer(),
		AuthBearer: func(string) (*ifmodels.Principal, error) { // never called: the authenticator below replaces go-openapi's
			return nil, auth.Unauthenticated("credentials are required: send Authorization: Bearer <token>")
		},
		APIKeyAuthenticator: func(string, string, security.TokenAuthentication) runtime.Authenticator {
			return ironFunctionsPrincipalAuthenticator()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("build the IronFunctions API: %w", err)
	}
	api.ServeError = a.serveError
	management := a.authenticate(nil, roles, limitBody(MaxManagementBody, checkContentType(nestedRoutePaths(h))))
	v1 := a.audited(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasDotSegment(r.URL.Path) { // the router would clean it and re-target the request
			a.WriteError(w, errInvalidField("path", fmt.Sprintf("path %s has a . or .. segment", r.URL.Path)))
			return
		}
		management.ServeHTTP(w, r)
	}))
	return a.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/version":
			a.ironFunctionsVersion(w, r)
		case strings.HasPrefix(p, "/v1/"):
			v1.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/r/"):
			a.invoke(w, r)
		default:
			httperr.Write(w, errPathNotFound(p))
		}
	})), nil
}

// ironFunctionsVersion answers GET /version, IronFunctions' {"version"}: Gantry's version.
// Public, as Gantry's /v1/version is.
func (a *API) ironFunctionsVersion(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		httperr.Write(w, errMethodNotAllowed(r.Method, "GET, HEAD"))
		return
	}
	w.Header().Set("Content-Type", runtime.JSONMime)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(&ifmodels.Version{Version: a.version})
}

// ironFunctionsPrincipalAuthenticator is the go-openapi authenticator of the spec's bearer
// scheme: the credentials were verified before routing (authenticate), so it hands over the
// identity found then, as the surface's Principal.
func ironFunctionsPrincipalAuthenticator() runtime.Authenticator {
	return security.HTTPAuthenticator(func(r *http.Request) (bool, any, error) {
		id, ok := identity(r.Context())
		if !ok {
			return true, nil, auth.Unauthenticated("credentials are required: send Authorization: Bearer <token>")
		}
		name, role, kind := id.Name, id.Role, id.Kind
		return true, &ifmodels.Principal{Name: &name, Role: &role, Kind: &kind, Groups: id.Groups, TokenID: id.TokenID}, nil
	})
}

// ---- conversions ----

func appToIF(a store.App) *ifmodels.App { return &ifmodels.App{Name: a.Name, Config: a.Config} }

func routeToIF(r store.Route) *ifmodels.Route {
	maxc := r.MaxConcurrency
	if maxc > math.MaxInt32 {
		maxc = math.MaxInt32
	}
	return &ifmodels.Route{
		AppName:        r.App,
		Path:           r.Path,
		Image:          r.Image,
		Memory:         r.MemoryMiB,
		Type:           r.Type,
		Format:         r.Format,
		MaxConcurrency: int32(maxc), // #nosec G115 -- bounded above
		Timeout:        r.Timeout,
		IdleTimeout:    r.IdleTimeout,
		Headers:        r.Headers,
		Config:         r.Config,
	}
}

// routeFromIF is the IronFunctions route as /v1's route model, for /v1's checks and
// conversions: zero numbers are absent (IronFunctions' clients omit them). app_name is
// ignored; a jwt_key and the hot formats are refused before (unsupported).
func routeFromIF(m *ifmodels.Route) *models.Route {
	out := &models.Route{Path: m.Path, Image: m.Image, Type: m.Type, Format: m.Format, Headers: m.Headers, Config: models.Config(m.Config)}
	if m.Memory != 0 {
		out.Memory = &m.Memory
	}
	if m.MaxConcurrency != 0 {
		v := int64(m.MaxConcurrency)
		out.MaxConcurrency = &v
	}
	if m.Timeout != 0 {
		out.Timeout = &m.Timeout
	}
	if m.IdleTimeout != 0 {
		out.IdleTimeout = &m.IdleTimeout
	}
	return out
}

func message(text string) *ifmodels.Message { return &ifmodels.Message{Message: text} }

// listAll reads every page of a list, failing with 400 beyond the surface's maximum.
func listAll[T any](ctx context.Context, max int, what string, list func(store.Page) ([]T, string, error)) ([]T, error) {
	var out []T
	p := store.Page{Limit: store.MaxPageSize}
	for {
		items, next, err := list(p)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(out) > max {
			return nil, errInvalidField(what, fmt.Sprintf("more than %d %s: this API answers %d at most; page through Gantry's /v1 API (per_page, cursor)", max, what, max))
		}
		if next == "" || ctx.Err() != nil {
			return out, ctx.Err()
		}
		p.Cursor = next
	}
}

func (s *IronFunctions) maxList() int {
	if s.a.ironFunctionsMaxList > 0 {
		return s.a.ironFunctionsMaxList
	}
	return IronFunctionsMaxList
}

// appMissing tells whether app does not exist (nil error), or the error of finding out.
func (s *IronFunctions) appMissing(app string) (bool, error) {
	_, err := s.a.store.AppOwner(app)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	return false, err
}
