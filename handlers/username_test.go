package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store/bolt"
)

// TestUserNamesFollowOneRule: whatever its source, a user name follows store.ValidateUserName.
// An OIDC token (from a real provider, mockoidc) whose username claim breaks it is refused
// with a 401 saying so, and owns nothing; one that keeps it works and can make API tokens.
// An admin cannot give an app or an API to a name that breaks it (400).
func TestUserNamesFollowOneRule(t *testing.T) {
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	s, err := bolt.Open(context.Background(), t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	oidc, err := auth.NewOIDC(auth.OIDCConfig{Issuer: idp.Issuer(), Audience: idp.ClientID, UsernamePrefix: "oidc:"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Deps{Store: s, Auth: auth.NewAuthenticator(s, oidc)}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	f := &authFixture{h: h, s: s}
	f.admin, _ = makeToken(t, s, "admin", auth.RoleAdmin, nil)
	jwtFor := func(sub string) string {
		now := time.Now()
		tok, err := idp.Keypair.SignJWT(jwt.MapClaims{"iss": idp.Issuer(), "aud": idp.ClientID, "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("an OIDC user with a valid name owns apps and makes tokens", func(t *testing.T) {
		tok := jwtFor("ada@example.com")
		res := f.as(t, tok, "GET", "/v1/auth/whoami", "")
		expect(t, res, http.StatusOK)
		if get(res.body, "principal", "name") != "oidc:ada@example.com" {
			t.Fatalf("whoami: %s", res.raw)
		}
		expect(t, f.as(t, tok, "POST", "/v1/apps", `{"app":{"name":"adas"}}`), http.StatusCreated)
		expect(t, f.as(t, tok, "POST", "/v1/auth/tokens", `{"token":{"name":"laptop"}}`), http.StatusCreated)
	})
	for _, c := range []struct{ name, sub string }{
		{"a claim with ../ is refused", "../../x"},
		{"a claim with a newline is refused", "ada\nadmin"},
		{"a claim with a space is refused", "ada lovelace"},
		{"a claim too long for a user name is refused", strings.Repeat("a", 251)},
		{"an empty claim is refused", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := jwtFor(c.sub)
			for _, req := range []struct{ method, path, body string }{
				{"GET", "/v1/auth/whoami", ""},
				{"POST", "/v1/apps", `{"app":{"name":"bad-owner"}}`},
				{"POST", "/v1/auth/tokens", `{"token":{"name":"laptop"}}`},
			} {
				res := f.as(t, tok, req.method, req.path, req.body)
				msg, _ := get(res.body, "error", "message").(string)
				if res.status != http.StatusUnauthorized || !strings.Contains(msg, `"sub" claim is not a valid Gantry user name`) {
					t.Errorf("%s %s: %d %s, want 401 saying the username claim is not a valid Gantry user name", req.method, req.path, res.status, res.raw)
				}
			}
			expect(t, f.as(t, f.admin, "GET", "/v1/apps/bad-owner", ""), http.StatusNotFound)
		})
	}

	expect(t, f.as(t, f.admin, "POST", "/v1/apps", `{"app":{"name":"given"}}`), http.StatusCreated)
	expect(t, f.as(t, f.admin, "POST", "/v1/apis", `{"api":{"name":"given","function":{"app":"given","route":"/x"},"uris":["/given"]}}`), http.StatusCreated)
	for _, c := range []struct {
		name, owner string
		want        int
	}{
		{"an app given to a valid user name changes hands", "oidc:ada@example.com", http.StatusOK},
		{"an app given to a name with a space is refused", "bob smith", http.StatusBadRequest},
		{"an app given to a name with ../ is refused", "oidc:../../x", http.StatusBadRequest},
		{"an app given to a name with a newline is refused", "bob\nadmin", http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []struct{ method, path, body, field string }{
				{"PATCH", "/v1/apps/given", `{"app":{"owner":%q}}`, "app.owner"},
				{"PUT", "/v1/apps/given", `{"app":{"owner":%q}}`, "app.owner"},
				{"PATCH", "/v1/apis/given", `{"api":{"owner":%q}}`, "api.owner"},
			} {
				res := f.as(t, f.admin, r.method, r.path, strings.Replace(r.body, "%q", jsonString(c.owner), 1))
				if res.status != c.want {
					t.Errorf("%s %s owner %q: %d %s, want %d", r.method, r.path, c.owner, res.status, res.raw, c.want)
				}
				if fields, _ := get(res.body, "error", "fields").(string); c.want == http.StatusBadRequest && fields != r.field {
					t.Errorf("%s %s owner %q: fields %q, want %q", r.method, r.path, c.owner, fields, r.field)
				}
			}
		})
	}
}
