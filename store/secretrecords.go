package store

import (
	"strings"
)

// secretKinds are the kinds of secrets, in the order messages name them.
var secretKinds = []string{SecretKindSecret, SecretKindSSHKey, SecretKindTLSKey}

// Validate checks a secret's record as the store keeps it: a name that fits its kind (a
// function secret's name, SSHKeySecretName of a user, TLSKeySecretName of an API), an
// owner that is a user name (or none), versions that are not negative and a pending
// write that is a put or a delete. Values are not the record's: nothing checks them here.
func (s *Secret) Validate() error {
	switch s.Kind {
	case SecretKindSecret:
		if err := ValidateSecretName(s.Name); err != nil {
			return err
		}
	case SecretKindSSHKey:
		user, ok := strings.CutPrefix(s.Name, SSHKeyPrefix)
		if !ok {
			return Invalid("name", "the name of an SSH key secret is %s<user>, not %q", SSHKeyPrefix, s.Name)
		}
		if err := ValidateSSHUser(user); err != nil {
			return Invalid("name", "SSH key secret %q: %s", s.Name, err.(*ValidationError).Message)
		}
	case SecretKindTLSKey:
		api, ok := strings.CutPrefix(s.Name, TLSKeyPrefix)
		if !ok || !appNameRE.MatchString(api) {
			return Invalid("name", "the name of a TLS key secret is %s<api> with an API name (%s), not %q", TLSKeyPrefix, appNameRE, s.Name)
		}
	default:
		return Invalid("kind", "kind %q must be one of %s", s.Kind, strings.Join(secretKinds, ", "))
	}
	if s.Owner != "" {
		if err := ValidateUserName(s.Owner); err != nil {
			return Invalid("owner", "owner: %s", err.(*ValidationError).Message)
		}
	}
	if s.Version < 0 {
		return Invalid("version", "version %d is negative", s.Version)
	}
	for _, v := range s.Versions {
		if v <= 0 {
			return Invalid("versions", "version %d is not a version (they count from 1)", v)
		}
	}
	if p := s.Pending; p != nil && p.Op != SecretOpPut && p.Op != SecretOpDelete {
		return Invalid("pending.op", "a pending write is %q or %q, not %q", SecretOpPut, SecretOpDelete, p.Op)
	}
	return nil
}

// ValidateSecretPath checks the path of a sealed value (SecretValues): not empty, without
// a NUL byte (the bbolt backend separates a path from its versions with one).
func ValidateSecretPath(path string) error {
	if path == "" || strings.IndexByte(path, 0) >= 0 {
		return Invalid("path", "a secret value's path is not empty and holds no NUL byte")
	}
	return nil
}
