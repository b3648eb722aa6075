package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/store/bolt"
)

// TestOIDCSignIn signs in through a real (in-process) OIDC provider: the authorization
// code flow with PKCE, the ID token verified as the API verifies Bearer tokens.
func TestOIDCSignIn(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	ctx := context.Background()
	st, err := bolt.Open(ctx, t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	idp, err := auth.NewOIDC(auth.OIDCConfig{Issuer: m.Issuer(), Audience: m.ClientID, UsernameClaim: "email", AdminGroup: "ops", UsernamePrefix: "oidc:"})
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(st, idp)
	api, err := handlers.New(handlers.Deps{Store: st, Auth: authn}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ctx, Config{API: api, Sessions: st, Auth: authn, OIDC: &OIDCConfig{
		Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret,
		Verify: func(ctx context.Context, raw string) (auth.Identity, error) {
			return authn.Authenticate(ctx, "Bearer "+raw)
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)

	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	get := func(hc *http.Client, u string) (*http.Response, string) {
		t.Helper()
		res, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	t.Run("the sign-in page offers the identity source", func(t *testing.T) {
		_, body := get(newClient(), srv.URL+"/ui/login")
		if !strings.Contains(body, `id="sign-in-oidc"`) {
			t.Fatalf("no OIDC button:\n%s", body)
		}
	})
	t.Run("the code flow with PKCE opens a session as the identity source's user", func(t *testing.T) {
		m.QueueUser(&mockoidc.MockUser{Subject: "s-1", Email: "ada@example.com", Groups: []string{"ops"}})
		var challenge string
		hc := newClient()
		hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), m.AuthorizationEndpoint()) {
				challenge = req.URL.Query().Get("code_challenge_method")
			}
			return nil
		}
		res, body := get(hc, srv.URL+"/ui/login/oidc?next="+url.QueryEscape("/ui/apps"))
		// The callback answers a page of its own that goes on with a same-site navigation:
		// a redirect from the identity source's navigation would not carry the Strict cookie.
		if res.Request.URL.Path != "/ui/login/oidc/callback" || res.StatusCode != http.StatusOK ||
			!strings.Contains(body, `<meta http-equiv="refresh" content="0;url=/ui/apps">`) {
			t.Fatalf("ended at %s: %d\n%s", res.Request.URL, res.StatusCode, body)
		}
		res, body = get(hc, srv.URL+"/ui/apps")
		if res.Request.URL.Path != "/ui/apps" || res.StatusCode != http.StatusOK {
			t.Fatalf("then at %s: %d\n%s", res.Request.URL, res.StatusCode, body)
		}
		if challenge != "S256" {
			t.Fatalf("code_challenge_method %q, want S256", challenge)
		}
		if !strings.Contains(body, "oidc:ada@example.com") || !strings.Contains(body, ">admin<") {
			t.Fatalf("the page does not show the OIDC admin:\n%s", body)
		}
	})
	t.Run("a callback with another sign-in's state is refused", func(t *testing.T) {
		hc := newClient()
		hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), m.AuthorizationEndpoint()) {
				return http.ErrUseLastResponse
			}
			return nil
		}
		res, _ := get(hc, srv.URL+"/ui/login/oidc") // sets the pending sign-in cookie
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("start: %d", res.StatusCode)
		}
		res, body := get(hc, srv.URL+"/ui/login/oidc/callback?code=x&state=forged")
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another sign-in") {
			t.Fatalf("forged state: %d\n%s", res.StatusCode, body)
		}
		res, _ = get(hc, srv.URL+"/ui/apps")
		if res.Request.URL.Path != "/ui/login" {
			t.Fatalf("a session was opened: %s", res.Request.URL)
		}
	})
}
