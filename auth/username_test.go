package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gantry-dev/gantry/store"
)

// TestOIDCUserNamesFollowTheUserNameRule: the name an OIDC token maps to, prefix included,
// follows store.ValidateUserName, the rule of token users and owners: a token whose
// username claim breaks it is refused (401) with a message that says so, before it can own
// anything; one that keeps it is accepted, and is a valid token user.
func TestOIDCUserNamesFollowTheUserNameRule(t *testing.T) {
	p := startProvider(t)
	tests := []struct {
		name   string
		claim  any
		prefix string
		want   string // the identity's name; "" when the token must be refused
	}{
		{"an email address is a user name", "ada@example.com", "oidc:", "oidc:ada@example.com"},
		{"a name of 255 bytes with its prefix is a user name", strings.Repeat("a", 250), "oidc:", "oidc:" + strings.Repeat("a", 250)},
		{"a name with ../ is refused", "../../x", "oidc:", ""},
		{"a name with a slash is refused", "team/ada", "oidc:", ""},
		{"a name with a newline is refused", "ada\nadmin", "oidc:", ""},
		{"a name with a space is refused", "ada lovelace", "oidc:", ""},
		{"a name with a tab is refused", "ada\tx", "oidc:", ""},
		{"a name with a non-ASCII letter is refused", "zoë", "oidc:", ""},
		{"a name too long with its prefix is refused", strings.Repeat("a", 251), "oidc:", ""},
		{"a name too long without a prefix is refused", strings.Repeat("a", 256), "", ""},
		{"an empty name is refused", "", "oidc:", ""},
		{"an empty name without a prefix is refused", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newTestOIDC(t, p.Issuer(), p.ClientID, func(c *OIDCConfig) { c.UsernamePrefix = tt.prefix })
			id, err := o.Verify(t.Context(), p.token(t, func(c jwt.MapClaims) { c["email"] = tt.claim }))
			if tt.want == "" {
				if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), `"email" claim is not a valid Gantry user name`) {
					t.Fatalf("Verify() = %+v, %v; want it refused: the claim is not a valid Gantry user name", id, err)
				}
				return
			}
			if err != nil || id.Name != tt.want {
				t.Fatalf("Verify() = %q, %v; want %q", id.Name, err, tt.want)
			}
			if err := store.ValidateUserName(id.Name); err != nil {
				t.Fatalf("an accepted name breaks the user name rule: %v", err)
			}
		})
	}
}
