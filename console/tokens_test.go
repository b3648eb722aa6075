package console

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

var secretInput = regexp.MustCompile(`id="token-secret"[^>]*value="([^"]+)"`)

func TestTokenPages(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	admin, alice, bob := tc.signedIn("admin"), tc.signedIn("alice"), tc.signedIn("bob")
	tokenOf := func(user, name string) store.Token {
		t.Helper()
		toks, _, err := tc.store.ListTokens(context.Background(), store.TokenFilter{User: user}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			if tok.Name == name {
				return tok
			}
		}
		t.Fatalf("no token %q of %s", name, user)
		return store.Token{}
	}
	signInWith := func(secret string) page {
		b := tc.browser()
		return b.postForm("/ui/login", url.Values{"token": {secret}, "next": {"/ui/apis"}}, b.csrfFrom("/ui/login"))
	}

	t.Run("the form offers the roles the caller may grant", func(t *testing.T) {
		p := alice.get("/ui/tokens/new")
		if p.status != http.StatusOK || !strings.Contains(p.body, `id="token-name"`) || !strings.Contains(p.body, `id="create-token"`) ||
			!strings.Contains(p.body, `<option value="developer" selected>`) || strings.Contains(p.body, `value="admin"`) || strings.Contains(p.body, `id="token-user"`) {
			t.Fatalf("alice: %d\n%s", p.status, p.body)
		}
		if p := admin.get("/ui/tokens/new"); !strings.Contains(p.body, `<option value="admin">`) || !strings.Contains(p.body, `id="token-user"`) || !strings.Contains(p.body, `id="token-expires"`) {
			t.Fatalf("admin:\n%s", p.body)
		}
	})

	t.Run("create: the secret shown once, and it works", func(t *testing.T) {
		p := alice.postForm("/ui/tokens", url.Values{"name": {"ci deploys"}, "role": {"developer"}, "expires": {"24h"}}, alice.csrfFrom("/ui/tokens/new"))
		m := secretInput.FindStringSubmatch(p.body)
		if p.status != http.StatusCreated || m == nil || !strings.HasPrefix(m[1], "gantry_") {
			t.Fatalf("create: %d\n%s", p.status, p.body)
		}
		secret := m[1]
		if cc := p.header.Get("Cache-Control"); cc != "no-store" || p.header.Get("Location") != "" {
			t.Fatalf("headers %v", p.header)
		}
		for _, ck := range p.header["Set-Cookie"] {
			if strings.Contains(ck, secret) {
				t.Fatalf("secret in a cookie: %s", ck)
			}
		}
		list := alice.get("/ui/tokens")
		if list.status != http.StatusOK || !strings.Contains(list.body, "ci deploys") || strings.Contains(list.body, secret) || strings.Contains(list.body, `id="token-secret"`) {
			t.Fatalf("list after create: %d\n%s", list.status, list.body)
		}
		if tok := tokenOf("alice", "ci deploys"); tok.ExpiresAt == nil || tok.Role != "developer" {
			t.Fatalf("stored %+v", tok)
		}
		if p := signInWith(secret); p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/apis" {
			t.Fatalf("sign in with the new token: %d\n%s", p.status, p.body)
		}
	})

	refused := []struct {
		name   string
		b      *browser
		form   url.Values
		status int
		want   []string
	}{
		{"a developer asks for an admin token", alice, url.Values{"name": {"root"}, "role": {"admin"}}, http.StatusForbidden,
			[]string{"a developer may only create developer tokens", `value="root"`}},
		{"a developer asks for another's token", alice, url.Values{"name": {"sneaky"}, "role": {"developer"}, "user": {"bob"}}, http.StatusForbidden,
			[]string{"a developer may only create developer tokens"}},
		{"no name", admin, url.Values{"name": {""}, "role": {"developer"}, "user": {"svc"}}, http.StatusBadRequest,
			[]string{"token.name is required", "field: token.name", `value="svc"`}},
		{"an expiry not offered", admin, url.Values{"name": {"x"}, "expires": {"soon"}}, http.StatusBadRequest, []string{"field: token.expires_at"}},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			p := tt.b.postForm("/ui/tokens", tt.form, tt.b.csrfFrom("/ui/tokens/new"))
			if p.status != tt.status || strings.Contains(p.body, `id="token-secret"`) {
				t.Fatalf("got %d, want %d\n%s", p.status, tt.status, p.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("no %q in\n%s", w, p.body)
				}
			}
		})
	}

	t.Run("an admin creates a token for a service account", func(t *testing.T) {
		p := admin.postForm("/ui/tokens", url.Values{"name": {"robot"}, "role": {"admin"}, "user": {"svc-ci"}, "expires": {""}}, admin.csrfFrom("/ui/tokens/new"))
		if p.status != http.StatusCreated || !strings.Contains(p.body, "svc-ci") {
			t.Fatalf("%d\n%s", p.status, p.body)
		}
		if tok := tokenOf("svc-ci", "robot"); tok.Role != "admin" || tok.ExpiresAt != nil {
			t.Fatalf("stored %+v", tok)
		}
	})

	t.Run("who sees which tokens", func(t *testing.T) {
		p := admin.get("/ui/tokens")
		if !strings.Contains(p.body, "test alice") || !strings.Contains(p.body, "test bob") || !strings.Contains(p.body, `id="user"`) {
			t.Fatalf("admin:\n%s", p.body)
		}
		p = admin.get("/ui/tokens?user=bob")
		if !strings.Contains(p.body, "test bob") || strings.Contains(p.body, "test alice") || strings.Contains(p.body, "ci deploys") {
			t.Fatalf("admin, user=bob:\n%s", p.body)
		}
		p = bob.get("/ui/tokens")
		if !strings.Contains(p.body, "test bob") || strings.Contains(p.body, "test alice") || strings.Contains(p.body, `id="user"`) {
			t.Fatalf("bob:\n%s", p.body)
		}
		if !strings.Contains(p.body, "this session") || strings.Count(p.body, `class="danger revoke-token"`) != 1 {
			t.Fatalf("bob's own session token:\n%s", p.body)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		tok := tokenOf("alice", "ci deploys")
		if p := bob.postForm("/ui/tokens/"+tok.ID+"/revoke", url.Values{}, bob.csrfFrom("/ui/tokens")); p.status != http.StatusNotFound {
			t.Fatalf("bob revokes alice's: %d\n%s", p.status, p.body)
		}
		if p := alice.get("/ui/tokens"); !strings.Contains(p.body, "/ui/tokens/"+tok.ID+"/revoke") || !strings.Contains(p.body, "hx-confirm=") {
			t.Fatalf("no revoke form:\n%s", p.body)
		}
		p := alice.postForm("/ui/tokens/"+tok.ID+"/revoke", url.Values{}, alice.csrfFrom("/ui/tokens"))
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/tokens" {
			t.Fatalf("revoke: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
		}
		if p := alice.get("/ui/tokens"); p.status != http.StatusOK || strings.Contains(p.body, "ci deploys") {
			t.Fatalf("alice signed out, or the token still listed: %d\n%s", p.status, p.body)
		}
		if _, err := tc.store.GetToken(context.Background(), tok.ID); err == nil {
			t.Fatal("still stored")
		}
	})

	t.Run("revoking the token of your own session signs you out", func(t *testing.T) {
		tc.tokens["dora"] = tc.makeToken("dora", "developer", "")
		dora := tc.signedIn("dora")
		tok := tokenOf("dora", "test dora")
		p := dora.postForm("/ui/tokens/"+tok.ID+"/revoke", url.Values{}, dora.csrfFrom("/ui/tokens"))
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login" {
			t.Fatalf("revoke own: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
		}
		if p := dora.get("/ui/tokens"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/ui/login") {
			t.Fatalf("next request: %d %q", p.status, p.header.Get("Location"))
		}
		if p := signInWith(tc.tokens["dora"]); p.status != http.StatusUnauthorized {
			t.Fatalf("sign in with the revoked token: %d", p.status)
		}
	})
}
