package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/secrets"
	"github.com/gantry-dev/gantry/store"
)

// bodyLog keeps every response body a handler wrote, so that a test can tell that a value
// appears in none.
type bodyLog struct {
	mu     sync.Mutex
	bodies []string
}

// wrap returns h, with every answer's body kept.
func (l *bodyLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		l.mu.Lock()
		l.bodies = append(l.bodies, rec.Body.String())
		l.mu.Unlock()
	})
}

// holding returns how many of the bodies hold s.
func (l *bodyLog) holding(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, b := range l.bodies {
		if strings.Contains(b, s) {
			n++
		}
	}
	return n
}

func (l *bodyLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bodies)
}

// TestSecretsCRUD creates, reads, lists, replaces and deletes secrets through the router,
// and checks that no answer, audit line or log line ever holds a value.
func TestSecretsCRUD(t *testing.T) {
	f := newAuthFixture(t)
	bodies := &bodyLog{}
	f.h = bodies.wrap(f.h)
	const (
		value1 = "s3cret-value-one-0f9d"
		value2 = "s3cret-value-two-7a1c"
		other  = "bobs-own-value-55e2"
	)

	res := f.as(t, f.alice, "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"password":"`+value1+`","user":"app"}}}`)
	expect(t, res, 201)
	if get(res.body, "secret", "name") != "db" || get(res.body, "secret", "owner") != "alice" || get(res.body, "secret", "created_by") != "alice" ||
		fmt.Sprint(get(res.body, "secret", "keys")) != "[password user]" || get(res.body, "secret", "version") != 1.0 ||
		fmt.Sprint(get(res.body, "secret", "versions")) != "[1]" || get(res.body, "secret", "created_at") == nil || get(res.body, "secret", "updated_at") == nil {
		t.Fatalf("create: %s", res.raw)
	}
	if get(res.body, "secret", "data") != nil {
		t.Fatalf("the answer has data: %s", res.raw)
	}
	expect(t, f.as(t, f.alice, "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"k":"v"}}}`), 409)
	expect(t, f.as(t, f.bob, "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"k":"v"}}}`), 409) // names are global

	res = f.as(t, f.alice, "GET", "/v1/secrets/db", "")
	expect(t, res, 200)
	if get(res.body, "secret", "version") != 1.0 || fmt.Sprint(get(res.body, "secret", "keys")) != "[password user]" {
		t.Fatalf("get: %s", res.raw)
	}

	res = f.as(t, f.alice, "PUT", "/v1/secrets/db", `{"secret":{"name":"db","data":{"password":"`+value2+`"}}}`)
	expect(t, res, 200)
	if get(res.body, "secret", "version") != 2.0 || fmt.Sprint(get(res.body, "secret", "versions")) != "[1 2]" ||
		fmt.Sprint(get(res.body, "secret", "keys")) != "[password]" || get(res.body, "secret", "owner") != "alice" {
		t.Fatalf("put of a new version: %s", res.raw)
	}
	files, err := f.secrets.Files(context.Background(), []string{"db"})
	if err != nil || string(files["db"]["password"]) != value2 || len(files["db"]) != 1 {
		t.Fatalf("the stored value is not the new one: %v (%d keys)", err, len(files["db"]))
	}
	expect(t, f.as(t, f.alice, "PUT", "/v1/secrets/db", `{"secret":{"name":"other","data":{"k":"v"}}}`), 400)
	res = f.as(t, f.alice, "PUT", "/v1/secrets/api-key", `{"secret":{"data":{"key":"k-1"}}}`)
	expect(t, res, 201)
	if get(res.body, "secret", "owner") != "alice" || get(res.body, "secret", "version") != 1.0 {
		t.Fatalf("put of a new secret: %s", res.raw)
	}
	expect(t, f.as(t, f.bob, "POST", "/v1/secrets", `{"secret":{"name":"bobs","data":{"k":"`+other+`"}}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", ""), 201) // a key is no function secret

	names := func(token, query string) []string {
		t.Helper()
		res := f.as(t, token, "GET", "/v1/secrets"+query, "")
		expect(t, res, 200)
		var out []string
		for _, s := range get(res.body, "secrets").([]any) {
			out = append(out, get(s, "name").(string))
		}
		return out
	}
	if got := names(f.alice, ""); !slices.Equal(got, []string{"api-key", "db"}) {
		t.Errorf("alice lists %v", got)
	}
	if got := names(f.bob, ""); !slices.Equal(got, []string{"bobs"}) {
		t.Errorf("bob lists %v", got)
	}
	if got := names(f.admin, ""); !slices.Equal(got, []string{"api-key", "bobs", "db"}) {
		t.Errorf("admin lists %v", got)
	}
	if got := names(f.admin, "?owner=bob"); !slices.Equal(got, []string{"bobs"}) {
		t.Errorf("admin lists bob's as %v", got)
	}
	if got := names(f.alice, "?owner=me"); !slices.Equal(got, []string{"api-key", "db"}) {
		t.Errorf("alice lists her own as %v", got)
	}
	expect(t, f.as(t, f.alice, "GET", "/v1/secrets?owner=bob", ""), 403)
	var paged []string // pages of one, until next_cursor is absent
	for url, pages := "/v1/secrets?per_page=1", 0; url != ""; pages++ {
		res := f.as(t, f.alice, "GET", url, "")
		expect(t, res, 200)
		for _, s := range get(res.body, "secrets").([]any) {
			paged = append(paged, get(s, "name").(string))
		}
		url = ""
		if next, _ := res.body["next_cursor"].(string); next != "" && pages < 5 {
			url = "/v1/secrets?per_page=1&cursor=" + next
		}
	}
	if !slices.Equal(paged, []string{"api-key", "db"}) {
		t.Errorf("pages of one hold %v", paged)
	}

	// An admin reads and replaces anyone's; the owner stays.
	res = f.as(t, f.admin, "PUT", "/v1/secrets/bobs", `{"secret":{"data":{"k":"`+other+`2"}}}`)
	if expect(t, res, 200); get(res.body, "secret", "owner") != "bob" || get(res.body, "secret", "version") != 2.0 || get(res.body, "secret", "created_by") != "bob" {
		t.Fatalf("admin's put: %s", res.raw)
	}

	expect(t, f.as(t, f.alice, "DELETE", "/v1/secrets/db", ""), 204)
	expect(t, f.as(t, f.alice, "GET", "/v1/secrets/db", ""), 404)
	expect(t, f.as(t, f.alice, "DELETE", "/v1/secrets/db", ""), 404)
	if _, err := f.secrets.Files(context.Background(), []string{"db"}); err == nil {
		t.Fatal("the deleted secret's value is still read")
	}
	res = f.as(t, f.alice, "PUT", "/v1/secrets/db", `{"secret":{"data":{"k":"v"}}}`)
	if expect(t, res, 201); get(res.body, "secret", "version") != 1.0 {
		t.Fatalf("a secret made again starts over: %s", res.raw)
	}

	if bodies.count() < 20 {
		t.Fatalf("only %d answers kept", bodies.count())
	}
	for _, v := range []string{value1, value2, other} {
		if n := bodies.holding(v); n != 0 {
			t.Errorf("%d answers hold a secret value", n)
		}
		if strings.Contains(f.audit.String(), v) || strings.Contains(f.log.String(), v) {
			t.Error("a secret value is in the audit log or the server log")
		}
	}
	if !strings.Contains(f.audit.String(), `"path":"/v1/secrets/db"`) {
		t.Errorf("secret writes are not audited:\n%s", f.audit.String())
	}
}

// TestSecretsBadInput: each invalid secret is a 4xx naming its field, and no error holds the
// value.
func TestSecretsBadInput(t *testing.T) {
	f := newAuthFixture(t)
	big := strings.Repeat("v", 64<<10)
	many := make([]string, 17)
	for i := range many {
		many[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	huge := make([]string, 16)
	for i := range huge {
		huge[i] = fmt.Sprintf(`"k%d":"%s"`, i, big)
	}
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"an upper-case name", "POST", "/v1/secrets", `{"secret":{"name":"DB","data":{"k":"v"}}}`, 400, "secret.name"},
		{"a name with a space", "POST", "/v1/secrets", `{"secret":{"name":"a b","data":{"k":"v"}}}`, 400, "secret.name"},
		{"a name that starts with a dot", "POST", "/v1/secrets", `{"secret":{"name":".db","data":{"k":"v"}}}`, 400, "secret.name"},
		{"a name of 64 characters", "POST", "/v1/secrets", `{"secret":{"name":"` + strings.Repeat("a", 64) + `","data":{"k":"v"}}}`, 400, "secret.name"},
		{"a name like an SSH key's", "POST", "/v1/secrets", `{"secret":{"name":"ssh:alice","data":{"k":"v"}}}`, 400, "secret.name"},
		{"no name", "POST", "/v1/secrets", `{"secret":{"data":{"k":"v"}}}`, 400, "secret.name"},
		{"a bad name in the path", "PUT", "/v1/secrets/Bad", `{"secret":{"data":{"k":"v"}}}`, 400, "name"},
		{"a bad name in the path of a read", "GET", "/v1/secrets/a%20b", "", 400, "name"},
		{"no data", "POST", "/v1/secrets", `{"secret":{"name":"db"}}`, 400, "secret.data"},
		{"no key", "POST", "/v1/secrets", `{"secret":{"name":"db","data":{}}}`, 400, "secret.data"},
		{"a key that is no file name", "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"a/b":"v"}}}`, 400, "secret.data"},
		{"a key of dots", "PUT", "/v1/secrets/db", `{"secret":{"data":{"..":"v"}}}`, 400, "secret.data"},
		{"17 keys", "POST", "/v1/secrets", `{"secret":{"name":"db","data":{` + strings.Join(many, ",") + `}}}`, 400, "secret.data"},
		{"a value of 64 KiB and a byte", "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"k":"` + big + `x"}}}`, 400, "secret.data.k"},
		{"a value that is no string", "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"k":42}}}`, 400, ""},
		{"a field of the record", "POST", "/v1/secrets", `{"secret":{"name":"db","owner":"bob","data":{"k":"v"}}}`, 400, "owner"},
		{"16 values of 64 KiB: more than a body holds", "POST", "/v1/secrets", `{"secret":{"name":"db","data":{` + strings.Join(huge, ",") + `}}}`, 413, "body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := f.as(t, f.alice, tt.method, tt.path, tt.body)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %.300s", res.status, tt.status, res.raw)
			}
			if field, _ := get(res.body, "error", "fields").(string); tt.field != "" && field != tt.field {
				t.Errorf("fields %q, want %q: %.300s", field, tt.field, res.raw)
			}
			if msg, _ := get(res.body, "error", "message").(string); msg == "" || strings.Contains(res.raw, strings.Repeat("v", 100)) {
				t.Errorf("message %.300q: none, or it holds the value", msg)
			}
		})
	}
	res := f.as(t, f.alice, "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"k":"`+big+`"}}}`)
	expect(t, res, 201) // 64 KiB exactly is fine
	if strings.Contains(res.raw, big[:100]) {
		t.Fatal("the answer holds the value")
	}
	if res := f.as(t, f.alice, "GET", "/v1/secrets", ""); len(get(res.body, "secrets").([]any)) != 1 {
		t.Fatalf("refused writes stored something: %s", res.raw)
	}
}

// TestSecretsWithoutAService: a server without a secret store answers 503 with Retry-After
// to every operation that needs one, and to a route write that names secrets; routes
// without secrets are written as before.
func TestSecretsWithoutAService(t *testing.T) {
	f := newAuthFixtureWith(t, func(d *Deps) { d.Secrets = nil })
	expect(t, f.as(t, f.alice, "POST", "/v1/apps", `{"app":{"name":"a"}}`), 201)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/secrets", ""},
		{"POST", "/v1/secrets", `{"secret":{"name":"db","data":{"k":"v"}}}`},
		{"GET", "/v1/secrets/db", ""},
		{"PUT", "/v1/secrets/db", `{"secret":{"data":{"k":"v"}}}`},
		{"DELETE", "/v1/secrets/db", ""},
		{"POST", "/v1/users/alice/ssh-key", ""},
		{"GET", "/v1/users/alice/ssh-key", ""},
		{"DELETE", "/v1/users/alice/ssh-key", ""},
		{"POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"img","secrets":["db"]}}`},
	} {
		res := f.as(t, f.alice, c.method, c.path, c.body)
		if res.status != 503 || res.header.Get("Retry-After") == "" || !strings.Contains(fmt.Sprint(get(res.body, "error", "message")), "secrets are not configured") {
			t.Errorf("%s %s: %d %v %s", c.method, c.path, res.status, res.header, res.raw)
		}
	}
	expect(t, f.as(t, f.alice, "POST", "/v1/apps/a/routes", `{"route":{"path":"/x","image":"img"}}`), 201)
}

// unavailableSecrets is a secret service whose backend (Vault) is down.
type unavailableSecrets struct{ Secrets }

func (unavailableSecrets) List(context.Context, store.SecretFilter, store.Page) ([]store.Secret, string, error) {
	return nil, "", fmt.Errorf("list secrets: %w: dial tcp 10.1.2.3:8200: connection refused", secrets.ErrUnavailable)
}

func (unavailableSecrets) GenerateSSHKey(context.Context, string, string, secrets.KeyOptions) (secrets.SSHKey, error) {
	return secrets.SSHKey{}, fmt.Errorf("store secret %q: %w: Vault is sealed", "ssh:alice", secrets.ErrUnavailable)
}

// TestSecretStoreUnavailable: the secret store down answers 503 with Retry-After and a
// clear message, on /v1 and /waas, without its cause (which names hosts).
func TestSecretStoreUnavailable(t *testing.T) {
	f := newAuthFixtureWith(t, func(d *Deps) { d.Secrets = unavailableSecrets{} })
	for _, path := range []string{"/v1/secrets", "/v1/users/alice/ssh-key"} {
		method := "GET"
		if strings.Contains(path, "ssh-key") {
			method = "POST"
		}
		res := f.as(t, f.alice, method, path, "")
		msg, _ := get(res.body, "error", "message").(string)
		if res.status != 503 || res.header.Get("Retry-After") != "5" || !strings.HasPrefix(msg, "the secret store is unavailable") || strings.Contains(res.raw, "10.1.2.3") {
			t.Errorf("%s %s: %d Retry-After %q: %s", method, path, res.status, res.header.Get("Retry-After"), res.raw)
		}
	}
	res := waasCall(t, f.h, bearer(f.alice), "POST", "/waas/ssh_keys", "")
	res.expectError(t, 503, "service_unavailable", "the secret store is unavailable")
	if res.header.Get("Retry-After") != "5" {
		t.Errorf("/waas 503 without Retry-After: %v", res.header)
	}
	if !strings.Contains(f.log.String(), "10.1.2.3") {
		t.Error("the cause is not logged")
	}
}
