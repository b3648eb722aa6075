package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRouteSecrets: a route names secrets that exist and are its app owner's to give (an
// admin writing it too); anything else is a 400 naming route.secrets, and another's secret
// reads as a missing one. PATCH replaces the list or, with [], empties it.
func TestRouteSecrets(t *testing.T) {
	f := newAuthFixture(t)
	expect(t, f.as(t, f.alice, "POST", "/v1/apps", `{"app":{"name":"a"}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"password":"pw"}}}`), 201)
	expect(t, f.as(t, f.bob, "POST", "/v1/secrets", `{"secret":{"name":"bobs","data":{"k":"v"}}}`), 201)
	expect(t, f.as(t, f.bob, "POST", "/v1/users/bob/ssh-key", ""), 201)

	route := func(secrets string) string {
		return fmt.Sprintf(`{"route":{"path":"/r","image":"img","secrets":%s}}`, secrets)
	}
	refused := func(res response, inMessage string) {
		t.Helper()
		field, _ := get(res.body, "error", "fields").(string)
		msg, _ := get(res.body, "error", "message").(string)
		if res.status != http.StatusBadRequest || field != "route.secrets" || !strings.Contains(msg, inMessage) {
			t.Errorf("%d fields %q message %q, want 400 naming route.secrets and saying %q", res.status, field, msg, inMessage)
		}
	}
	missing := f.as(t, f.alice, "POST", "/v1/apps/a/routes", route(`["nope"]`))
	refused(missing, `secret "nope" does not exist`)
	others := f.as(t, f.alice, "POST", "/v1/apps/a/routes", route(`["bobs"]`))
	refused(others, `secret "bobs" does not exist`)
	refused(f.as(t, f.alice, "POST", "/v1/apps/a/routes", route(`["ssh:alice"]`)), `user "alice" has no SSH key`)
	refused(f.as(t, f.alice, "POST", "/v1/apps/a/routes", route(`["ssh:bob"]`)), `only routes of apps that "bob" owns`)
	refused(f.as(t, f.alice, "POST", "/v1/apps/a/routes", route(`["ssh:@caller"]`)), "workflow steps")
	refused(f.as(t, f.alice, "POST", "/v1/apps/a/routes", route(`["db","db"]`)), "named twice")
	refused(f.as(t, f.alice, "POST", "/v1/apps/a/routes", route(`["Bad Name"]`)), "must be a secret name")
	refused(f.as(t, f.alice, "PUT", "/v1/apps/a/routes/r", route(`["nope"]`)), `secret "nope" does not exist`)
	many := make([]string, 17)
	for i := range many {
		many[i] = fmt.Sprintf(`"s%d"`, i)
	}
	if res := f.as(t, f.alice, "POST", "/v1/apps/a/routes", route("["+strings.Join(many, ",")+"]")); res.status != 400 {
		t.Errorf("17 secrets: %d %s", res.status, res.raw)
	}
	expect(t, f.as(t, f.alice, "GET", "/v1/apps/a/routes/r", ""), 404) // nothing was written

	// Another's secret is refused exactly as a missing one, but for its name.
	if strings.ReplaceAll(others.raw, "bobs", "nope") != missing.raw {
		t.Errorf("another's secret %s differs from a missing one %s", others.raw, missing.raw)
	}

	expect(t, f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", ""), 201)
	res := f.as(t, f.alice, "POST", "/v1/apps/a/routes", route(`["db","ssh:alice"]`))
	expect(t, res, 201)
	if got := fmt.Sprint(get(res.body, "route", "secrets")); got != "[db ssh:alice]" {
		t.Errorf("secrets %s", got)
	}
	res = f.as(t, f.alice, "PATCH", "/v1/apps/a/routes/r", `{"route":{"memory":256}}`)
	if expect(t, res, 200); fmt.Sprint(get(res.body, "route", "secrets")) != "[db ssh:alice]" {
		t.Errorf("a PATCH without secrets changed them: %s", res.raw)
	}
	res = f.as(t, f.alice, "PATCH", "/v1/apps/a/routes/r", `{"route":{"secrets":null}}`)
	if expect(t, res, 200); fmt.Sprint(get(res.body, "route", "secrets")) != "[db ssh:alice]" {
		t.Errorf("a PATCH with secrets null changed them: %s", res.raw)
	}
	refused(f.as(t, f.alice, "PATCH", "/v1/apps/a/routes/r", `{"route":{"secrets":["db","bobs"]}}`), `secret "bobs" does not exist`)
	res = f.as(t, f.alice, "PATCH", "/v1/apps/a/routes/r", `{"route":{"secrets":["db"]}}`)
	if expect(t, res, 200); fmt.Sprint(get(res.body, "route", "secrets")) != "[db]" {
		t.Errorf("a PATCH did not replace the secrets: %s", res.raw)
	}
	res = f.as(t, f.alice, "PATCH", "/v1/apps/a/routes/r", `{"route":{"secrets":[]}}`)
	if expect(t, res, 200); !strings.Contains(res.raw, `"secrets":[]`) {
		t.Errorf("a PATCH with [] did not empty the secrets: %s", res.raw)
	}
	res = f.as(t, f.alice, "GET", "/v1/apps/a/routes/r", "")
	if expect(t, res, 200); !strings.Contains(res.raw, `"secrets":[]`) {
		t.Errorf("a route without secrets answers %s", res.raw)
	}

	// An admin writing alice's route gives it only alice's secrets: calls get only their
	// app owner's (they check again).
	res = f.as(t, f.admin, "PUT", "/v1/apps/a/routes/r", route(`["db","ssh:alice"]`))
	if expect(t, res, 200); fmt.Sprint(get(res.body, "route", "secrets")) != "[db ssh:alice]" {
		t.Errorf("admin's route: %s", res.raw)
	}
	refused(f.as(t, f.admin, "PUT", "/v1/apps/a/routes/r", route(`["bobs"]`)), `secret "bobs" does not exist`)
	refused(f.as(t, f.admin, "PUT", "/v1/apps/a/routes/r", route(`["ssh:bob"]`)), `only routes of apps that "bob" owns`)
	// A deleted secret can no longer be named.
	expect(t, f.as(t, f.alice, "DELETE", "/v1/secrets/db", ""), 204)
	refused(f.as(t, f.alice, "PATCH", "/v1/apps/a/routes/r", `{"route":{"secrets":["db"]}}`), `secret "db" does not exist`)
}

// TestSecretsWalkAsAnotherDeveloper walks every operation of the secrets and ssh-keys tags
// that addresses one secret or key, as bob against alice's: each is a 404 with the body of
// a secret or key that does not exist, and alice's are untouched.
func TestSecretsWalkAsAnotherDeveloper(t *testing.T) {
	f := newAuthFixture(t)
	expect(t, f.as(t, f.alice, "POST", "/v1/secrets", `{"secret":{"name":"alices","data":{"k":"v"}}}`), 201)
	expect(t, f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", ""), 201)
	ops := specOperations(t, map[string]string{"app": "x", "route": "x", "id": "x", "api": "x", "name": "alices", "user_id": "alice", "key": "x"})
	walked := 0
	for _, o := range ops {
		if !strings.HasPrefix(o.template, "/secrets/") && !strings.HasPrefix(o.template, "/users/") {
			continue
		}
		walked++
		res := f.as(t, f.bob, o.method, o.path, body(t, o))
		missingPath := strings.NewReplacer("/secrets/alices", "/secrets/nothing", "/users/alice/", "/users/bob/").Replace(o.path)
		want := f.as(t, f.bob, "GET", missingPath, "")
		wantRaw := strings.NewReplacer("nothing", "alices", "bob", "alice").Replace(want.raw)
		if res.status != http.StatusNotFound || want.status != http.StatusNotFound || res.raw != wantRaw {
			t.Errorf("%s as bob: %d %s, want the 404 of a missing one: %s", o.id, res.status, res.raw, wantRaw)
		}
	}
	if walked != 6 {
		t.Errorf("%d operations walked, want 6 (3 of /secrets/{name}, 3 of /users/{user_id}/ssh-key)", walked)
	}
	res := f.as(t, f.alice, "GET", "/v1/secrets/alices", "")
	if expect(t, res, 200); get(res.body, "secret", "version") != 1.0 {
		t.Errorf("alice's secret changed: %s", res.raw)
	}
	res = f.as(t, f.alice, "GET", "/v1/users/alice/ssh-key", "")
	if expect(t, res, 200); get(res.body, "ssh_key", "version") != 1.0 {
		t.Errorf("alice's key changed: %s", res.raw)
	}
	waasCall(t, f.h, bearer(f.bob), "POST", "/waas/users/alice/ssh-key", "").expectError(t, 404, "not_found", "alice")
}
