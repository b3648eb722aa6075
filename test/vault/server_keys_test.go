package vaulttest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
	"github.com/hashicorp/vault/api"
)

// sshKeyCreated is the answer to POST /v1/users/{user_id}/ssh-key.
type sshKeyCreated struct {
	PublicKey   string `json:"public_key"`
	Fingerprint string `json:"fingerprint"`
}

// sshKeyInfo is the answer to GET /v1/users/{user_id}/ssh-key.
type sshKeyInfo struct {
	SSHKey struct {
		Fingerprint string `json:"fingerprint"`
		Type        string `json:"type"`
		Version     int    `json:"version"`
		Versions    []int  `json:"versions"`
	} `json:"ssh_key"`
}

// secretInfo is the record of a function secret as the API shows it.
type secretInfo struct {
	Name     string   `json:"name"`
	Keys     []string `json:"keys"`
	Version  int      `json:"version"`
	Versions []int    `json:"versions"`
}

// secretNames lists the function secrets the API shows.
func secretNames(t *testing.T, g *gantry) []string {
	t.Helper()
	list := decode[struct{ Secrets []secretInfo }](t, g.must(t, "GET", "/v1/secrets?per_page=100", "", 200))
	var names []string
	for _, s := range list.Secrets {
		names = append(names, s.Name)
	}
	return names
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return v
}

// createSSHKey generates (or rotates) user's key through the API and checks the answer's
// shape: an authorized_keys line commented gantry:<user>, and its fingerprint.
func createSSHKey(t *testing.T, g *gantry, user string) (sshKeyCreated, ssh.PublicKey) {
	t.Helper()
	k := decode[sshKeyCreated](t, g.must(t, "POST", "/v1/users/"+user+"/ssh-key", "", 201))
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(k.PublicKey))
	if err != nil || len(rest) != 0 {
		t.Fatalf("the answered public key %q: %v", k.PublicKey, err)
	}
	if pub.Type() != ssh.KeyAlgoED25519 || comment != "gantry:"+user {
		t.Errorf("the answered public key is %s commented %q; want ed25519 commented gantry:%s", pub.Type(), comment, user)
	}
	if want := ssh.FingerprintSHA256(pub); k.Fingerprint != want {
		t.Errorf("answered fingerprint %q, the public key's is %q", k.Fingerprint, want)
	}
	return k, pub
}

// vaultPrivateKey reads a version (0: the latest) of user's private key the way an operator
// does, with Vault's own client and the root token, at the documented path.
func vaultPrivateKey(t *testing.T, c *Cluster, user string, version int) string {
	t.Helper()
	path := Mount + "/data/gantry/ssh-keys/" + user
	var params map[string][]string
	if version > 0 {
		params = map[string][]string{"version": {fmt.Sprint(version)}}
	}
	s, err := c.Root.Logical().ReadWithData(path, params)
	if err != nil || s == nil {
		t.Fatalf("read %s version %d from vault: %v (nothing there: %t)", path, version, err, s == nil)
	}
	data, _ := s.Data["data"].(map[string]any)
	pem, _ := data["private_key"].(string)
	if !strings.HasPrefix(pem, "-----BEGIN OPENSSH PRIVATE KEY-----\n") || len(data) != 1 {
		t.Fatalf("%s version %d holds keys %v, private_key %.40q; want one key, private_key, an OpenSSH PEM", path, version, slices.Sorted(maps.Keys(data)), pem)
	}
	return pem
}

// signerOf parses a private key read from Vault and checks that its public half is the one
// the API answered (comment aside).
func signerOf(t *testing.T, pem string, answered sshKeyCreated) ssh.Signer {
	t.Helper()
	signer, err := ssh.ParsePrivateKey([]byte(pem))
	if err != nil {
		t.Fatalf("the private key in vault does not parse: %v", err)
	}
	got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	fields := strings.Fields(answered.PublicKey)
	if want := strings.Join(fields[:2], " "); got != want {
		t.Fatalf("the private key in vault is the pair of\n  %s\nthe API answered\n  %s", got, want)
	}
	return signer
}

// pemLines are lines of base64 from the middle of an OpenSSH PEM: the part that encodes the
// private key (the first lines encode the header and the public key).
func pemLines(t *testing.T, pem string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(pem), "\n")
	if len(lines) < 6 {
		t.Fatalf("a PEM of %d lines", len(lines))
	}
	return lines[3 : len(lines)-2]
}

// vaultCurrent is the current_version of Vault's metadata at gantry/<rel>; 0 when there is
// no metadata (never written, or deleted with every version).
func vaultCurrent(t *testing.T, c *Cluster, rel string) int {
	t.Helper()
	md, err := c.Root.KVv2(Mount).GetMetadata(context.Background(), "gantry/"+rel)
	if errors.Is(err, api.ErrSecretNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("metadata of gantry/%s: %v", rel, err)
	}
	return md.CurrentVersion
}

// TestServerKeepsKeysAndSecretsInVault runs the server with a token of the gantry policy:
// an SSH key pair's private key and a function secret's value are in Vault at the
// documented paths, readable with Vault's client; the private key logs in to an SSH
// server that knows the answered public key; a second POST rotates (version 2, version 1
// kept); DELETE removes every version; and no answer, log, audit line or data file holds a
// private key or a value (with Vault, the store holds no value at all).
func TestServerKeepsKeysAndSecretsInVault(t *testing.T) {
	needGantry(t)
	t.Parallel()
	c := NewCluster(t)
	g := startGantry(t, c, tokenCreds(t, c))
	ctx := context.Background()
	needles := map[string]string{} // what must never leave Vault, by what it is

	var first sshKeyCreated
	var firstPEM string
	var signer ssh.Signer
	t.Run("an SSH key's private key is in vault at secret/data/gantry/ssh-keys/<user>, the pair of the answered public key", func(t *testing.T) {
		first, _ = createSSHKey(t, g, "admin")
		firstPEM = vaultPrivateKey(t, c, "admin", 0)
		signer = signerOf(t, firstPEM, first)
		if n := vaultCurrent(t, c, "ssh-keys/admin"); n != 1 {
			t.Errorf("vault's current_version %d, want 1", n)
		}
		for i, l := range pemLines(t, firstPEM) {
			needles[fmt.Sprintf("line %d of the first private key", i+3)] = l
		}
	})
	if signer == nil {
		t.FailNow()
	}

	t.Run("the private key read back from vault logs in to an SSH server that knows the answered public key; another key does not", func(t *testing.T) {
		authorized, _, _, _, err := ssh.ParseAuthorizedKey([]byte(first.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		srv := newSSHServer(t, authorized)
		if err := srv.login("admin", signer); err != nil {
			t.Errorf("login with the key from vault: %v", err)
		}
		if got := srv.accepted(); got != first.Fingerprint {
			t.Errorf("the SSH server accepted the key %q, want %q", got, first.Fingerprint)
		}
		_, other, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		otherSigner, err := ssh.NewSignerFromKey(other)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.login("admin", otherSigner); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("login with another key: %v; want it refused", err)
		}
	})

	value := "pw-" + rand.Text()
	needles["the function secret's value"] = value
	t.Run("a function secret's value is in vault at secret/data/gantry/secrets/<name>", func(t *testing.T) {
		rec := decode[struct{ Secret secretInfo }](t,
			g.must(t, "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"password":"`+value+`"}}}`, 201)).Secret
		if rec.Name != "db" || rec.Version != 1 || !slices.Equal(rec.Keys, []string{"password"}) {
			t.Errorf("the answered record: %+v", rec)
		}
		s, err := c.Root.Logical().Read(Mount + "/data/gantry/secrets/db")
		if err != nil || s == nil {
			t.Fatalf("read secret/data/gantry/secrets/db: %v", err)
		}
		data, _ := s.Data["data"].(map[string]any)
		if data["password"] != value || len(data) != 1 {
			t.Errorf("vault holds %v at secret/data/gantry/secrets/db, want password=<the value>", slices.Sorted(maps.Keys(data)))
		}
	})

	t.Run("a second POST rotates: vault's current version is 2 and version 1 stays readable", func(t *testing.T) {
		second, _ := createSSHKey(t, g, "admin")
		if second.Fingerprint == first.Fingerprint || second.PublicKey == first.PublicKey {
			t.Fatalf("the rotation answered the same key %s", second.Fingerprint)
		}
		if n := vaultCurrent(t, c, "ssh-keys/admin"); n != 2 {
			t.Errorf("vault's current_version %d, want 2", n)
		}
		secondPEM := vaultPrivateKey(t, c, "admin", 0)
		signerOf(t, secondPEM, second)
		if v2 := vaultPrivateKey(t, c, "admin", 2); v2 != secondPEM {
			t.Error("version 2 in vault is not the latest")
		}
		if v1 := vaultPrivateKey(t, c, "admin", 1); v1 != firstPEM {
			t.Error("version 1 in vault is not the first private key")
		}
		for i, l := range pemLines(t, secondPEM) {
			needles[fmt.Sprintf("line %d of the second private key", i+3)] = l
		}
		info := decode[sshKeyInfo](t, g.must(t, "GET", "/v1/users/admin/ssh-key", "", 200)).SSHKey
		if info.Fingerprint != second.Fingerprint || info.Version != 2 || !slices.Equal(info.Versions, []int{1, 2}) {
			t.Errorf("GET after the rotation: %+v; want version 2 of versions [1 2], fingerprint %s", info, second.Fingerprint)
		}
	})

	t.Run("DELETE removes every version from vault and the key reads as not found", func(t *testing.T) {
		g.must(t, "DELETE", "/v1/users/admin/ssh-key", "", 204)
		if n := vaultCurrent(t, c, "ssh-keys/admin"); n != 0 {
			t.Errorf("vault still has metadata at gantry/ssh-keys/admin (current_version %d)", n)
		}
		for _, v := range []int{1, 2} {
			if _, err := c.Root.KVv2(Mount).GetVersion(ctx, "gantry/ssh-keys/admin", v); !errors.Is(err, api.ErrSecretNotFound) {
				t.Errorf("version %d after DELETE: %v, want none", v, err)
			}
		}
		g.must(t, "GET", "/v1/users/admin/ssh-key", "", 404)
		g.must(t, "DELETE", "/v1/users/admin/ssh-key", "", 404)
	})

	t.Run("a key made after the delete starts again at version 1", func(t *testing.T) {
		third, _ := createSSHKey(t, g, "admin")
		if n := vaultCurrent(t, c, "ssh-keys/admin"); n != 1 {
			t.Errorf("vault's current_version %d, want 1", n)
		}
		thirdPEM := vaultPrivateKey(t, c, "admin", 0)
		signerOf(t, thirdPEM, third)
		for i, l := range pemLines(t, thirdPEM) {
			needles[fmt.Sprintf("line %d of the third private key", i+3)] = l
		}
	})

	t.Run("no answer, log, audit line or data file holds a private key or a value", func(t *testing.T) {
		// Every read the API has of the key and the secret.
		g.must(t, "GET", "/v1/users/admin/ssh-key", "", 200)
		if names := secretNames(t, g); !slices.Equal(names, []string{"db"}) {
			t.Errorf("the list of secrets shows %v, want [db]", names)
		}
		g.must(t, "GET", "/v1/secrets/db", "", 200)
		g.stop(t)

		if !strings.Contains(g.logText(), "secrets are kept in HashiCorp Vault") {
			t.Errorf("the server does not say it keeps secrets in Vault:\n%s", g.logText())
		}
		for _, leak := range g.leaks(t, needles) {
			t.Error(leak)
		}
		if len(needles) < 10 {
			t.Errorf("only %d needles: the test looked for too little", len(needles))
		}
		// The store keeps records, never values: nothing at the values' paths.
		db, err := bolt.Open(ctx, g.dataDir, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, path := range []string{"ssh-keys/admin", "secrets/db"} {
			if _, _, err := db.GetSecretValue(ctx, path, 0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the store has a value at %s: %v", path, err)
			}
		}
		rec, err := db.GetSecret(ctx, "db")
		if err != nil || rec.Version != 1 || rec.Pending != nil || rec.Path != "secrets/db" {
			t.Errorf("the store's record of db: %+v, %v", rec, err)
		}
	})
}

// sshServer is an SSH server on a loopback port that accepts one public key.
type sshServer struct {
	t    *testing.T
	addr string
	host ssh.PublicKey
	got  chan string // the fingerprint of each key it accepted
}

// newSSHServer starts an SSH server that lets in a client that proves it holds the private
// key of authorized, and nobody else.
func newSSHServer(t *testing.T, authorized ssh.PublicKey) *sshServer {
	t.Helper()
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if key.Type() == authorized.Type() && string(key.Marshal()) == string(authorized.Marshal()) {
				return &ssh.Permissions{Extensions: map[string]string{"fingerprint": ssh.FingerprintSHA256(key)}}, nil
			}
			return nil, fmt.Errorf("unknown public key %s", ssh.FingerprintSHA256(key))
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	s := &sshServer{t: t, addr: ln.Addr().String(), host: hostSigner.PublicKey(), got: make(chan string, 8)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn, cfg)
		}
	}()
	return s
}

// serve runs the handshake; an authenticated connection gets no channel and ends when the
// client closes it.
func (s *sshServer) serve(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return // refused
	}
	s.got <- sc.Permissions.Extensions["fingerprint"]
	go ssh.DiscardRequests(reqs)
	for ch := range chans {
		_ = ch.Reject(ssh.Prohibited, "no channels here")
	}
}

// login connects as user with signer's key, checking the server's host key.
func (s *sshServer) login(user string, signer ssh.Signer) error {
	c, err := ssh.Dial("tcp", s.addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(s.host),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		return err
	}
	// The server let the client in: the connection works.
	if _, _, err := c.OpenChannel("session", nil); err == nil || !strings.Contains(err.Error(), "no channels here") {
		s.t.Errorf("a channel on the authenticated connection: %v; want the server's rejection", err)
	}
	return c.Close()
}

// accepted is the fingerprint of the key the server last accepted ("" if none within 5s).
func (s *sshServer) accepted() string {
	select {
	case fp := <-s.got:
		return fp
	case <-time.After(5 * time.Second):
		return ""
	}
}
