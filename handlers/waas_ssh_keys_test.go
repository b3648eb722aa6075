package handlers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gantry-dev/gantry/auth"
)

// clientSSHKey is what the hpcwaas-api client decodes from POST /ssh_keys (api/structs.go
// SSHKey) and, without the id, from POST /users/{user}/ssh-key.
type clientSSHKey struct {
	ID        string `json:"id"`
	PublicKey string `json:"public_key"`
}

// TestWaaSSSHKeys: the /waas SSH key operations, called as the waas client calls them (no
// Content-Type, Basic or Bearer), generate and rotate the caller's key, keep the metadata,
// answer the client's shapes, and refuse others' keys in the client's error shape.
func TestWaaSSSHKeys(t *testing.T) {
	f := newAuthFixture(t)
	ctx := context.Background()
	erin, _ := makeToken(t, f.s, "erin", auth.RoleUser, nil)

	var first clientSSHKey
	waasCall(t, f.h, basic("erin", erin), "POST", "/waas/ssh_keys", `{"metadata":{"purpose":"hpc","n":3,"nested":{"a":[1,true]},"none":null}}`).decode(t, 201, &first)
	pub, comment := parsePublicKey(t, first.PublicKey)
	if pub.Type() != ssh.KeyAlgoED25519 || comment != "gantry:erin" || first.ID == "" {
		t.Errorf("answer %+v", first)
	}
	rec, err := f.secrets.SSHKeyRecord(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	md := rec.SSH.Metadata
	if rec.SSH.ID != first.ID || rec.SSH.Fingerprint != ssh.FingerprintSHA256(pub) ||
		fmt.Sprint(md) != `map[n:3 nested:{"a":[1,true]} none:null purpose:hpc]` {
		t.Errorf("record %+v with metadata %v; answered id %s", rec.SSH, md, first.ID)
	}

	var second clientSSHKey // what the client sends without metadata: {}
	waasCall(t, f.h, bearer(erin), "POST", "/waas/ssh_keys", `{}`).decode(t, 201, &second)
	if second.ID == first.ID || second.PublicKey == first.PublicKey {
		t.Errorf("no rotation: %+v then %+v", first, second)
	}
	var third clientSSHKey
	waasCall(t, f.h, bearer(erin), "POST", "/waas/ssh_keys", "").decode(t, 201, &third)
	waasCall(t, f.h, bearer(erin), "POST", "/waas/ssh_keys", `{"metadata":null}`).decode(t, 201, &third)
	if rec, _ := f.secrets.SSHKeyRecord(ctx, "erin"); rec.Version != 4 || rec.SSH.ID != third.ID || len(rec.SSH.Metadata) != 0 {
		t.Errorf("after 4 calls: version %d id %s metadata %v", rec.Version, rec.SSH.ID, rec.SSH.Metadata)
	}
	if res := f.as(t, erin, "GET", "/v1/users/erin/ssh-key", ""); res.status != 200 || get(res.body, "ssh_key", "version") != 4.0 {
		t.Errorf("/v1 does not see the /waas key: %s", res.raw)
	}

	var own clientSSHKey
	res := waasCall(t, f.h, basic("x", f.alice), "POST", "/waas/users/alice/ssh-key", "")
	res.decode(t, 201, &own)
	if pub, _ := parsePublicKey(t, own.PublicKey); own.ID != "" || ssh.FingerprintSHA256(pub) != mustFingerprint(t, f, "alice") {
		t.Errorf("answer %s", res.body)
	}
	if strings.Contains(res.body, `"id"`) {
		t.Errorf("the per-user answer has an id: %s", res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	waasCall(t, f.h, bearer(f.bob), "POST", "/waas/users/alice/ssh-key", "").expectError(t, 404, "not_found", "alice")
	waasCall(t, f.h, bearer(erin), "POST", "/waas/users/alice/ssh-key", "").expectError(t, 404, "not_found", "alice")
	waasCall(t, f.h, bearer(f.admin), "POST", "/waas/users/dora/ssh-key", "").decode(t, 201, &own)
	many := make([]string, 33)
	for i := range many {
		many[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	waasCall(t, f.h, bearer(erin), "POST", "/waas/ssh_keys", `{"metadata":{`+strings.Join(many, ",")+`}}`).expectError(t, 400, "bad_request", "metadata")
	waasCall(t, f.h, bearer(erin), "POST", "/waas/ssh_keys", `{"metadata":`).expectError(t, 400, "bad_request", "")
	waasCall(t, f.h, bearer(erin), "POST", "/waas/users/a%20b/ssh-key", "").expectError(t, 400, "bad_request", "user_id")
	if rec, _ := f.secrets.SSHKeyRecord(ctx, "erin"); rec.Version != 4 {
		t.Errorf("refused calls changed the key: version %d", rec.Version)
	}

	g := newAuthFixtureWith(t, func(d *Deps) { d.Secrets = nil })
	res = waasCall(t, g.h, bearer(g.alice), "POST", "/waas/ssh_keys", "")
	res.expectError(t, 503, "service_unavailable", "secrets are not configured")
	if res.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

func mustFingerprint(t *testing.T, f *authFixture, user string) string {
	t.Helper()
	rec, err := f.secrets.SSHKeyRecord(context.Background(), user)
	if err != nil || rec.SSH == nil {
		t.Fatalf("%s has no key: %v", user, err)
	}
	return rec.SSH.Fingerprint
}
