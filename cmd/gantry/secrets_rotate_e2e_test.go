package main

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store"
)

// TestSecretKeyRotationWaitsForEveryNodeToStop: on a shared store, --rotate-secret-key
// refuses while a node lives (it holds the old key), naming it; once the node has stopped,
// it re-seals every value, and a node started with the new key opens the secrets made
// before, while one with the old key no longer starts.
func TestSecretKeyRotationWaitsForEveryNodeToStop(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	keyEnv := sharedSecretKey(t)
	oldKey := strings.TrimPrefix(keyEnv, "GANTRY_SECRET_KEY_FILE=")
	newKey := filepath.Join(t.TempDir(), "new.key")
	dir := t.TempDir()
	const nodeName = "rotkey-1"
	node := startServer(t, dir, "GANTRY_STORE="+url, "GANTRY_NODE="+nodeName, keyEnv)

	value := "s3cr3t-" + rand.Text()
	node.mustCall(t, "POST", "/v1/secrets", `{"secret":{"name":"db","data":{"password":"`+value+`"}}}`, 201)
	node.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"rot"}}`, 201)
	node.mustCall(t, "POST", "/v1/apps/rot/routes", `{"route":{"path":"/read","image":"`+imgTestfn+`","secrets":["db"]}}`, 201)

	rotate := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := gantryCmd(ctx, "server", "--store", url, "--data-dir", t.TempDir(),
			"--secret-key-file", oldKey, "--rotate-secret-key", newKey).CombinedOutput()
		return string(out), err
	}
	refused := regexp.MustCompile(`stop every node first: node ` + nodeName + ` was seen \d+s ago`)

	out, err := rotate()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !refused.MatchString(out) {
		t.Fatalf("rotation while a node runs: %v: %s; want a failure naming the node", err, out)
	}
	if _, err := os.Stat(newKey); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused rotation made the new key file (%v)", err)
	}
	res, body := node.call(t, "POST", "/r/rot/read", `{"files":["/run/secrets/db/password"]}`)
	if res.StatusCode != 200 || readFiles(t, body)["/run/secrets/db/password"].SHA256 != sha(value) {
		t.Fatalf("the node after a refused rotation: %d %s", res.StatusCode, body)
	}

	// Stopped, the node is silent: the rotation goes through once its last heartbeat is old
	// enough (2 × the lease, 30 s), and not before.
	node.stop(t)
	stopped := time.Now()
	for {
		out, err = rotate()
		if err == nil {
			break
		}
		if !refused.MatchString(out) || time.Since(stopped) > time.Minute {
			t.Fatalf("rotation %s after the node stopped: %v: %s", time.Since(stopped).Round(time.Second), err, out)
		}
		time.Sleep(2 * time.Second)
	}
	if !strings.Contains(out, "secret values; start every node with --secret-key-file "+newKey) {
		t.Fatalf("rotation: %s", out)
	}
	// Its last heartbeat was at most a beat before it stopped.
	if d := time.Since(stopped); d < rotateWhenSilentFor-store.DefaultLeaseRenew-time.Second {
		t.Fatalf("the rotation went through %s after the node stopped, want it refused for %s after its last heartbeat", d, rotateWhenSilentFor)
	}
	t.Logf("rotation went through %s after the node stopped", time.Since(stopped).Round(time.Second))

	if s, err := launch(t.TempDir(), "GANTRY_STORE="+url, "GANTRY_NODE=rotkey-old", keyEnv); err == nil {
		s.stop(t)
		t.Fatal("a node with the old key started after the rotation")
	} else if !strings.Contains(err.Error(), "wrong secret key") {
		t.Fatalf("a node with the old key: %v, want it refused for its key", err)
	}
	node = startServer(t, dir, "GANTRY_STORE="+url, "GANTRY_NODE="+nodeName, "GANTRY_SECRET_KEY_FILE="+newKey)
	res, body = node.call(t, "POST", "/r/rot/read", `{"files":["/run/secrets/db/password"]}`)
	if res.StatusCode != 200 || readFiles(t, body)["/run/secrets/db/password"].SHA256 != sha(value) {
		t.Fatalf("the node with the new key: %d %s", res.StatusCode, body)
	}
}
