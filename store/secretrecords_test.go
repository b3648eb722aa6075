package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSecretValidate checks the rules of a secret's record; storetest checks that every
// backend applies them in its writes.
func TestSecretValidate(t *testing.T) {
	ok := func(mod func(*Secret)) Secret {
		s := Secret{Name: "db-password", Kind: SecretKindSecret, Owner: "ann", Path: "secrets/db-password", Version: 1}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	for _, tt := range []struct {
		name  string
		s     Secret
		field string // "" : valid
	}{
		{"a function secret is valid", ok(nil), ""},
		{"a record not committed yet, pending a put, is valid", ok(func(s *Secret) {
			s.Version, s.Pending = 0, &SecretPending{Op: SecretOpPut, Since: time.Now()}
		}), ""},
		{"a secret without an owner is valid", ok(func(s *Secret) { s.Owner = "" }), ""},
		{"an SSH key named for its user is valid", ok(func(s *Secret) { s.Kind, s.Name = SecretKindSSHKey, SSHKeySecretName("oidc:ann@example.com") }), ""},
		{"a TLS key named for its API is valid", ok(func(s *Secret) { s.Kind, s.Name = SecretKindTLSKey, TLSKeySecretName("shop-api") }), ""},
		{"an empty name is refused", ok(func(s *Secret) { s.Name = "" }), "name"},
		{"a function secret named like an SSH key is refused", ok(func(s *Secret) { s.Name = "ssh:ann" }), "name"},
		{"an SSH key named like a function secret is refused", ok(func(s *Secret) { s.Kind = SecretKindSSHKey }), "name"},
		{"an SSH key of user .. is refused", ok(func(s *Secret) { s.Kind, s.Name = SecretKindSSHKey, "ssh:.." }), "name"},
		{"a TLS key of no API name is refused", ok(func(s *Secret) { s.Kind, s.Name = SecretKindTLSKey, "tls:a/b" }), "name"},
		{"an unknown kind is refused", ok(func(s *Secret) { s.Kind = "password" }), "kind"},
		{"no kind is refused", ok(func(s *Secret) { s.Kind = "" }), "kind"},
		{"an owner that is no user name is refused", ok(func(s *Secret) { s.Owner = "ann smith" }), "owner"},
		{"a negative version is refused", ok(func(s *Secret) { s.Version = -1 }), "version"},
		{"a kept version 0 is refused", ok(func(s *Secret) { s.Versions = []int{0, 1} }), "versions"},
		{"a pending write of no known op is refused", ok(func(s *Secret) { s.Pending = &SecretPending{Op: "rotate"} }), "pending.op"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			var verr *ValidationError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.field != "" && (!errors.As(err, &verr) || verr.Field != tt.field || !errors.Is(err, ErrInvalid)):
				t.Fatalf("got %v, want a validation error of %s", err, tt.field)
			}
		})
	}
}

func TestValidateSecretPath(t *testing.T) {
	for path, valid := range map[string]bool{"secrets/a": true, "a": true, "": false, "a\x00b": false, strings.Repeat("p", 1000): true} {
		if err := ValidateSecretPath(path); (err == nil) != valid || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("path %q: %v, want valid %v", path, err, valid)
		}
	}
}

func TestValidateSecretRefs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refs   []string
		caller bool
		ok     bool
	}{
		{"secret names and SSH keys", []string{"db-password", "api.key_2", "ssh:alice", "ssh:oidc:bob@x"}, false, true},
		{"the caller's key in a step", []string{"ssh:@caller"}, true, true},
		{"the caller's key in a route", []string{"ssh:@caller"}, false, false},
		{"an upper-case name", []string{"DB"}, false, false},
		{"a name with a slash", []string{"a/b"}, false, false},
		{"a name twice", []string{"db", "db"}, false, false},
		{"the SSH key of user ..", []string{"ssh:.."}, false, false},
		{"the SSH key of no user", []string{"ssh:"}, false, false},
		{"17 secrets", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSecretRefs("secrets", tc.refs, tc.caller)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateSecretRefs(%v, %v): %v", tc.refs, tc.caller, err)
			}
		})
	}
	if err := ValidateSSHUser("@caller"); err == nil {
		t.Fatal(`a user named "@caller" may have an SSH key, which steps take for their run's caller's`)
	}
}
