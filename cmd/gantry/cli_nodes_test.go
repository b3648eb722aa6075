package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/gen/models"
)

const nodesAnswer = `{"nodes":[` +
	`{"id":"node-a","version":"1.2.3","addr":"10.0.0.1:8080","started_at":"2026-12-04T10:00:00Z","heartbeat":"2026-12-04T10:05:00Z","running":3,"hot":2},` +
	`{"id":"node-b","started_at":"2026-12-04T10:01:00Z","heartbeat":"2026-12-04T10:05:01Z","running":0,"hot":0}]}`

// TestNodesList: `gantry nodes` and `gantry nodes list` ask GET /v1/nodes and show a
// table, or the API's answer with -o json.
func TestNodesList(t *testing.T) {
	for _, args := range [][]string{{"nodes"}, {"nodes", "list"}, {"nodes", "ls"}} {
		t.Run("gantry "+strings.Join(args, " ")+" shows a table of the nodes", func(t *testing.T) {
			u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 200, nodesAnswer })
			out, _, err := runCLI(t, append([]string{"--api-url", u}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if len(*seen) != 1 || (*seen)[0].method != http.MethodGet || (*seen)[0].rawPath != "/v1/nodes" {
				t.Fatalf("requests %+v, want GET /v1/nodes", *seen)
			}
			want := "" +
				"ID      VERSION  ADDR           RUNNING  HOT  STARTED               HEARTBEAT\n" +
				"node-a  1.2.3    10.0.0.1:8080  3        2    2026-12-04T10:00:00Z  2026-12-04T10:05:00Z\n" +
				"node-b  -        -              0        0    2026-12-04T10:01:00Z  2026-12-04T10:05:01Z\n"
			if out != want {
				t.Fatalf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
	t.Run("gantry nodes -o json prints the API's answer", func(t *testing.T) {
		u, _ := fakeAPI(t, func(*http.Request) (int, string) { return 200, nodesAnswer })
		out, _, err := runCLI(t, "--api-url", u, "-o", "json", "nodes")
		if err != nil {
			t.Fatal(err)
		}
		var w models.NodesWrapper
		if err := json.Unmarshal([]byte(out), &w); err != nil || len(w.Nodes) != 2 || *w.Nodes[0].ID != "node-a" || *w.Nodes[0].Running != 3 {
			t.Fatalf("output is not the NodesWrapper: %v\n%s", err, out)
		}
	})
	t.Run("gantry nodes as a developer says it is for admins", func(t *testing.T) {
		u, _ := fakeAPI(t, func(*http.Request) (int, string) {
			return 403, `{"error":{"message":"listing nodes needs the admin role"}}`
		})
		if _, _, err := runCLI(t, "--api-url", u, "nodes"); err == nil || !strings.Contains(err.Error(), "listing nodes needs the admin role (403)") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestVersionNamesTheNode: `gantry version` names the node that answered, when it says.
func TestVersionNamesTheNode(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) { return 200, `{"version":"1.2.3","node":"node-a"}` })
	out, _, err := runCLI(t, "--api-url", u, "version")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Client version:  " + version + "\nServer version:  1.2.3\nServer node:     node-a\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}
