package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// jwkJSON returns the JSON of key as a JWK with kid, use and alg.
func jwkJSON(t *testing.T, key any, kid, use, alg string) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Use: use, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func randomB64(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestParseKeySet(t *testing.T) {
	a, b := randomKeypair(t), randomKeypair(t)
	good := jwkJSON(t, a.PublicKey, "a", "sig", "RS256")
	unusable := map[string]string{
		"Ed448 key":         `{"kty":"OKP","crv":"Ed448","x":"` + randomB64(t, 57) + `","kid":"ed448"}`,
		"secp256k1 key":     `{"kty":"EC","crv":"secp256k1","alg":"ES256K","x":"` + randomB64(t, 32) + `","y":"` + randomB64(t, 32) + `","kid":"k1"}`,
		"symmetric key":     `{"kty":"oct","k":"` + randomB64(t, 32) + `","kid":"hmac"}`,
		"private key":       jwkJSON(t, b.PrivateKey, "private", "sig", "RS256"),
		"RSA key without n": `{"kty":"RSA","e":"AQAB","kid":"no-n"}`,
		"unknown kty":       `{"kty":"XYZ","kid":"xyz"}`,
		"not an object":     `42`,
	}
	t.Run("keeps usable keys, skips the others", func(t *testing.T) {
		members := []string{good}
		for _, u := range unusable {
			members = append(members, u)
		}
		members = append(members, jwkJSON(t, b.PublicKey, "b", "", ""))
		set, err := parseKeySet([]byte(`{"keys":[` + strings.Join(members, ",") + `]}`))
		if err != nil {
			t.Fatalf("parseKeySet() error = %v", err)
		}
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.KeyID)
		}
		if !slices.Equal(kids, []string{"a", "b"}) {
			t.Errorf("kept keys %q, want [a b]", kids)
		}
	})
	errs := map[string]string{
		"not JSON":        `<html>busy</html>`,
		"no keys member":  `{}`,
		"no keys":         `{"keys":[]}`,
		"keys not a list": `{"keys":{}}`,
	}
	for name, u := range unusable {
		errs["only: "+name] = `{"keys":[` + u + `]}`
	}
	for name, body := range errs {
		t.Run(name, func(t *testing.T) {
			if set, err := parseKeySet([]byte(body)); err == nil {
				t.Errorf("parseKeySet() = %d keys, want an error", len(set.Keys))
			}
		})
	}
}

func TestVerifyWith(t *testing.T) {
	k, other := randomKeypair(t), randomKeypair(t)
	claims := jwt.MapClaims{"sub": "u-1"}
	withKid := sign(t, k, claims) // kid k.Kid, RS256
	noKid, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(k.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	key := func(kp any, kid, use, alg string) jose.JSONWebKey {
		return jose.JSONWebKey{Key: kp, KeyID: kid, Use: use, Algorithm: alg}
	}
	tests := []struct {
		name string
		raw  string
		keys []jose.JSONWebKey
		want bool
	}{
		{"kid and key match", withKid, []jose.JSONWebKey{key(k.PublicKey, k.Kid, "sig", "RS256")}, true},
		{"no use, no alg", withKid, []jose.JSONWebKey{key(k.PublicKey, k.Kid, "", "")}, true},
		{"among others", withKid, []jose.JSONWebKey{key(other.PublicKey, other.Kid, "", ""), key(k.PublicKey, k.Kid, "", "")}, true},
		{"same kid twice, second key right", withKid, []jose.JSONWebKey{key(other.PublicKey, k.Kid, "", ""), key(k.PublicKey, k.Kid, "", "")}, true},
		{"key under another kid", withKid, []jose.JSONWebKey{key(k.PublicKey, "other", "", "")}, false},
		{"other key under the kid", withKid, []jose.JSONWebKey{key(other.PublicKey, k.Kid, "", "")}, false},
		{"key for encryption", withKid, []jose.JSONWebKey{key(k.PublicKey, k.Kid, "enc", "")}, false},
		{"key for another alg", withKid, []jose.JSONWebKey{key(k.PublicKey, k.Kid, "sig", "RS384")}, false},
		{"no kid: every key tried", noKid, []jose.JSONWebKey{key(other.PublicKey, "x", "", ""), key(k.PublicKey, "y", "", "")}, true},
		{"no kid, no right key", noKid, []jose.JSONWebKey{key(other.PublicKey, "x", "", "")}, false},
		{"empty set", withKid, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jws, err := jose.ParseSigned(tt.raw, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			payload, ok := verifyWith(jws, &jose.JSONWebKeySet{Keys: tt.keys})
			if ok != tt.want {
				t.Fatalf("verifyWith() = %v, want %v", ok, tt.want)
			}
			if ok && !strings.Contains(string(payload), `"sub":"u-1"`) {
				t.Errorf("payload = %s", payload)
			}
		})
	}
}

func TestSigningAlgs(t *testing.T) {
	tests := []struct {
		advertised, want []string
	}{
		{nil, []string{"RS256"}},
		{[]string{"RS256"}, []string{"RS256"}},
		{[]string{"ES256", "RS256", "ES256"}, []string{"ES256", "RS256"}},
		{[]string{"none", "HS256", "PS512", "EdDSA"}, []string{"PS512", "EdDSA"}},
		{[]string{"none", "HS256"}, []string{"RS256"}},
	}
	for _, tt := range tests {
		if got := signingAlgs(tt.advertised); !slices.Equal(got, tt.want) {
			t.Errorf("signingAlgs(%q) = %q, want %q", tt.advertised, got, tt.want)
		}
	}
}
