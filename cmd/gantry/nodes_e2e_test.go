package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/gen/client/meta"
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store/bolt"
)

// TestANamedNodeOnAStoreElsewhere: a server started with --node and --store bolt://DIR
// keeps its database in DIR and its own files in --data-dir, names itself everywhere by its
// node ID (the ready file, /v1/version, the containers' label, the executions), and lists
// itself as a live node, with its management address, to `gantry nodes`.
func TestANamedNodeOnAStoreElsewhere(t *testing.T) {
	t.Parallel()
	dataDir, storeDir := t.TempDir(), t.TempDir()
	s := startServer(t, dataDir, "GANTRY_NODE=edge-1", "GANTRY_STORE=bolt://"+storeDir, "GANTRY_LEASE=3s")
	if s.instance != "edge-1" || !strings.Contains(s.logText(), "node=edge-1") {
		t.Fatalf("ready file instance %q; log:\n%s", s.instance, s.logText())
	}
	if _, err := os.Stat(filepath.Join(storeDir, bolt.FileName)); err != nil {
		t.Fatalf("no database in the --store directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, bolt.FileName)); err == nil {
		t.Fatal("a database in the data dir, though --store names another")
	}
	if s.token == "" {
		t.Fatal("no admin token in the data dir")
	}
	v, err := s.clientAs("").Meta.GetVersionContext(context.Background(), &meta.GetVersionParams{})
	if err != nil || v.Payload.Node != "edge-1" {
		t.Fatalf("version: %+v %v", v, err)
	}

	var nodes models.NodesWrapper
	if err := json.Unmarshal([]byte(s.cli(t, "nodes", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Nodes) != 1 || *nodes.Nodes[0].ID != "edge-1" || nodes.Nodes[0].Addr != s.addr || nodes.Nodes[0].Version != version {
		t.Fatalf("nodes: %+v, want edge-1 at %s", nodes.Nodes, s.addr)
	}
	if out := s.cli(t, "nodes"); !regexp.MustCompile(`(?m)^edge-1\s+` + regexp.QuoteMeta(version) + `\s+` + regexp.QuoteMeta(s.addr) + `\s`).MatchString(out) {
		t.Fatalf("gantry nodes:\n%s", out)
	}

	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"hot"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/hot/routes", `{"route":{"path":"/http","image":"`+imgTestfn+`","format":"http"}}`, 201)
	res, _ := s.mustCall(t, "POST", "/r/hot/http", `{"name":"hot"}`, 200)
	if n := s.containers(t); n != 1 { // counted by the label gantry.instance=edge-1
		t.Fatalf("%d containers labelled with the node's ID, want the hot one", n)
	}
	waitFor(t, 5*time.Second, "the call's record", func() bool { return s.execution(t, res.Header.Get("Gantry-Call-Id"))["status"] == "SUCCESS" })
	if ex := s.execution(t, res.Header.Get("Gantry-Call-Id")); ex["node"] != "edge-1" {
		t.Fatalf("execution %v, want it run on edge-1", ex)
	}
}

// TestServerFlagsThatFailTheStart: a bad --store, --store-password-file, --node or --lease
// stops the server before it serves, with one line that says why and never a password.
func TestServerFlagsThatFailTheStart(t *testing.T) {
	t.Parallel()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"an unknown scheme", []string{"--store", "mysql://root:hunter2@db/gantry"}, nil, `unknown scheme "mysql"`},
		{"a malformed URL", []string{"--store", "postgres://gantry:hunter2@db:port/gantry"}, nil, "malformed URL"},
		{"a malformed URL from the environment", nil, []string{"GANTRY_STORE=postgres://gantry:hunter2@db:port/gantry"}, "malformed URL"},
		{"a path that is no URL", []string{"--store", "./data"}, nil, "is not a store URL"},
		{"a postgres store that does not answer", []string{"--store", "postgres://gantry:hunter2@127.0.0.1:1/gantry?connect_timeout=2"}, nil, "cannot connect to 127.0.0.1:1"},
		{"a password file with a bolt store", []string{"--store-password-file", pwFile}, nil, "is for a postgres store"},
		{"a node ID with a slash", []string{"--node", "a/b"}, nil, "must match"},
		{"a lease under a second", []string{"--lease", "500ms"}, nil, "--lease 500ms: at least 1s"},
		{"a lease under a second from the environment", nil, []string{"GANTRY_LEASE=0s"}, "at least 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" fails the start", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"server", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--gateway-addr", "", "--gateway-tls-addr", ""}, tt.args...)
			cmd := gantryCmd(ctx, args...)
			cmd.Env = append(cmd.Env, tt.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("server: %v, want a failed start; output %s", err, out)
			}
			msg := strings.TrimSuffix(string(out), "\n")
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "gantry: ") {
				t.Fatalf("output %q: want one line saying %q", out, tt.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Fatalf("output %q names the password", out)
			}
		})
	}
}
