package auth

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestRecognizesGantryCredentialsInAnyForm: a Gantry API token, or a JWT of the server's
// identity source, is recognised in whatever form a header value carries it, so that it
// never reaches a function; other credentials are not, so that they do.
func TestRecognizesGantryCredentialsInAnyForm(t *testing.T) {
	p := startProvider(t)
	other := startProvider(t)
	tok, _ := NewSecret("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	jwtOurs := p.token(t, nil)
	jwtOther := other.token(t, nil)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name, value string
		apiToken    bool // HasAPIToken, which works without an identity source (authentication off)
		recognised  bool // Recognizes, with p as the identity source
	}{
		{"a bearer API token is Gantry's", "Bearer " + tok, true, true},
		{"a bare API token is Gantry's", tok, true, true},
		{"an API token under any scheme is Gantry's", "Token " + tok, true, true},
		{"an API token as a quoted auth-param is Gantry's", `Custom token="` + tok + `"`, true, true},
		{"an API token as the Basic password is Gantry's", "Basic " + b64([]byte("x:"+tok)), true, true},
		{"an API token as the Basic user is Gantry's", "Basic " + b64([]byte(tok+":")), true, true},
		{"an API token as the Basic user with a password is Gantry's", "Basic " + b64([]byte(tok+":pw")), true, true},
		{"an API token as Basic credentials without a colon is Gantry's", "Basic " + b64([]byte(tok)), true, true},
		{"an API token in Basic without padding is Gantry's", "basic " + strings.TrimRight(b64([]byte("ab:"+tok)), "="), true, true},
		{"an API token in Basic in URL-safe base64 is Gantry's", "Basic " + base64.URLEncoding.EncodeToString([]byte("x:"+tok)), true, true},
		{"an API token after another credential in one value is Gantry's", "Basic " + b64([]byte("ann:pw")) + ", Basic " + b64([]byte("x:"+tok)), true, true},
		{"an API token as the password of a Latin-1 Basic user is Gantry's", "Basic " + b64([]byte("Zo\xeb:"+tok)), true, true},
		{"an API token in Basic padded with spaces is Gantry's", "  Basic   " + b64([]byte("x:"+tok)) + "  ", true, true},
		{"a bearer JWT of the identity source is Gantry's", "Bearer " + jwtOurs, false, true},
		{"a bare JWT of the identity source is Gantry's", jwtOurs, false, true},
		{"a JWT of the identity source under any scheme is Gantry's", "JWT " + jwtOurs, false, true},
		{"a JWT of the identity source as the Basic password is Gantry's", "Basic " + b64([]byte("x:"+jwtOurs)), false, true},
		{"a JWT of the identity source as the Basic user is Gantry's", "Basic " + b64([]byte(jwtOurs+":pw")), false, true},
		{"a JWT of the identity source as Basic credentials without a colon is Gantry's", "Basic " + b64([]byte(jwtOurs)), false, true},
		{"a JWT of the identity source after another credential is Gantry's", "Bearer x, Bearer " + jwtOurs, false, true},
		{"a JWT of another issuer is the function's", "Bearer " + jwtOther, false, false},
		{"a JWT of another issuer in Basic is the function's", "Basic " + b64([]byte("x:"+jwtOther)), false, false},
		{"a Basic user and password are the function's", "Basic " + b64([]byte("ann:open-sesame")), false, false},
		{"a bearer token of the function's is the function's", "Bearer the-function's-own", false, false},
		{"a Basic value that is not base64 is the function's", "Basic !!!not base64", false, false},
		{"an empty value is nobody's", "", false, false},
	}
	a := NewAuthenticator(nil, newTestOIDC(t, p.Issuer(), p.ClientID, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HasAPIToken(tt.value); got != tt.apiToken {
				t.Errorf("HasAPIToken(%q) = %v, want %v", tt.value, got, tt.apiToken)
			}
			if got := a.Recognizes(tt.value); got != tt.recognised {
				t.Errorf("Recognizes(%q) = %v, want %v", tt.value, got, tt.recognised)
			}
		})
	}
}
