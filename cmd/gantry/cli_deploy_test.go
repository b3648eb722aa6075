package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestDeployKeepsTheRoutesAuth: the route deploy PUTs keeps the auth the route has when
// func.yaml gives none, so that a redeploy never makes a `token` route public; func.yaml's
// own auth wins; a new route gets the server's default.
func TestDeployKeepsTheRoutesAuth(t *testing.T) {
	const tokenRoute = `{"route":{"path":"/greeter","image":"@greeter","auth":"token"}}`
	for _, tc := range []struct {
		name     string
		fileAuth string // func.yaml's
		get      int    // the status of GET route
		getBody  string
		wantGets int
		wantAuth string // of the PUT's route; "" for none sent
		wantErr  string
	}{
		{"func.yaml leaves auth out: the route keeps token", "", 200, tokenRoute, 1, "token", ""},
		{"func.yaml leaves auth out: the route keeps none", "", 200, `{"route":{"path":"/greeter","image":"@greeter","auth":"none"}}`, 1, "none", ""},
		{"func.yaml leaves auth out, no route yet: the server's default", "", 404, `{"error":{"message":"route not found"}}`, 1, "", ""},
		{"func.yaml says none: the route is made public as asked", "none", 200, tokenRoute, 0, "none", ""},
		{"func.yaml says token", "token", 404, "", 0, "token", ""},
		{"the route cannot be read: nothing is put", "", 500, `{"error":{"message":"boom"}}`, 1, "", "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
				if r.Method == http.MethodGet {
					return tc.get, tc.getBody
				}
				return 200, `{"route":{"path":"/greeter","image":"@greeter"}}`
			})
			root := &cobra.Command{Use: "gantry"}
			cf := addClientFlags(root)
			if err := root.PersistentFlags().Parse([]string{"--api-url", u, "--token", "tok"}); err != nil {
				t.Fatal(err)
			}
			s, err := cf.session(root)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.putFunctionRoute(context.Background(), &funcFile{Name: "greeter", App: "greeter", Path: "/greeter", Auth: tc.fileAuth})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			gets, puts := 0, []string{}
			for _, r := range *seen {
				switch r.method {
				case http.MethodGet:
					gets++
				case http.MethodPut:
					puts = append(puts, r.body)
				default:
					t.Errorf("unexpected %s %s", r.method, r.rawPath)
				}
			}
			if gets != tc.wantGets {
				t.Errorf("%d GETs of the route, want %d", gets, tc.wantGets)
			}
			if tc.wantErr != "" {
				if len(puts) != 0 {
					t.Errorf("put after a failed read: %q", puts)
				}
				return
			}
			if len(puts) != 1 {
				t.Fatalf("%d PUTs, want 1", len(puts))
			}
			var body struct {
				Route map[string]any `json:"route"`
			}
			if err := json.Unmarshal([]byte(puts[0]), &body); err != nil {
				t.Fatal(err)
			}
			if got, _ := body.Route["auth"].(string); got != tc.wantAuth {
				t.Errorf("the PUT's auth is %q, want %q (%s)", got, tc.wantAuth, puts[0])
			}
		})
	}
}
