package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func TestSignIn(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	t.Run("a page without a session sends the visitor to sign in, and back after", func(t *testing.T) {
		b := tc.browser()
		p := b.get("/ui/apps?owner=alice")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/apps?owner=alice") {
			t.Fatalf("got %d %q", p.status, p.header.Get("Location"))
		}
		csrf := b.csrfFrom("/ui/login")
		p = b.postForm("/ui/login", url.Values{"token": {tc.tokens["alice"]}, "next": {"/ui/apps?owner=alice"}}, csrf)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/apps?owner=alice" {
			t.Fatalf("sign in: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
		}
		if p := b.get("/ui/apps"); p.status != http.StatusOK || !strings.Contains(p.body, "alice") {
			t.Fatalf("after sign-in: %d\n%s", p.status, p.body)
		}
	})
	t.Run("the session cookie is HttpOnly and SameSite=Strict and carries no token", func(t *testing.T) {
		b := tc.browser()
		csrf := b.csrfFrom("/ui/login")
		form := url.Values{"token": {tc.tokens["alice"]}, "next": {"/ui/"}, "csrf": {csrf}}
		req, _ := http.NewRequest(http.MethodPost, tc.srv.URL+"/ui/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var found bool
		for _, ck := range res.Cookies() {
			if ck.Name != sessionCookie {
				continue
			}
			found = true
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Value == tc.tokens["alice"] || strings.Contains(ck.Value, "gantry_") {
				t.Fatalf("cookie %+v", ck)
			}
		}
		if !found {
			t.Fatalf("no session cookie in %v", res.Header["Set-Cookie"])
		}
	})
	t.Run("a wrong token is refused on the sign-in page, naming the field", func(t *testing.T) {
		b := tc.browser()
		p := b.postForm("/ui/login", url.Values{"token": {"gantry_nope"}}, b.csrfFrom("/ui/login"))
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "not valid") || !strings.Contains(p.body, "field: token") {
			t.Fatalf("got %d\n%s", p.status, p.body)
		}
	})
	t.Run("a sign-in without the anti-forgery token is refused", func(t *testing.T) {
		b := tc.browser()
		b.csrfFrom("/ui/login") // has the cookie, does not send it back
		p := b.postForm("/ui/login", url.Values{"token": {tc.tokens["alice"]}}, "")
		if p.status != http.StatusForbidden {
			t.Fatalf("got %d\n%s", p.status, p.body)
		}
	})
	t.Run("a forged session cookie gets the sign-in page, never a 500", func(t *testing.T) {
		b := tc.browser()
		u, _ := url.Parse(tc.srv.URL + "/ui/")
		b.jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: strings.Repeat("A", 43), Path: "/ui/"}})
		if p := b.get("/ui/apps"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/ui/login") {
			t.Fatalf("got %d %q", p.status, p.header.Get("Location"))
		}
	})
	t.Run("sign-out ends the session on the server", func(t *testing.T) {
		b := tc.signedIn("alice")
		old := b.jar.Cookies(mustURL(tc.srv.URL + "/ui/"))
		p := b.postForm("/ui/logout", url.Values{}, b.csrfFrom("/ui/apps"))
		if p.status != http.StatusSeeOther {
			t.Fatalf("sign out: %d\n%s", p.status, p.body)
		}
		replay := tc.browser() // the old cookie, replayed
		replay.jar.SetCookies(mustURL(tc.srv.URL+"/ui/"), old)
		if p := replay.get("/ui/apps"); p.status != http.StatusSeeOther {
			t.Fatalf("old cookie after sign-out: %d", p.status)
		}
	})
	t.Run("revoking the token ends its sessions", func(t *testing.T) {
		secret := tc.makeToken("carol", "developer", "")
		tc.tokens["carol"] = secret
		b := tc.signedIn("carol")
		if p := b.get("/ui/apps"); p.status != http.StatusOK {
			t.Fatalf("before: %d", p.status)
		}
		toks, _, err := tc.store.ListTokens(context.Background(), store.TokenFilter{User: "carol"}, store.Page{Limit: 10})
		if err != nil || len(toks) != 1 {
			t.Fatal(err, len(toks))
		}
		if _, err := tc.store.DeleteToken(context.Background(), toks[0].ID); err != nil {
			t.Fatal(err)
		}
		if p := b.get("/ui/apps"); p.status != http.StatusSeeOther {
			t.Fatalf("after revoke: %d", p.status)
		}
	})
	t.Run("an expired session gets the sign-in page", func(t *testing.T) {
		b := tc.signedIn("alice")
		tc.console.now = func() time.Time { return time.Now().Add(MaxSession + time.Hour) }
		defer func() { tc.console.now = time.Now }()
		if p := b.get("/ui/apps"); p.status != http.StatusSeeOther {
			t.Fatalf("got %d", p.status)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	b := tc.signedIn("alice")
	for _, path := range []string{"/ui/login", "/ui/apps", "/ui/nowhere"} {
		p := b.get(path)
		csp := p.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || p.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") {
			t.Errorf("%s: inline script or style", path)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
