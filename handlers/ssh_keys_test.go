package handlers

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gantry-dev/gantry/auth"
)

// parsePublicKey parses an answered public key as sshd reads an authorized_keys line.
func parsePublicKey(t *testing.T, line string) (ssh.PublicKey, string) {
	t.Helper()
	if strings.HasSuffix(line, "\n") {
		t.Errorf("the public key %q ends with a newline", line)
	}
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(rest) != 0 {
		t.Fatalf("the public key %q does not parse: %v (rest %q)", line, err, rest)
	}
	return pub, comment
}

// TestSSHKeysAPI generates, describes, rotates and deletes SSH keys through the router: the
// public key parses and matches its fingerprint, it is answered once, no answer holds key
// material, and only its user (or an admin) reaches a key.
func TestSSHKeysAPI(t *testing.T) {
	f := newAuthFixture(t)
	bodies := &bodyLog{}
	f.h = bodies.wrap(f.h)
	erin, _ := makeToken(t, f.s, "erin", auth.RoleUser, nil)
	ctx := context.Background()

	res := f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", "")
	expect(t, res, 201)
	line, _ := get(res.body, "public_key").(string)
	fingerprint, _ := get(res.body, "fingerprint").(string)
	pub, comment := parsePublicKey(t, line)
	if pub.Type() != ssh.KeyAlgoED25519 || comment != "gantry:alice" || !strings.HasPrefix(line, "ssh-ed25519 AAAA") {
		t.Errorf("public key %q: type %s comment %q", line, pub.Type(), comment)
	}
	if got := ssh.FingerprintSHA256(pub); got != fingerprint || !strings.HasPrefix(fingerprint, "SHA256:") {
		t.Errorf("fingerprint %q, the key's is %q", fingerprint, got)
	}
	keyData := strings.Fields(line)[1]

	res = f.as(t, f.alice, "GET", "/v1/users/alice/ssh-key", "")
	expect(t, res, 200)
	k := get(res.body, "ssh_key")
	if get(k, "user") != "alice" || get(k, "type") != "ed25519" || get(k, "fingerprint") != fingerprint || get(k, "comment") != "gantry:alice" ||
		get(k, "version") != 1.0 || get(k, "created_by") != "alice" || get(k, "created_at") == nil || get(k, "bits") != nil {
		t.Errorf("GET: %s", res.raw)
	}
	if v, _ := get(k, "versions").([]any); len(v) != 1 || v[0] != 1.0 {
		t.Errorf("versions: %s", res.raw)
	}

	res = f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", `{"comment":"alice@laptop"}`)
	expect(t, res, 201)
	line2, _ := get(res.body, "public_key").(string)
	pub2, comment2 := parsePublicKey(t, line2)
	if comment2 != "alice@laptop" || ssh.FingerprintSHA256(pub2) == fingerprint || get(res.body, "fingerprint") != ssh.FingerprintSHA256(pub2) {
		t.Errorf("rotation answered %s", res.raw)
	}
	res = f.as(t, f.alice, "GET", "/v1/users/alice/ssh-key", "")
	if expect(t, res, 200); get(res.body, "ssh_key", "version") != 2.0 || get(res.body, "ssh_key", "fingerprint") != ssh.FingerprintSHA256(pub2) {
		t.Errorf("after rotation: %s", res.raw)
	}
	if v, _ := get(res.body, "ssh_key", "versions").([]any); len(v) != 2 || v[0] != 1.0 || v[1] != 2.0 {
		t.Errorf("versions after rotation: %s", res.raw)
	}

	for _, c := range []struct{ name, body, field string }{
		{"RSA of 2048 bits", `{"type":"rsa","bits":2048}`, "bits"},
		{"RSA of 16384 bits", `{"type":"rsa","bits":16384}`, "bits"},
		{"DSA", `{"type":"dsa"}`, "type"},
		{"ed25519 with bits", `{"type":"ed25519","bits":256}`, "bits"},
		{"a comment of two lines", `{"comment":"a\nb"}`, "comment"},
		{"an unknown field", `{"size":4096}`, "size"},
	} {
		res := f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", c.body)
		if field, _ := get(res.body, "error", "fields").(string); res.status != 400 || field != c.field {
			t.Errorf("%s: %d fields %q, want 400 naming %q: %s", c.name, res.status, field, c.field, res.raw)
		}
	}
	res = f.as(t, f.alice, "GET", "/v1/users/alice/ssh-key", "")
	if get(res.body, "ssh_key", "version") != 2.0 {
		t.Fatalf("a refused POST changed the key: %s", res.raw)
	}

	res = f.as(t, f.admin, "POST", "/v1/users/carol/ssh-key", `{"type":"rsa","bits":3072}`)
	expect(t, res, 201)
	rsaLine, _ := get(res.body, "public_key").(string)
	if pub, _ := parsePublicKey(t, rsaLine); pub.Type() != ssh.KeyAlgoRSA {
		t.Errorf("RSA key of type %s", pub.Type())
	}
	res = f.as(t, f.admin, "GET", "/v1/users/carol/ssh-key", "")
	if expect(t, res, 200); get(res.body, "ssh_key", "type") != "rsa" || get(res.body, "ssh_key", "bits") != 3072.0 || get(res.body, "ssh_key", "created_by") != "admin" {
		t.Errorf("carol's RSA key: %s", res.raw)
	}

	// Another's key reads as a missing one, for every operation; an end user has its own.
	expect(t, f.as(t, f.bob, "POST", "/v1/users/alice/ssh-key", ""), 404)
	expect(t, f.as(t, f.bob, "DELETE", "/v1/users/alice/ssh-key", ""), 404)
	bobSees := f.as(t, f.bob, "GET", "/v1/users/alice/ssh-key", "")
	expect(t, bobSees, 404)
	expect(t, f.as(t, erin, "GET", "/v1/users/alice/ssh-key", ""), 404)
	expect(t, f.as(t, erin, "POST", "/v1/users/erin/ssh-key", ""), 201)
	expect(t, f.as(t, erin, "GET", "/v1/users/erin/ssh-key", ""), 200)
	expect(t, f.as(t, erin, "GET", "/v1/secrets", ""), 403) // end users have no function secrets
	expect(t, f.as(t, f.admin, "GET", "/v1/users/alice/ssh-key", ""), 200)

	expect(t, f.as(t, f.alice, "DELETE", "/v1/users/alice/ssh-key", ""), 204)
	missing := f.as(t, f.alice, "GET", "/v1/users/alice/ssh-key", "")
	expect(t, missing, 404)
	if missing.raw != bobSees.raw {
		t.Errorf("another's key %s differs from a missing one %s", bobSees.raw, missing.raw)
	}
	expect(t, f.as(t, f.alice, "DELETE", "/v1/users/alice/ssh-key", ""), 404)
	if _, err := f.secrets.Files(ctx, []string{"ssh:alice"}); err == nil {
		t.Error("the deleted key's private key is still read")
	}

	// No answer ever held key material but the one public key of each POST.
	files, err := f.secrets.Files(ctx, []string{"ssh:erin"})
	if err != nil {
		t.Fatal(err)
	}
	private := string(files["ssh:erin"]["private_key"])
	if !strings.Contains(private, "OPENSSH PRIVATE KEY") {
		t.Fatalf("erin's private key is no OpenSSH PEM")
	}
	privateBody := strings.Split(private, "\n")[1] // the first line of the base64 body
	if n := bodies.holding("PRIVATE KEY"); n != 0 || bodies.holding(privateBody) != 0 {
		t.Errorf("%d answers hold a private key", n)
	}
	if n := bodies.holding(keyData); n != 1 {
		t.Errorf("%d answers hold alice's first public key, want 1 (its POST)", n)
	}
	if strings.Contains(f.log.String(), privateBody) || strings.Contains(f.audit.String(), privateBody) {
		t.Error("a private key is in the logs")
	}
}

// TestGeneratedKeyLogsIn: an SSH server that authorizes only the public key the API
// answered accepts a client authenticating with the private key read back through the
// secret service, and refuses a client with another key.
func TestGeneratedKeyLogsIn(t *testing.T) {
	f := newAuthFixture(t)
	res := f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", "")
	expect(t, res, 201)
	authorized, _ := parsePublicKey(t, get(res.body, "public_key").(string))
	files, err := f.secrets.Files(context.Background(), []string{"ssh:alice"})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(files["ssh:alice"]["private_key"])
	if err != nil {
		t.Fatalf("the stored private key does not parse: %v", err)
	}
	addr, hostKey := startSSHServer(t, authorized)

	if err := sshLogin(addr, hostKey, signer); err != nil {
		t.Fatalf("the generated key is refused: %v", err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, err := ssh.NewSignerFromKey(otherPriv)
	if err != nil {
		t.Fatal(err)
	}
	if err := sshLogin(addr, hostKey, other); err == nil {
		t.Fatal("another key logs in")
	}

	// After a rotation the server that knows the new public key takes the new private key.
	res = f.as(t, f.alice, "POST", "/v1/users/alice/ssh-key", "")
	expect(t, res, 201)
	rotated, _ := parsePublicKey(t, get(res.body, "public_key").(string))
	files, err = f.secrets.Files(context.Background(), []string{"ssh:alice"})
	if err != nil {
		t.Fatal(err)
	}
	newSigner, err := ssh.ParsePrivateKey(files["ssh:alice"]["private_key"])
	if err != nil {
		t.Fatal(err)
	}
	addr2, hostKey2 := startSSHServer(t, rotated)
	if err := sshLogin(addr2, hostKey2, newSigner); err != nil {
		t.Fatalf("the rotated key is refused: %v", err)
	}
	if err := sshLogin(addr2, hostKey2, signer); err == nil {
		t.Fatal("the key before the rotation logs in where only the new one is authorized")
	}
}

// startSSHServer serves SSH on a loopback port, authorizing the one public key authorized
// for user alice, until the test ends. It returns its address and host key.
func startSSHServer(t *testing.T, authorized ssh.PublicKey) (string, ssh.PublicKey) {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	host, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() == "alice" && key.Type() == authorized.Type() && string(key.Marshal()) == string(authorized.Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	config.AddHostKey(host)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				sc, chans, reqs, err := ssh.NewServerConn(conn, config)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for ch := range chans {
					_ = ch.Reject(ssh.Prohibited, "no channels here")
				}
				_ = sc.Close()
			}()
		}
	}()
	return ln.Addr().String(), host.PublicKey()
}

// sshLogin authenticates to addr as alice with signer; nil when the server accepted it.
func sshLogin(addr string, hostKey ssh.PublicKey, signer ssh.Signer) error {
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            "alice",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		return err
	}
	return client.Close()
}
