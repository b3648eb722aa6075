package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/restapi"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// MaxManagementBody is the largest request body the management API reads (413 above it).
const MaxManagementBody = 1 << 20

// Store is what the management API needs of persistence.
type Store interface {
	CreateApp(ctx context.Context, app store.App) (store.App, error)
	PutApp(ctx context.Context, app store.App, creator string, guard store.AppGuard) (store.App, bool, error)
	UpdateApp(ctx context.Context, name string, fn func(*store.App) error) (store.App, error)
	GetApp(ctx context.Context, name string) (store.App, error)
	ListApps(ctx context.Context, f store.AppFilter, page store.Page) ([]store.App, string, error)
	DeleteApp(ctx context.Context, name string, guard store.AppGuard) error
	AppOwner(name string) (string, error)
	AppsOwnedBy(owner string) map[string]string
	AppID(name string) (string, error)
	CountApps(owner string) (apps, routes int)

	CreateRoute(ctx context.Context, r store.Route, guard store.AppGuard) (store.Route, error)
	PutRoute(ctx context.Context, r store.Route, guard store.AppGuard) (store.Route, bool, error)
	UpdateRoute(ctx context.Context, app, path string, fn func(*store.Route) error, guard store.AppGuard) (store.Route, error)
	GetRoute(ctx context.Context, app, path string) (store.Route, error)
	ListRoutes(ctx context.Context, app string, page store.Page) ([]store.Route, string, error)
	DeleteRoute(ctx context.Context, app, path string, guard store.AppGuard) error

	MatchRoute(app, path string) (store.Route, store.Params, error)

	GetExecution(ctx context.Context, id string) (store.Execution, error)
	GetExecutionLog(ctx context.Context, id string) ([]byte, error)
	ListExecutions(ctx context.Context, f store.ExecutionFilter, page store.Page) ([]store.Execution, string, error)
	CountExecutions(ctx context.Context, f store.ExecutionCountFilter) (store.ExecutionCounts, error)

	LeaseTasksWithoutSecrets(ctx context.Context, n int, owner string, lease time.Duration) ([]store.Task, error)
	CompleteTask(ctx context.Context, id, owner string, ex store.Execution, log []byte) error
	RetryTask(ctx context.Context, id, owner string, delay time.Duration, reason string) error
	GetTask(ctx context.Context, id string) (store.Task, error)
	TaskStats(ctx context.Context) (store.TaskStats, error)
	TaskStatsOf(ctx context.Context, apps map[string]string) (store.TaskStats, error)

	CreateAPI(ctx context.Context, api store.API) (store.API, error)
	GetAPI(ctx context.Context, name string) (store.API, error)
	ListAPIs(ctx context.Context, f store.APIFilter, page store.Page) ([]store.API, string, error)
	UpdateAPI(ctx context.Context, name string, fn func(*store.API) error) (store.API, error)
	DeleteAPI(ctx context.Context, name string, guard store.AppGuard) error

	NewID() string
	CreateToken(ctx context.Context, t store.Token) (store.Token, error)
	GetToken(ctx context.Context, id string) (store.Token, error)
	ListTokens(ctx context.Context, f store.TokenFilter, page store.Page) ([]store.Token, string, error)
	DeleteToken(ctx context.Context, id string) (int, error)

	ListNodes(ctx context.Context, since time.Time) ([]store.NodeInfo, error)

	GetWorkflow(ctx context.Context, name string) (store.Workflow, error)
	ListWorkflows(ctx context.Context, f store.WorkflowFilter, page store.Page) ([]store.Workflow, string, error)
	GetRun(ctx context.Context, id string) (store.Run, error)
	ListRuns(ctx context.Context, f store.RunFilter, page store.Page) ([]store.Run, string, error)
	ListRunEvents(ctx context.Context, id string, after int64, limit int) ([]store.RunEvent, error)

	GetEvent(ctx context.Context, key string) (store.Event, error)
	ListEvents(ctx context.Context, f store.EventFilter, page store.Page) ([]store.Event, string, error)
	GetDelivery(ctx context.Context, id string) (store.Delivery, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter, page store.Page) ([]store.Delivery, string, error)

	CreateSubscription(ctx context.Context, s store.Subscription) (store.Subscription, error)
	UpdateSubscription(ctx context.Context, name string, fn func(*store.Subscription) error, guard store.AppGuard) (store.Subscription, error)
	GetSubscription(ctx context.Context, name string) (store.Subscription, error)
	ListSubscriptions(ctx context.Context, f store.SubscriptionFilter, page store.Page) ([]store.Subscription, string, error)
	DeleteSubscription(ctx context.Context, name string, guard store.AppGuard) error

	CreateSchedule(ctx context.Context, s store.Schedule) (store.Schedule, error)
	UpdateSchedule(ctx context.Context, name string, fn func(*store.Schedule) error, guard store.AppGuard) (store.Schedule, error)
	GetSchedule(ctx context.Context, name string) (store.Schedule, error)
	ListSchedules(ctx context.Context, f store.ScheduleFilter, page store.Page) ([]store.Schedule, string, error)
	DeleteSchedule(ctx context.Context, name string, guard store.AppGuard) error

	GetImage(ctx context.Context, name string) (store.Image, error)
	ListImages(ctx context.Context, f store.ImageFilter, page store.Page) ([]store.Image, string, error)
	GetImageLog(ctx context.Context, name string) ([]byte, error)
	ListAllRoutes(ctx context.Context, f store.RouteFilter, page store.Page) ([]store.Route, string, error)

	// Subscribe follows the store's changes (store.Changes): followers of a run's events
	// and log wake on its ChangeRun.
	Subscribe(fn func(store.Change)) (unsubscribe func())
}

// Functions is what the API needs of the invocation service (invoke.Service): function
// calls over HTTP (read and resolved by Prepare, admitted here, run and answered by
// Serve), cancels, and the checks of route writes (the image of a new route must exist,
// its network must be one its owner may use). A changed route's hot containers go on every
// node when the store's feed tells it (invoke.Service.Follow), this one included.
type Functions interface {
	Prepare(w http.ResponseWriter, r *http.Request, req invoke.Request, limits invoke.Limits) (*invoke.Call, error)
	Serve(w http.ResponseWriter, r *http.Request, call *invoke.Call)
	EnsureImage(ctx context.Context, ref string) error
	NetworkAllowed(owner, network string) error
	Cancel(ctx context.Context, id string) (store.Execution, error)
}

// Deps are what the API is built on.
type Deps struct {
	Store Store
	// Functions runs function calls. Without it (management-only tests) /r/ answers 503
	// and route images are not checked.
	Functions Functions
	// Workflows is the workflow engine. Without it, defining, running and cancelling
	// workflows answer 503; reading them and their runs works.
	Workflows Workflows
	// Secrets keeps function secrets and users' SSH keys. Without it the operations of
	// /v1/secrets, /v1/users/{user}/ssh-key and /waas's SSH keys answer 503, and so does a
	// route write that names secrets.
	Secrets Secrets
	// Events is the events service. Without it, publishing, redelivering and writing
	// subscriptions answer 503, and route writes publish no dev.gantry.route.changed;
	// reading events, deliveries and subscriptions works.
	Events Events
	// CheckSchedule checks schedule writes (schedule.Check). Without it, writing schedules
	// answers 503; reading them works.
	CheckSchedule CheckSchedule
	Version       string // reported by GET /v1/version
	Node          string // this node's ID, reported by GET /v1/version
	Log           *slog.Logger
	// Auth verifies credentials. Nil turns authentication off: every caller is an
	// anonymous admin, and routes' `auth: token` is not enforced.
	Auth Authenticator
	// Audit receives one line per mutating management request; nil for none.
	Audit *slog.Logger
	// CORSOrigins are the origins browsers may call the API from ("*" for any); none: no CORS.
	CORSOrigins []string
	// Metrics serves the Prometheus metrics at /metrics, to admins; nil: no /metrics.
	Metrics http.Handler
	// OIDCDefault tells that the server has an identity source, the default of APIs with
	// oidc authentication; without it they must name an issuer and audience.
	OIDCDefault bool
	// MaxOutput and MaxLog cap what external runners report, as the runner's own calls are
	// capped. Defaults 1 MiB and 256 KiB.
	MaxOutput, MaxLog int
	// Passwords runs the bcrypt hashing of the passwords of APIs' basic users, shared with
	// the gateway's checks; default: a pool of the API's own.
	Passwords *auth.PasswordPool
	// TLSKeys keeps the private keys of the APIs' certificates (the secret service). Nil:
	// API writes that bring a key answer 503.
	TLSKeys TLSKeys
	// Images is the images service. Without it, writing images answers 503 and so does
	// following a log; reading images and their logs works.
	Images Images
	// MaxImageUpload is the images service's upload limit: an upload whose Content-Length
	// is over it is answered 413 before a byte is read (the service bounds the others as
	// it reads them). 0: no early check.
	MaxImageUpload int64

	// hashPassword hashes a password to store; auth.HashPassword unless a test watches it.
	hashPassword func(password string) ([]byte, error)
}

// API implements every operation of swagger/swagger.yml. restapi.Config embeds one
// interface per tag, so an operation without a method here fails to compile.
type API struct {
	store     Store
	functions Functions
	workflows Workflows
	secrets   Secrets
	events    Events
	// checkSchedule is the scheduler's check of schedule writes.
	checkSchedule CheckSchedule
	version       string
	node          string
	log           *slog.Logger
	auth          Authenticator
	admit         *invoke.Admitter // the route's auth of /r/ calls, with auth
	audit         *slog.Logger
	corsOrigins   []string
	metrics       http.Handler
	oidcDefault   bool
	maxOutput     int
	maxLog        int
	// passwords bounds the bcrypt work of requests, one at a time per caller.
	passwords    *auth.PasswordPool
	hashPassword func(password string) ([]byte, error)
	tlsKeys      TLSKeys
	now          func() time.Time // the clock of node liveness; tests move it
	// keepAlive is the time between keep-alive comments of event streams; tests shorten it.
	keepAlive time.Duration
	maxRunLog int // MaxRunLog; tests lower it
	// waasLogBound bounds the entries of a run's /waas log (waasLogBounds); tests lower it.
	waasLogBound waasLogBounds
	// streamsEnd is closed by EndStreams: open streams and long polls end on it.
	streamsEnd     chan struct{}
	endStreamsOnce sync.Once
	// images is the images service (Deps.Images), maxImageUpload Deps.MaxImageUpload.
	images         Images
	maxImageUpload int64
	// ironFunctionsMaxList bounds the lists of the IronFunctions surface; 0:
	// IronFunctionsMaxList. Tests lower it.
	ironFunctionsMaxList int
}

// New returns the API over its dependencies.
func New(d Deps) *API {
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.MaxOutput <= 0 {
		d.MaxOutput = 1 << 20
	}
	if d.MaxLog <= 0 {
		d.MaxLog = 256 << 10
	}
	if d.Passwords == nil {
		d.Passwords = auth.NewPasswordPool(auth.PasswordPoolOptions{})
	}
	if d.hashPassword == nil {
		d.hashPassword = auth.HashPassword
	}
	return &API{passwords: d.Passwords, hashPassword: d.hashPassword, tlsKeys: d.TLSKeys, store: d.Store, functions: d.Functions, workflows: d.Workflows, secrets: d.Secrets, events: d.Events, checkSchedule: d.CheckSchedule, images: d.Images, maxImageUpload: d.MaxImageUpload, keepAlive: 15 * time.Second, maxRunLog: MaxRunLog, waasLogBound: defaultWaaSLogBounds, streamsEnd: make(chan struct{}), version: d.Version, node: d.Node, log: d.Log, auth: d.Auth, audit: d.Audit,
		now: time.Now, admit: invoke.NewAdmitter(d.Auth), corsOrigins: d.CORSOrigins, metrics: d.Metrics, oidcDefault: d.OIDCDefault, maxOutput: d.MaxOutput, maxLog: d.MaxLog}
}

// Handler returns everything Gantry serves over HTTP: the management API under /v1, the
// hpcwaas-api compatibility surface under /waas (waas.go), function calls under /r/, and a
// JSON 404 elsewhere. Paths are dispatched as they
// come, never cleaned or redirected.
func (a *API) Handler() (http.Handler, error) {
	public, err := loadPublicOperations()
	if err != nil {
		return nil, err
	}
	roles, err := loadOperationRoles()
	if err != nil {
		return nil, err
	}
	h, api, err := restapi.HandlerAPI(restapi.Config{
		ApisAPI:          a,
		AppsAPI:          a,
		AuthAPI:          a,
		EventsAPI:        a,
		ExecutionsAPI:    a,
		FunctionsAPI:     a,
		ImagesAPI:        a,
		MetaAPI:          a,
		NodesAPI:         a,
		RoutesAPI:        a,
		SchedulesAPI:     a,
		SecretsAPI:       a,
		SSHKeysAPI:       a,
		StatsAPI:         a,
		SubscriptionsAPI: a,
		TasksAPI:         a,
		WorkflowsAPI:     a,
		Logger: func(format string, args ...any) {
			if a.log.Enabled(context.Background(), slog.LevelDebug) {
				a.log.Debug(fmt.Sprintf(format, args...))
			}
		},
		JSONConsumer:        strictJSONConsumer(),
		APIKeyAuthenticator: principalAuthenticator,
	})
	if err != nil {
		return nil, fmt.Errorf("build management API: %w", err)
	}
	api.ServeError = a.serveError
	router := nestedRoutePaths(h)
	// Image uploads (tarballs, bounded by the images service) skip the JSON-only check and
	// the 1 MiB limit of every other management request.
	management := a.authenticate(public, roles, eventBodies(router, imageUploads(a.maxImageUpload, router, limitBody(MaxManagementBody, checkContentType(router)))))
	v1 := a.audited(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasDotSegment(r.URL.Path) { // the router would clean it and re-target the request
			a.WriteError(w, errInvalidField("path", fmt.Sprintf("path %s has a . or .. segment", r.URL.Path)))
			return
		}
		management.ServeHTTP(w, r)
	}))
	waas, err := a.waasHandler()
	if err != nil {
		return nil, err
	}
	spec := []byte(restapi.SwaggerJSON)
	return a.withCORS(a.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/v1/swagger.json":
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				httperr.Write(w, errMethodNotAllowed(r.Method, "GET, HEAD"))
				return
			}
			w.Header().Set("Content-Type", runtime.JSONMime)
			_, _ = w.Write(spec)
		case strings.HasPrefix(p, "/v1/"):
			v1.ServeHTTP(w, r)
		case p == waasBasePath || strings.HasPrefix(p, waasBasePath+"/"):
			waas.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/r/"):
			a.invoke(w, r)
		case p == "/metrics" && a.metrics != nil:
			a.serveMetrics(w, r)
		default:
			httperr.Write(w, errPathNotFound(p))
		}
	}))), nil
}

func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// strictJSONConsumer decodes one JSON value, rejecting unknown fields (a typo such as
// "timout" must not pass silently) and trailing data.
func strictJSONConsumer() runtime.Consumer {
	return runtime.ConsumerFunc(func(r io.Reader, v any) error {
		dec := json.NewDecoder(r)
		dec.UseNumber()
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				return &store.ValidationError{Field: strings.Trim(name, `"`), Message: err.Error()[len("json: "):]}
			}
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
	return limitBodyAnswering(max, httperr.Write, next)
}

// limitBodyAnswering is limitBody answering its error with write (the /waas error shape).
func limitBodyAnswering(max int64, write errorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			write(w, httperr.BodyTooLarge(max))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// checkContentType is the one check of a management request's Content-Type: a request
// with a body must send JSON (application/json, in UTF-8 if it names a charset), and one
// sent without Content-Type is read as JSON (clients such as `curl --data-binary @file`
// without -H). Anything else gets 415 here, before routing: wildcards such as */* or
// application/* (a request names what it sends, not a range), other types, other
// charsets and malformed values alike. The router, which would look a wildcard up among
// its consumers and find none, only ever sees application/json.
func checkContentType(next http.Handler) http.Handler {
	return checkContentTypeAnswering(httperr.Write, next)
}

// errorWriter answers an error of the HTTP edge in a surface's error shape: httperr.Write
// on /v1, writeWaaSError on /waas.
type errorWriter func(http.ResponseWriter, *httperr.Error)

// checkContentTypeAnswering is checkContentType answering its errors with write.
func checkContentTypeAnswering(write errorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 { // no body (a chunked one is -1): nothing is decoded
			next.ServeHTTP(w, r)
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			r.Header.Set("Content-Type", runtime.JSONMime)
			next.ServeHTTP(w, r)
			return
		}
		mediaType, params, err := mime.ParseMediaType(ct)
		if err != nil || mediaType != runtime.JSONMime {
			write(w, errUnsupportedMediaType(ct))
			return
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			write(w, errUnsupportedCharset(cs))
			return
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

// recoverPanics turns a panic (a bug) into a logged 500 with a generic message, with one
// exception: go-swagger's generated responders panic when writing the answer fails, which
// happens when the client went away (reset or closed its connection) mid-answer. That is
// the client's doing, not a bug: the panic whose value is the very error a write to this
// client returned is logged at debug level, and nothing more is written. Any other panic,
// even after a failed write, is still a bug.
func (a *API) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &clientWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			switch {
			case v == nil:
				return
			case v == http.ErrAbortHandler:
				panic(v)
			case cw.wentAway(v):
				a.log.Debug("the client went away before the answer was written", "method", r.Method, "path", r.URL.Path, "err", cw.err)
				return
			}
			a.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
			if p := r.URL.Path; p == waasBasePath || strings.HasPrefix(p, waasBasePath+"/") {
				writeWaaSError(cw, httperr.Internal())
				return
			}
			httperr.Write(cw, httperr.Internal())
		}()
		next.ServeHTTP(cw, r)
	})
}

// clientWriter remembers the first error of a write to the client: a connection the client
// reset or closed.
type clientWriter struct {
	http.ResponseWriter
	err error
}

func (w *clientWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flushes of streams).
func (w *clientWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wentAway tells whether a recovered panic value is the error a write to the client
// returned, as the generated responders panic with it.
func (w *clientWriter) wentAway(v any) bool {
	err, ok := v.(error)
	return ok && w.err != nil && errors.Is(err, w.err)
}
