package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// TestGantryCredentialsInAnyFormNeverReachAFunction calls open routes of each format, and a
// public gateway API, with a Gantry API token and a JWT of the server's identity source in
// every form a credential header can carry them (Basic user or password, Bearer, another
// scheme, bare, Proxy-Authorization): the function reports the headers it saw, and none holds
// the credential. A credential of the function's own reaches it, so the report is trusted.
func TestGantryCredentialsInAnyFormNeverReachAFunction(t *testing.T) {
	t.Parallel()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	s := startServer(t, t.TempDir(), "GANTRY_OIDC_ISSUER="+idp.Issuer(), "GANTRY_OIDC_AUDIENCE="+idp.ClientID)
	plain, _ := s.gatewayAddrs(t)
	alice := createToken(t, s, "alice", "developer")
	now := time.Now()
	erin, err := idp.Keypair.SignJWT(jwt.MapClaims{"iss": idp.Issuer(), "aud": idp.ClientID, "sub": "erin", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	for _, format := range []string{"default", "http", "json"} {
		s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/`+format+`","image":"`+imgTestfn+`","format":"`+format+`"}}`, 201)
	}
	s.mustCall(t, "POST", "/v1/apis", `{"api":{"name":"creds","function":{"app":"a","route":"/default"},"hosts":["creds.test"],"uris":["/"]}}`, 201)
	gateway := func(t *testing.T, header ...string) (*http.Response, string) {
		return gatewayCall(t, plain, "POST", "creds.test", "/", `{"request":true}`, header...)
	}
	eventually(t, "new API", func() error {
		if res, raw := gateway(t); res.StatusCode != 200 {
			return &httpError{res.StatusCode, raw}
		}
		return nil
	})

	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	type call struct {
		name   string
		header []string
	}
	var calls []call
	for _, cred := range []struct{ name, secret string }{{"an API token", alice}, {"an OIDC token", erin}} {
		for _, form := range []struct{ name, header, value string }{
			{"as the Basic password", "Authorization", "Basic " + b64("x:"+cred.secret)},
			{"as the Basic user", "Authorization", "Basic " + b64(cred.secret+":")},
			{"as the Basic user with a password", "Authorization", "Basic " + b64(cred.secret+":pw")},
			{"as a bearer token", "Authorization", "Bearer " + cred.secret},
			{"under another scheme", "Authorization", "Token " + cred.secret},
			{"bare", "Authorization", cred.secret},
			{"in Proxy-Authorization as the Basic password", "Proxy-Authorization", "Basic " + b64("x:"+cred.secret)},
		} {
			calls = append(calls, call{cred.name + " " + form.name, []string{form.header, form.value}})
		}
	}
	own := "Basic " + b64("ann:open-sesame")
	targets := []struct {
		name string
		send func(t *testing.T, header ...string) (*http.Response, string)
	}{
		{"the default format", func(t *testing.T, h ...string) (*http.Response, string) {
			return s.callWith(t, "POST", "/r/a/default", `{"request":true}`, h...)
		}},
		{"the http format", func(t *testing.T, h ...string) (*http.Response, string) {
			return s.callWith(t, "POST", "/r/a/http", `{"request":true}`, h...)
		}},
		{"the json format", func(t *testing.T, h ...string) (*http.Response, string) {
			return s.callWith(t, "POST", "/r/a/json", `{"request":true}`, h...)
		}},
		{"a public gateway API", gateway},
	}
	for _, target := range targets {
		t.Run("a credential of the function's own reaches "+target.name, func(t *testing.T) {
			res, body := target.send(t, "Authorization", own)
			if res.StatusCode != 200 || !strings.Contains(body, own) {
				t.Fatalf("%d: the function did not see its own Authorization: %s", res.StatusCode, body)
			}
		})
		for _, c := range calls {
			t.Run(c.name+" never reaches "+target.name, func(t *testing.T) {
				res, body := target.send(t, c.header...)
				if res.StatusCode != 200 {
					t.Fatalf("%d %s", res.StatusCode, body)
				}
				if strings.Contains(body, c.header[1]) || strings.Contains(body, alice) || strings.Contains(body, erin) {
					t.Fatalf("the function saw %s: %s", c.header[0], body)
				}
			})
		}
	}
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.body }
