package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/spec"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/gen/restapi"
	"github.com/gantry-dev/gantry/images"
	"github.com/gantry-dev/gantry/schedule"
	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// authFixture is an API with authentication on, over a real bbolt store, and the secrets
// of its tokens.
type authFixture struct {
	h        http.Handler
	api      *API
	s        *bolt.DB
	admin    string // secret of an admin token
	alice    string // developer
	bob      string // developer
	expired  string // developer token past its expiry
	revoked  string // developer token deleted after it was made
	wrong    string // the ID of alice's token with another secret
	audit    *syncBuffer
	log      *syncBuffer
	aliceTok string // ID of alice's token
	dir      string // the store's directory
	// secrets is the secret service of the API (the embedded backend over s): its Secrets
	// and its TLSKeys.
	secrets *secrets.Service
	// events is the events service of the API, started, over s.
	events *events.Service
	// images is the images service of the API, started, over s and the real Docker daemon;
	// imagesLog its log.
	images    *images.Service
	imagesLog *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newAuthFixture(t testing.TB, cors ...string) *authFixture {
	t.Helper()
	return newAuthFixtureWith(t, nil, cors...)
}

// newAuthFixtureWith is newAuthFixture with its Deps changed by mod.
func newAuthFixtureWith(t testing.TB, mod func(*Deps), cors ...string) *authFixture {
	t.Helper()
	dir := t.TempDir()
	s, err := bolt.Open(context.Background(), dir, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &authFixture{s: s, dir: dir, audit: &syncBuffer{}, log: &syncBuffer{}}
	f.admin, _ = makeToken(t, s, "admin", auth.RoleAdmin, nil)
	f.alice, f.aliceTok = makeToken(t, s, "alice", auth.RoleDeveloper, nil)
	f.bob, _ = makeToken(t, s, "bob", auth.RoleDeveloper, nil)
	past := time.Now().Add(-time.Minute)
	f.expired, _ = makeToken(t, s, "carol", auth.RoleDeveloper, &past)
	var revokedID string
	f.revoked, revokedID = makeToken(t, s, "dave", auth.RoleDeveloper, nil)
	if _, err := s.DeleteToken(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewSecret(f.aliceTok)
	f.wrong = other
	f.secrets = newTestSecrets(t, s, nil)
	engine := idleEngine(s)
	f.events = startEvents(t, s, engine)
	f.images, f.imagesLog = startImages(t, s, filepath.Join(dir, "uploads"))
	d := Deps{
		Store: s, Version: "test", Auth: auth.NewAuthenticator(s, nil), CORSOrigins: cors,
		Audit:         slog.New(slog.NewJSONHandler(f.audit, nil)),
		Log:           slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Workflows:     engine,
		Secrets:       f.secrets,
		TLSKeys:       f.secrets,
		Events:        f.events,
		CheckSchedule: schedule.Check,
		Images:        f.images,
	}
	if mod != nil {
		mod(&d)
	}
	f.api = New(d)
	f.h, err = f.api.Handler()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func makeToken(t testing.TB, s *bolt.DB, user, role string, expires *time.Time) (secret, id string) {
	t.Helper()
	id = s.NewID()
	secret, hash := auth.NewSecret(id)
	if _, err := s.CreateToken(context.Background(), store.Token{ID: id, Name: user + "'s token", User: user, Role: role, Hash: hash, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return secret, id
}

// as sends a request with a bearer token ("" for none).
func (f *authFixture) as(t testing.TB, token, method, path, body string) response {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		if isImageUpload(req) { // a tarball
			req.Header.Set("Content-Type", "application/octet-stream")
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return serve(t, f.h, req)
}

// publish publishes a structured event with a bearer token.
func (f *authFixture) publish(t testing.TB, token, event string) response {
	t.Helper()
	req := httptest.NewRequest("POST", "/v1/events", strings.NewReader(event))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("Authorization", "Bearer "+token)
	return serve(t, f.h, req)
}

// specOperation is one operation of swagger.yml, with a request that reaches it.
type specOperation struct {
	id, method, path string // path under /v1 with its parameters filled in
	public           bool
	hasBody          bool
	template         string
	// list: a GET whose answer holds an array (a page of a resource, leased tasks).
	list bool
	// most asks for the most an operation gives: each integer query parameter at its
	// maximum ("per_page=100").
	most []string
}

// specOperations lists every operation of the spec, so that a new one is covered by the
// tests below the moment it is added.
func specOperations(t testing.TB, fill map[string]string) []specOperation {
	t.Helper()
	doc, err := loads.Analyzed(restapi.SwaggerJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	an := doc.Analyzer
	var ops []specOperation
	for method, byPath := range an.Operations() {
		for path, op := range byPath {
			o := specOperation{id: op.ID, method: strings.ToUpper(method), template: path, public: len(an.SecurityRequirementsFor(op)) == 0}
			url := path
			var query []string
			for _, p := range an.ParamsFor(method, path) {
				switch p.In {
				case "path":
					v, ok := fill[p.Name]
					if !ok {
						t.Fatalf("%s: no test value for path parameter %q: add one", op.ID, p.Name)
					}
					url = strings.ReplaceAll(url, "{"+p.Name+"}", v)
				case "query":
					if p.Required {
						query = append(query, p.Name+"="+exampleValue(p))
					}
					if p.Type == "integer" && p.Maximum != nil {
						o.most = append(o.most, fmt.Sprintf("%s=%d", p.Name, int64(*p.Maximum)))
					}
				case "body":
					o.hasBody = true
				}
			}
			o.list = o.method == http.MethodGet && answersArray(doc, op)
			o.path = doc.BasePath() + url
			if len(query) > 0 {
				o.path += "?" + strings.Join(query, "&")
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	if len(ops) < 30 {
		t.Fatalf("only %d operations found in the spec", len(ops))
	}
	return ops
}

// answersArray tells whether an operation's 200 answer is a wrapper holding an array.
func answersArray(doc *loads.Document, op *spec.Operation) bool {
	if op.Responses == nil {
		return false
	}
	ok, found := op.Responses.StatusCodeResponses[http.StatusOK]
	if !found || ok.Schema == nil {
		return false
	}
	schema := ok.Schema
	if ref := schema.Ref.String(); ref != "" {
		def, found := doc.Spec().Definitions[strings.TrimPrefix(ref, "#/definitions/")]
		if !found {
			return false
		}
		schema = &def
	}
	for _, p := range schema.Properties {
		if p.Type.Contains("array") {
			return true
		}
	}
	return false
}

func exampleValue(p spec.Parameter) string {
	if p.Type == "integer" {
		return "1"
	}
	return "r1"
}

// validBodies hold a valid body for every operation that takes one, so that a request is
// refused for who sends it, not for what it sends.
var validBodies = map[string]string{
	"createApp":          `{"app":{"name":"made-by-test"}}`,
	"putApp":             `{"app":{}}`,
	"patchApp":           `{"app":{}}`,
	"createRoute":        `{"route":{"path":"/made","image":"img"}}`,
	"putRoute":           `{"route":{"image":"img"}}`,
	"patchRoute":         `{"route":{}}`,
	"reportTaskResult":   `{"runner":"r1","status":"SUCCESS"}`,
	"createToken":        `{"token":{"name":"made-by-test"}}`,
	"createApi":          `{"api":{"name":"made-by-test","function":{"app":"x","route":"/y"},"uris":["/made-by-test"]}}`,
	"patchApi":           `{"api":{"enabled":false}}`,
	"putWorkflow":        `{"workflow":{"steps":[{"name":"nap","sleep":"1s"}]}}`,
	"triggerWorkflow":    `{"inputs":{}}`,
	"createSecret":       `{"secret":{"name":"made-by-test","data":{"k":"v"}}}`,
	"putSecret":          `{"secret":{"data":{"k":"v"}}}`,
	"createSSHKey":       `{}`,
	"publishEvent":       `{"specversion":"1.0","id":"e1","source":"/test","type":"com.example.made"}`,
	"createSubscription": `{"subscription":{"name":"made-by-test","filter":{"type":"com.example.*"},"target":{"function":{"app":"made-by-test","path":"/made"}}}}`,
	"patchSubscription":  `{"subscription":{"enabled":false}}`,
	"createSchedule":     `{"schedule":{"name":"made-by-test","cron":"@hourly","target":{"event":{"type":"com.example.tick"}}}}`,
	"patchSchedule":      `{"schedule":{"enabled":false}}`,
	"createImage":        `{"image":{"name":"made-by-test","reference":"gantry-test/made-by-test:none"}}`,
	"uploadImage":        string(tarOf(map[string]string{"Dockerfile": "FROM scratch\nCOPY hello.txt /\n", "hello.txt": "hello\n"})),
}

func body(t testing.TB, o specOperation) string {
	t.Helper()
	if !o.hasBody {
		return ""
	}
	b, ok := validBodies[o.id]
	if !ok {
		t.Fatalf("%s takes a body: add a valid one to validBodies", o.id)
	}
	return b
}

// TestEveryOperationNeedsCredentials walks every operation of the spec: without credentials,
// or with bad ones, each answers 401 in the Error model before anything runs; only the
// operations the spec declares public answer.
func TestEveryOperationNeedsCredentials(t *testing.T) {
	f := newAuthFixture(t)
	ops := specOperations(t, map[string]string{"app": "shop", "route": "hello", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "api": "shop-api", "name": "flow", "user_id": "alice", "key": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
	creds := map[string]string{
		"none":            "",
		"garbage":         "not-a-token",
		"unknown token":   "gantry_01ARZ3NDEKTSV4RRFFQ69G5FAV_" + strings.Repeat("A", 43),
		"wrong secret":    f.wrong,
		"expired token":   f.expired,
		"revoked token":   f.revoked,
		"truncated token": f.alice[:len(f.alice)-1],
		"jwt-shaped":      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
	}
	public := 0
	for _, o := range ops {
		for name, cred := range creds {
			res := f.as(t, cred, o.method, o.path, body(t, o))
			if o.public {
				if res.status != http.StatusOK {
					t.Errorf("%s (public) with %s credentials: %d %s", o.id, name, res.status, res.raw)
				}
				continue
			}
			if res.status != http.StatusUnauthorized {
				t.Errorf("%s %s %s with %s credentials: %d, want 401; body %s", o.id, o.method, o.path, name, res.status, res.raw)
				continue
			}
			if msg, _ := get(res.body, "error", "message").(string); msg == "" {
				t.Errorf("%s: 401 without an error message: %s", o.id, res.raw)
			}
			if res.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", o.id)
			}
		}
		if o.public {
			public++
		}
	}
	if public != 1 {
		t.Errorf("%d public operations, want 1 (getVersion)", public)
	}
	// A basic-auth header is not a bearer token, whatever it holds.
	req := httptest.NewRequest("GET", "/v1/apps", nil)
	req.Header.Set("Authorization", "Basic "+f.admin)
	expect(t, serve(t, f.h, req), 401)
	// Nothing was created by the refused requests.
	res := f.as(t, f.admin, "GET", "/v1/apps", "")
	expect(t, res, 200)
	if n := len(get(res.body, "apps").([]any)); n != 0 {
		t.Fatalf("refused requests created %d apps", n)
	}
	res = f.as(t, f.admin, "GET", "/v1/secrets", "")
	expect(t, res, 200)
	if n := len(get(res.body, "secrets").([]any)); n != 0 {
		t.Fatalf("refused requests created %d secrets", n)
	}
	expect(t, f.as(t, f.admin, "GET", "/v1/users/alice/ssh-key", ""), 404)
	// Nor did any of them leak a secret or a 500 into the log.
	for _, secret := range []string{f.wrong, f.expired, f.revoked, f.alice, f.admin} {
		if strings.Contains(f.log.String(), secret) || strings.Contains(f.audit.String(), secret) {
			t.Fatal("a token secret appears in the logs")
		}
	}
	if strings.Contains(f.log.String(), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", f.log.String())
	}
}

// TestDeveloperCannotReachOthersResources walks every operation as bob against alice's app,
// execution and token: each is 404 (as if they did not exist) or, for admin-only
// operations, 403 — never a success, so a new operation cannot forget the check.
func TestDeveloperCannotReachOthersResources(t *testing.T) {
	f := newAuthFixture(t)
	ctx := context.Background()
	expect(t, f.as(t, f.alice, "POST", "/v1/apps", `{"app":{"name":"alices"}}`), 201)
	if _, err := f.s.CreateRoute(ctx, store.Route{App: "alices", Path: "/hello", Image: "img"}, nil); err != nil {
		t.Fatal(err)
	}
	exID := f.s.NewID()
	now := time.Now()
	appID, _ := f.s.AppID("alices")
	f.s.RecordExecution(store.Execution{ID: exID, App: "alices", AppID: appID, Route: "/hello", Type: store.TypeSync, Status: store.StatusSuccess,
		CreatedAt: now, StartedAt: now, CompletedAt: now}, []byte("alice's log"))

	expect(t, f.as(t, f.alice, "POST", "/v1/apis", `{"api":{"name":"alices-api","function":{"app":"alices","route":"/hello"},"uris":["/a"]}}`), 201)
	expect(t, f.as(t, f.alice, "PUT", "/v1/workflows/alices-wf", `{"workflow":{"steps":[{"name":"hi","call":{"app":"alices","path":"/hello"}}]}}`), 201)
	res := f.as(t, f.alice, "POST", "/v1/workflows/alices-wf", "")
	expect(t, res, 201)
	runID, _ := get(res.body, "execution", "id").(string)
	// A secret and an SSH key of alice's: {name} of /secrets/{name} is the workflow's name.
	expect(t, f.as(t, f.alice, "POST", "/v1/secrets", `{"secret":{"name":"alices-wf","data":{"k":"alice's value"}}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", ""), 201)
	// A subscription and a schedule of alice's under the same {name}, an event she published
	// and the delivery it made to her subscription.
	expect(t, f.as(t, f.alice, "POST", "/v1/subscriptions", `{"subscription":{"name":"alices-wf","filter":{"type":"com.alice.*"},"target":{"function":{"app":"alices","path":"/hello"}}}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/schedules", `{"schedule":{"name":"alices-wf","cron":"@hourly","target":{"call":{"app":"alices","path":"/hello"}}}}`), 201)
	res = f.publish(t, f.alice, `{"specversion":"1.0","id":"a1","source":"/alice","type":"com.alice.order"}`)
	expect(t, res, 202)
	eventKey, _ := get(res.body, "event", "key").(string)
	deliveries, _ := get(res.body, "event", "deliveries").([]any)
	if eventKey == "" || len(deliveries) != 1 {
		t.Fatalf("alice's event: %s", res.raw)
	}
	deliveryID, _ := get(deliveries[0], "id").(string)
	// An image of alice's under the same {name}.
	img := store.Image{Name: "alices-wf", Owner: "alice", Source: store.ImageSourceBuild, Status: store.ImageReady, Build: f.s.NewID()}
	img.ApplyDefaults()
	if _, err := f.s.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	ops := specOperations(t, map[string]string{"app": "alices", "route": "hello", "id": exID, "api": "alices-api", "name": "alices-wf", "user_id": "alice", "key": eventKey})
	for _, o := range ops {
		path := o.path
		switch {
		case strings.HasPrefix(o.template, "/auth/tokens/{id}"):
			path = strings.Replace(path, exID, f.aliceTok, 1)
		case strings.HasPrefix(o.template, "/executions/{id}/events"): // a run's
			path = strings.Replace(path, exID, runID, 1)
		case strings.HasPrefix(o.template, "/deliveries/{id}"):
			path = strings.Replace(path, exID, deliveryID, 1)
		}
		res := f.as(t, f.bob, o.method, path, body(t, o))
		switch {
		case o.id == "uploadImage":
			// Image names are global: taking one another owner has answers 409 "taken", as
			// the spec says (a developer could not otherwise tell why its upload fails).
			// Nothing else of the image shows, and it is untouched (below).
			if msg, _ := get(res.body, "error", "message").(string); res.status != http.StatusConflict || !strings.Contains(msg, "taken") {
				t.Errorf("%s of another's image: %d, want 409 taken; %s", o.id, res.status, res.raw)
			}
		case strings.Contains(o.template, "{app}"), strings.Contains(o.template, "{api}"), strings.Contains(o.template, "{name}"), strings.Contains(o.template, "{key}"),
			strings.Contains(o.template, "{user_id}"), strings.Contains(o.template, "{id}") && !adminOnly(o.template):
			if res.status != http.StatusNotFound {
				t.Errorf("%s as another developer: %d, want 404; %s", o.id, res.status, res.raw)
			}
		case adminOnly(o.template):
			if res.status != http.StatusForbidden {
				t.Errorf("%s as a developer: %d, want 403; %s", o.id, res.status, res.raw)
			}
		default: // lists, creates, whoami, version: allowed, and checked for their content below
			if res.status >= 500 || res.status == http.StatusUnauthorized {
				t.Errorf("%s as a developer: %d; %s", o.id, res.status, res.raw)
			}
		}
	}
	// Still alice's, untouched.
	res = f.as(t, f.alice, "GET", "/v1/apps/alices/routes/hello", "")
	expect(t, res, 200)
	if res := f.as(t, f.alice, "GET", "/v1/workflows/alices-wf", ""); res.status != 200 || get(res.body, "workflow", "version") != 1.0 {
		t.Fatalf("alice's workflow changed by bob? %s", res.raw)
	}
	if res := f.as(t, f.alice, "GET", "/v1/executions/"+runID, ""); res.status != 200 || get(res.body, "execution", "status") != "QUEUED" {
		t.Fatalf("alice's run changed by bob? %s", res.raw)
	}
	expect(t, f.as(t, f.alice, "GET", "/v1/executions/"+exID, ""), 200)
	expect(t, f.as(t, f.alice, "GET", "/v1/auth/tokens/"+f.aliceTok, ""), 200)
	if res := f.as(t, f.alice, "GET", "/v1/apis/alices-api", ""); res.status != 200 || get(res.body, "api", "enabled") != true {
		t.Fatalf("alice's API changed by bob? %s", res.raw)
	}
	if res := f.as(t, f.alice, "GET", "/v1/secrets/alices-wf", ""); res.status != 200 || get(res.body, "secret", "version") != 1.0 {
		t.Fatalf("alice's secret changed by bob? %s", res.raw)
	}
	if res := f.as(t, f.alice, "GET", "/v1/users/alice/ssh-key", ""); res.status != 200 || get(res.body, "ssh_key", "version") != 1.0 {
		t.Fatalf("alice's SSH key changed by bob? %s", res.raw)
	}
	if res := f.as(t, f.alice, "GET", "/v1/subscriptions/alices-wf", ""); res.status != 200 || get(res.body, "subscription", "enabled") != true {
		t.Fatalf("alice's subscription changed by bob? %s", res.raw)
	}
	if res := f.as(t, f.alice, "GET", "/v1/schedules/alices-wf", ""); res.status != 200 || get(res.body, "schedule", "enabled") != true {
		t.Fatalf("alice's schedule changed by bob? %s", res.raw)
	}
	if res := f.as(t, f.alice, "GET", "/v1/deliveries/"+deliveryID, ""); res.status != 200 || get(res.body, "delivery", "status") != "QUEUED" {
		t.Fatalf("alice's delivery changed by bob? %s", res.raw)
	}
	if res := f.as(t, f.alice, "GET", "/v1/images/alices-wf", ""); res.status != 200 || get(res.body, "image", "status") != "READY" || get(res.body, "image", "owner") != "alice" {
		t.Fatalf("alice's image changed by bob? %s", res.raw)
	}
	for _, list := range []string{"subscriptions", "schedules", "events", "images", "functions"} {
		res := f.as(t, f.bob, "GET", "/v1/"+list, "")
		expect(t, res, 200)
		for _, item := range get(res.body, list).([]any) {
			if get(item, "owner") == "alice" {
				t.Errorf("bob lists alice's %s: %s", list, res.raw)
			}
		}
	}
	if n := len(get(f.as(t, f.bob, "GET", "/v1/secrets", "").body, "secrets").([]any)); n != 1 { // made-by-test, bob's own
		t.Errorf("bob lists %d secrets, want his one", n)
	}
	// Bob's lists hold nothing of alice's.
	if n := len(get(f.as(t, f.bob, "GET", "/v1/executions", "").body, "executions").([]any)); n != 0 {
		t.Errorf("bob lists %d executions of alice's", n)
	}
	expect(t, f.as(t, f.bob, "GET", "/v1/executions?app=alices", ""), 404)
	if n := len(get(f.as(t, f.alice, "GET", "/v1/executions", "").body, "executions").([]any)); n != 3 {
		t.Errorf("alice lists %d executions, want 3 (a call, a run and her delivery's queued call)", n)
	}
	if n := len(get(f.as(t, f.bob, "GET", "/v1/workflows", "").body, "workflows").([]any)); n != 0 {
		t.Errorf("bob lists %d workflows of alice's", n)
	}
	// The name deleted and made again by bob is another app: alice's execution stays hers.
	expect(t, f.as(t, f.alice, "DELETE", "/v1/apps/alices/routes/hello", ""), 204)
	expect(t, f.as(t, f.alice, "DELETE", "/v1/apps/alices", ""), 204)
	expect(t, f.as(t, f.bob, "POST", "/v1/apps", `{"app":{"name":"alices"}}`), 201)
	expect(t, f.as(t, f.bob, "GET", "/v1/executions/"+exID, ""), 404)
	expect(t, f.as(t, f.bob, "GET", "/v1/executions/"+exID+"/log", ""), 404)
	if n := len(get(f.as(t, f.bob, "GET", "/v1/executions?app=alices", "").body, "executions").([]any)); n != 0 {
		t.Errorf("bob lists %d executions of the earlier app alices", n)
	}
	expect(t, f.as(t, f.admin, "GET", "/v1/executions/"+exID, ""), 200)
}

// adminOnly tells the operations only admins may use (403 for developers): the async
// queue's, for external runners, and the nodes sharing the store.
func adminOnly(template string) bool {
	return strings.HasPrefix(template, "/tasks") || strings.HasPrefix(template, "/nodes") || template == "/images/prune"
}

func appNames(t testing.TB, res response) []string {
	t.Helper()
	expect(t, res, 200)
	var names []string
	for _, a := range get(res.body, "apps").([]any) {
		names = append(names, a.(map[string]any)["name"].(string))
	}
	return names
}

func TestAppsOwnedByTheirCreator(t *testing.T) {
	f := newAuthFixture(t)
	for _, c := range []struct{ token, app string }{{f.alice, "a1"}, {f.alice, "a2"}, {f.bob, "b1"}, {f.admin, "z1"}} {
		res := f.as(t, c.token, "POST", "/v1/apps", `{"app":{"name":"`+c.app+`","owner":"mallory"}}`)
		expect(t, res, 201)
	}
	if got := get(f.as(t, f.alice, "GET", "/v1/apps/a1", "").body, "app", "owner"); got != "alice" {
		t.Fatalf("owner of a1 = %v, want alice (owner in a create body is ignored)", got)
	}
	for _, c := range []struct {
		name, token, query string
		want               string
	}{
		{"developer default", f.alice, "", "a1 a2"},
		{"developer me", f.bob, "?owner=me", "b1"},
		{"developer self by name", f.bob, "?owner=bob", "b1"},
		{"admin default", f.admin, "", "a1 a2 b1 z1"},
		{"admin one owner", f.admin, "?owner=alice", "a1 a2"},
		{"admin me", f.admin, "?owner=me", "z1"},
	} {
		if got := strings.Join(appNames(t, f.as(t, c.token, "GET", "/v1/apps"+c.query, "")), " "); got != c.want {
			t.Errorf("%s: apps %q, want %q", c.name, got, c.want)
		}
	}
	expect(t, f.as(t, f.bob, "GET", "/v1/apps?owner=alice", ""), 403)

	// Pages hold a developer's own apps only, and all of them.
	for i := range 7 {
		expect(t, f.as(t, f.bob, "POST", "/v1/apps", `{"app":{"name":"bb`+string(rune('a'+i))+`"}}`), 201)
	}
	var all []string
	cursor := ""
	for range 10 {
		res := f.as(t, f.bob, "GET", "/v1/apps?per_page=3"+cursor, "")
		all = append(all, appNames(t, res)...)
		next, _ := get(res.body, "next_cursor").(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if len(all) != 8 || all[0] != "b1" {
		t.Fatalf("bob's pages: %v", all)
	}

	// Transfer: only an admin.
	expect(t, f.as(t, f.alice, "PATCH", "/v1/apps/a1", `{"app":{"owner":"bob"}}`), 403)
	expect(t, f.as(t, f.alice, "PUT", "/v1/apps/a1", `{"app":{"owner":"bob"}}`), 403)
	res := f.as(t, f.admin, "PATCH", "/v1/apps/a1", `{"app":{"owner":"bob"}}`)
	expect(t, res, 200)
	if get(res.body, "app", "owner") != "bob" {
		t.Fatalf("transfer: %s", res.raw)
	}
	expect(t, f.as(t, f.alice, "GET", "/v1/apps/a1", ""), 404)
	expect(t, f.as(t, f.bob, "GET", "/v1/apps/a1", ""), 200)
	// PUT by the owner keeps the owner; PUT of a new name makes the caller its owner.
	res = f.as(t, f.bob, "PUT", "/v1/apps/a1", `{"app":{"config":{"K":"v"}}}`)
	expect(t, res, 200)
	if get(res.body, "app", "owner") != "bob" {
		t.Fatalf("put kept owner? %s", res.raw)
	}
	res = f.as(t, f.alice, "PUT", "/v1/apps/fresh", `{"app":{}}`)
	expect(t, res, 201)
	if get(res.body, "app", "owner") != "alice" {
		t.Fatalf("put created owner: %s", res.raw)
	}
	// Another developer cannot replace it: it is not found for them.
	expect(t, f.as(t, f.bob, "PUT", "/v1/apps/fresh", `{"app":{}}`), 404)
}

func TestTokensAPI(t *testing.T) {
	f := newAuthFixture(t)
	res := f.as(t, f.alice, "GET", "/v1/auth/whoami", "")
	expect(t, res, 200)
	if get(res.body, "principal", "name") != "alice" || get(res.body, "principal", "role") != "developer" ||
		get(res.body, "principal", "kind") != "token" || get(res.body, "principal", "token_id") != f.aliceTok {
		t.Fatalf("whoami: %s", res.raw)
	}

	// A developer makes developer tokens for itself only.
	expect(t, f.as(t, f.alice, "POST", "/v1/auth/tokens", `{"token":{"name":"ci","role":"admin"}}`), 403)
	expect(t, f.as(t, f.alice, "POST", "/v1/auth/tokens", `{"token":{"name":"ci","user":"bob"}}`), 403)
	expect(t, f.as(t, f.alice, "POST", "/v1/auth/tokens", `{"token":{}}`), 400)
	expect(t, f.as(t, f.alice, "POST", "/v1/auth/tokens", `{"token":{"name":"x","expires_at":"2001-01-01T00:00:00Z"}}`), 400)
	expect(t, f.as(t, f.admin, "POST", "/v1/auth/tokens", `{"token":{"name":"x","role":"root"}}`), 400)
	expect(t, f.as(t, f.admin, "POST", "/v1/auth/tokens", `{"token":{"name":"x","user":"has space"}}`), 400)
	res = f.as(t, f.alice, "POST", "/v1/auth/tokens", `{"token":{"name":"ci"}}`)
	expect(t, res, 201)
	secret, _ := get(res.body, "token", "secret").(string)
	id, _ := get(res.body, "token", "id").(string)
	if !strings.HasPrefix(secret, auth.TokenPrefix) || get(res.body, "token", "user") != "alice" || get(res.body, "token", "created_by") != "alice" {
		t.Fatalf("create: %s", res.raw)
	}
	expect(t, f.as(t, secret, "GET", "/v1/auth/whoami", ""), 200)

	// An admin makes tokens for anyone, with an expiry.
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	res = f.as(t, f.admin, "POST", "/v1/auth/tokens", `{"token":{"name":"deploy","user":"svc-deploy","role":"admin","expires_at":"`+exp+`"}}`)
	expect(t, res, 201)
	svc, _ := get(res.body, "token", "secret").(string)
	res = f.as(t, svc, "GET", "/v1/auth/whoami", "")
	if get(res.body, "principal", "name") != "svc-deploy" || get(res.body, "principal", "role") != "admin" {
		t.Fatalf("svc whoami: %s", res.raw)
	}

	// An admin makes end users' tokens; a developer may not.
	expect(t, f.as(t, f.alice, "POST", "/v1/auth/tokens", `{"token":{"name":"x","role":"user"}}`), 403)
	res = f.as(t, f.admin, "POST", "/v1/auth/tokens", `{"token":{"name":"portal","user":"uma","role":"user"}}`)
	expect(t, res, 201)
	uma, _ := get(res.body, "token", "secret").(string)
	if res := f.as(t, uma, "GET", "/v1/auth/whoami", ""); get(res.body, "principal", "role") != "user" {
		t.Fatalf("uma whoami: %s", res.raw)
	}
	expect(t, f.as(t, uma, "POST", "/v1/auth/tokens", `{"token":{"name":"more","role":"user"}}`), 403)
	expect(t, f.as(t, f.admin, "DELETE", "/v1/auth/tokens/"+get(res.body, "token", "id").(string), ""), 204)

	// Lists never carry secrets; a developer's holds its own tokens.
	res = f.as(t, f.alice, "GET", "/v1/auth/tokens", "")
	expect(t, res, 200)
	if strings.Contains(res.raw, "secret") || strings.Contains(res.raw, "hash") {
		t.Fatalf("list shows secrets: %s", res.raw)
	}
	for _, tk := range get(res.body, "tokens").([]any) {
		if tk.(map[string]any)["user"] != "alice" {
			t.Fatalf("alice lists another's token: %s", res.raw)
		}
	}
	if n := len(get(res.body, "tokens").([]any)); n != 2 {
		t.Fatalf("alice has %d tokens, want 2", n)
	}
	res = f.as(t, f.admin, "GET", "/v1/auth/tokens?per_page=2", "")
	expect(t, res, 200)
	first := get(res.body, "tokens").([]any)[0].(map[string]any)
	if first["name"] != "deploy" || get(res.body, "next_cursor") == nil {
		t.Fatalf("admin list, newest first, paged: %s", res.raw)
	}

	// A developer's token never outlives the one that made it, and goes with it.
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	parent, _ := makeToken(t, f.s, "erin", auth.RoleDeveloper, &soon)
	res = f.as(t, parent, "POST", "/v1/auth/tokens", `{"token":{"name":"child"}}`)
	expect(t, res, 201)
	child := get(res.body, "token", "secret").(string)
	if got := get(res.body, "token", "expires_at"); got != soon.Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("child expires at %v, want the parent's %v", got, soon)
	}
	later := soon.Add(time.Hour).Format(time.RFC3339)
	expect(t, f.as(t, parent, "POST", "/v1/auth/tokens", `{"token":{"name":"longer","expires_at":"`+later+`"}}`), 400)
	res = f.as(t, child, "POST", "/v1/auth/tokens", `{"token":{"name":"grandchild"}}`)
	expect(t, res, 201)
	grandchild := get(res.body, "token", "secret").(string)
	parentID := get(f.as(t, parent, "GET", "/v1/auth/whoami", "").body, "principal", "token_id").(string)
	expect(t, f.as(t, f.admin, "DELETE", "/v1/auth/tokens/"+parentID, ""), 204)
	for _, tok := range []string{parent, child, grandchild} {
		expect(t, f.as(t, tok, "GET", "/v1/auth/whoami", ""), 401)
	}

	// Revoking takes effect on the next request.
	expect(t, f.as(t, f.bob, "DELETE", "/v1/auth/tokens/"+id, ""), 404)
	expect(t, f.as(t, f.alice, "DELETE", "/v1/auth/tokens/"+id, ""), 204)
	expect(t, f.as(t, secret, "GET", "/v1/auth/whoami", ""), 401)
	expect(t, f.as(t, f.alice, "DELETE", "/v1/auth/tokens/"+id, ""), 404)
}

// TestAuditLog checks that each mutating call leaves one JSON line naming who, what and the
// result, refused ones included, and that reads leave none.
func TestAuditLog(t *testing.T) {
	f := newAuthFixture(t)
	expect(t, f.as(t, f.alice, "POST", "/v1/apps", `{"app":{"name":"a1"}}`), 201)
	expect(t, f.as(t, "", "DELETE", "/v1/apps/a1", ""), 401)
	expect(t, f.as(t, f.bob, "DELETE", "/v1/apps/a1", ""), 404)
	expect(t, f.as(t, f.alice, "GET", "/v1/apps/a1", ""), 200)
	res := f.as(t, f.alice, "POST", "/v1/auth/tokens", `{"token":{"name":"ci"}}`)
	expect(t, res, 201)
	secret := get(res.body, "token", "secret").(string)
	expect(t, f.as(t, f.admin, "PATCH", "/v1/apps/a1", `{"app":{"owner":"bob"}}`), 200)
	expect(t, f.as(t, f.admin, "DELETE", "/v1/apps/a1/../a2", ""), 400)

	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(f.audit.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line is not JSON: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	want := []struct {
		who, method, path, result string
		status                    float64
	}{
		{"alice", "POST", "/v1/apps", "ok", 201},
		{"", "DELETE", "/v1/apps/a1", "denied", 401},
		{"bob", "DELETE", "/v1/apps/a1", "failed", 404},
		{"alice", "POST", "/v1/auth/tokens", "ok", 201},
		{"admin", "PATCH", "/v1/apps/a1", "ok", 200},
		{"", "DELETE", "/v1/apps/a1/../a2", "failed", 400}, // refused before the credentials are read
	}
	if len(lines) != len(want) {
		t.Fatalf("%d audit lines, want %d:\n%s", len(lines), len(want), f.audit.String())
	}
	for i, w := range want {
		l := lines[i]
		if l["msg"] != "audit" || l["who"] != w.who || l["method"] != w.method || l["path"] != w.path || l["status"] != w.status || l["result"] != w.result || l["time"] == nil {
			t.Errorf("audit line %d = %v, want %+v", i, l, w)
		}
	}
	if lines[3]["token_user"] != "alice" || lines[3]["token_role"] != "developer" || lines[3]["token_created"] == "" {
		t.Errorf("token creation audited without its token: %v", lines[3])
	}
	if lines[4]["old_owner"] != "alice" || lines[4]["new_owner"] != "bob" {
		t.Errorf("transfer audited without the owners: %v", lines[4])
	}
	if strings.Contains(f.audit.String(), secret) || strings.Contains(f.log.String(), secret) {
		t.Fatal("the new token's secret was logged")
	}
}

func TestCORS(t *testing.T) {
	const origin = "https://ui.example"
	f := newAuthFixture(t, origin)
	preflight := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("OPTIONS", "/v1/apps", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec
	}
	// A preflight needs no credentials and reaches no operation.
	rec := preflight(origin)
	if rec.Code/100 != 2 || rec.Header().Get("Access-Control-Allow-Origin") != origin ||
		rec.Header().Get("Access-Control-Allow-Credentials") != "" ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
	if rec = preflight("https://evil.example"); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin allowed: %v", rec.Header())
	}
	// Actual requests carry the CORS headers, errors included, so the UI can read them.
	for _, c := range []struct {
		token  string
		status int
	}{{f.alice, 200}, {"", 401}} {
		req := httptest.NewRequest("GET", "/v1/apps", nil)
		req.Header.Set("Origin", origin)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		res := serve(t, f.h, req)
		expect(t, res, c.status)
		if res.header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(res.header.Get("Vary"), "Origin") ||
			!strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "Gantry-Call-Id") {
			t.Fatalf("actual request: %v", res.header)
		}
	}
	// With a wildcard, any origin, and never credentials.
	f = newAuthFixture(t, "*")
	rec = preflight("https://anything.example")
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" || rec.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("wildcard preflight: %v", rec.Header())
	}
	// Without configured origins, no CORS headers at all.
	f2 := newAuthFixture(t)
	req := httptest.NewRequest("GET", "/v1/version", nil)
	req.Header.Set("Origin", origin)
	if res := serve(t, f2.h, req); res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS without origins: %v", res.header)
	}
}

// TestAuthOff: with no authenticator every caller is an anonymous admin, loudly.
func TestAuthOff(t *testing.T) {
	h := newTestHandler(t)
	res := do(t, h, "GET", "/v1/auth/whoami", "")
	expect(t, res, 200)
	if get(res.body, "principal", "kind") != "none" || get(res.body, "principal", "role") != "admin" {
		t.Fatalf("whoami with auth off: %s", res.raw)
	}
}
