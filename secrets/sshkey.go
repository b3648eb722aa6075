package secrets

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/gantry-dev/gantry/store"
)

// SSH key types and RSA bounds.
const (
	KeyTypeEd25519 = "ed25519"
	KeyTypeRSA     = "rsa"
	DefaultRSABits = 4096
	MinRSABits     = 3072
	MaxRSABits     = 8192
)

// KeyOptions choose the SSH key pair to generate.
type KeyOptions struct {
	Type string // KeyTypeEd25519 (default) or KeyTypeRSA
	Bits int    // RSA only: MinRSABits..MaxRSABits, default DefaultRSABits
	// Comment ends the public key line; default "gantry:<user>".
	Comment string
	// Metadata is kept with the key's record (the /waas surface's "metadata").
	Metadata map[string]string
}

// Validate checks the options and applies their defaults.
func (o *KeyOptions) Validate(user string) error {
	switch o.Type {
	case "":
		o.Type = KeyTypeEd25519
	case KeyTypeEd25519, KeyTypeRSA:
	default:
		return store.Invalid("type", "key type %q must be %q or %q", o.Type, KeyTypeEd25519, KeyTypeRSA)
	}
	switch {
	case o.Type == KeyTypeEd25519 && o.Bits != 0:
		return store.Invalid("bits", "an ed25519 key has no size: leave bits out")
	case o.Type == KeyTypeRSA && o.Bits == 0:
		o.Bits = DefaultRSABits
	case o.Type == KeyTypeRSA && (o.Bits < MinRSABits || o.Bits > MaxRSABits):
		return store.Invalid("bits", "an RSA key has %d to %d bits (%d given)", MinRSABits, MaxRSABits, o.Bits)
	}
	if o.Comment == "" {
		o.Comment = "gantry:" + user
	}
	if len(o.Comment) > 255 || strings.ContainsAny(o.Comment, "\r\n") {
		return store.Invalid("comment", "a comment is one line of at most 255 bytes")
	}
	if len(o.Metadata) > 32 {
		return store.Invalid("metadata", "at most 32 metadata keys")
	}
	for k, v := range o.Metadata {
		if len(k) > 255 || len(v) > 1024 {
			return store.Invalid("metadata", "metadata keys are at most 255 bytes, values at most 1024")
		}
	}
	return nil
}

// keyPair is a generated SSH key pair: the private key as OpenSSH PEM, the public key as
// an authorized_keys line (without newline), and its SHA256 fingerprint.
type keyPair struct {
	private     []byte
	public      string
	fingerprint string
}

func generateKeyPair(o KeyOptions) (keyPair, error) {
	var (
		signer crypto.Signer
		err    error
	)
	switch o.Type {
	case KeyTypeRSA:
		signer, err = rsa.GenerateKey(rand.Reader, o.Bits)
	default:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return keyPair{}, fmt.Errorf("generate %s key: %w", o.Type, err)
	}
	block, err := ssh.MarshalPrivateKey(signer, o.Comment)
	if err != nil {
		return keyPair{}, fmt.Errorf("marshal private key: %w", err)
	}
	pub, err := ssh.NewPublicKey(signer.Public())
	if err != nil {
		return keyPair{}, fmt.Errorf("public key: %w", err)
	}
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pub)), "\n") + " " + o.Comment
	return keyPair{private: pem.EncodeToMemory(block), public: line, fingerprint: ssh.FingerprintSHA256(pub)}, nil
}
