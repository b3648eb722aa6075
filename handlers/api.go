package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-openapi/runtime"

	"github.com/gantry-dev/gantry/gen/restapi"
	"github.com/gantry-dev/gantry/store"
)

// MaxManagementBody is the largest request body the management API reads (413 above it).
const MaxManagementBody = 1 << 20

// Store is what the management API needs of persistence.
type Store interface {
	CreateApp(ctx context.Context, app store.App) (store.App, error)
	PutApp(ctx context.Context, app store.App) (store.App, bool, error)
	UpdateApp(ctx context.Context, name string, fn func(*store.App) error) (store.App, error)
	GetApp(ctx context.Context, name string) (store.App, error)
	ListApps(ctx context.Context, page store.Page) ([]store.App, string, error)
	DeleteApp(ctx context.Context, name string) error

	CreateRoute(ctx context.Context, r store.Route) (store.Route, error)
	PutRoute(ctx context.Context, r store.Route) (store.Route, bool, error)
	UpdateRoute(ctx context.Context, app, path string, fn func(*store.Route) error) (store.Route, error)
	GetRoute(ctx context.Context, app, path string) (store.Route, error)
	ListRoutes(ctx context.Context, app string, page store.Page) ([]store.Route, string, error)
	DeleteRoute(ctx context.Context, app, path string) error
}

// API implements every operation of swagger/swagger.yml. restapi.Config embeds one
// interface per tag, so an operation without a method here fails to compile.
type API struct {
	store   Store
	version string
	log     *slog.Logger
}

// New returns the API over a store. version is reported by GET /v1/version.
func New(s Store, version string, log *slog.Logger) *API {
	return &API{store: s, version: version, log: log}
}

// Handler returns everything Gantry serves over HTTP: the management API under /v1
// and a JSON 404 elsewhere.
func (a *API) Handler() (http.Handler, error) {
	h, api, err := restapi.HandlerAPI(restapi.Config{
		AppsAPI:      a,
		MetaAPI:      a,
		RoutesAPI:    a,
		Logger:       func(format string, args ...any) { a.log.Debug(fmt.Sprintf(format, args...)) },
		JSONConsumer: strictJSONConsumer(),
	})
	if err != nil {
		return nil, fmt.Errorf("build management API: %w", err)
	}
	api.ServeError = a.serveError
	mux := http.NewServeMux()
	mux.Handle("GET /v1/swagger.json", serveSpec())
	mux.Handle("/v1/", limitBody(MaxManagementBody, defaultJSON(nestedRoutePaths(h))))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, message: fmt.Sprintf("path %s was not found", r.URL.Path)})
	}))
	return a.recoverPanics(mux), nil
}

// serveSpec answers the API contract as JSON at /v1/swagger.json.
func serveSpec() http.Handler {
	spec := []byte(restapi.SwaggerJSON)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", runtime.JSONMime)
		_, _ = w.Write(spec)
	})
}

// strictJSONConsumer decodes one JSON value, rejecting unknown fields (a typo such as
// "timout" must not pass silently) and trailing data.
func strictJSONConsumer() runtime.Consumer {
	return runtime.ConsumerFunc(func(r io.Reader, v any) error {
		dec := json.NewDecoder(r)
		dec.UseNumber()
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return err
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return errors.New("unexpected data after the JSON value")
		}
		return nil
	})
}

// limitBody answers 413 to bodies over max; the JSON consumer sees http.MaxBytesError
// for streamed bodies that grow past it, and serveError maps that to 413 too.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, message: tooLargeMessage(max), fields: "body"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

func tooLargeMessage(max int64) string {
	return fmt.Sprintf("request body is larger than %d bytes", max)
}

// defaultJSON treats a body sent without Content-Type as JSON, so `curl -d` works;
// an explicit other type still gets 415.
func defaultJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") == "" && r.ContentLength != 0 && r.Method != http.MethodGet {
			r.Header.Set("Content-Type", runtime.JSONMime)
		}
		next.ServeHTTP(w, r)
	})
}

// nestedRoutePaths lets /v1/apps/{app}/routes/{route} address multi-segment routes:
// the segments after /routes/ are joined into one path parameter by escaping their
// slashes, so /v1/apps/a/routes/hello/world names route /hello/world.
func nestedRoutePaths(next http.Handler) http.Handler {
	const appsPrefix, routesSep = "/v1/apps/", "/routes/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := r.URL.EscapedPath()
		rest, ok := strings.CutPrefix(ep, appsPrefix)
		if ok {
			app, tail, found := strings.Cut(rest, routesSep)
			if found && app != "" && !strings.Contains(app, "/") && strings.Contains(tail, "/") {
				raw := appsPrefix + app + routesSep + strings.ReplaceAll(tail, "/", "%2F")
				if p, err := url.PathUnescape(raw); err == nil {
					r2 := r.Clone(r.Context())
					r2.URL.RawPath, r2.URL.Path = raw, p
					r = r2
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic (a bug) into a logged 500 with a generic message.
func (a *API) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, internalError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
