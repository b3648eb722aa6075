package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/models"
)

// testToken is the --token of every command run by runRootCLI.
const testToken = "gt_test-credentials"

// runRootCLI runs the whole command tree of main.go against the API at u
// with --token testToken, and returns stdout, stderr and the error.
func runRootCLI(t *testing.T, u string, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"--api-url", u, "--token", testToken}, args...))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// onlyRequest returns the one request the fake API saw.
func onlyRequest(t *testing.T, seen *[]recorded) recorded {
	t.Helper()
	if len(*seen) != 1 {
		t.Fatalf("%d requests, want 1: %+v", len(*seen), *seen)
	}
	return (*seen)[0]
}

func TestWhoamiCLI(t *testing.T) {
	const body = `{"principal":{"name":"alice","role":"developer","kind":"token","groups":["ops","dev"],"token_id":"01HXTOKEN"}}`
	var authz []string
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		authz = append(authz, r.Header.Get("Authorization"))
		return 200, body
	})

	out, _, err := runRootCLI(t, u, "whoami")
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyRequest(t, seen); got.method != http.MethodGet || got.rawPath != "/v1/auth/whoami" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
	if len(authz) != 1 || authz[0] != "Bearer "+testToken {
		t.Errorf("Authorization %q, want the --token as a bearer token", authz)
	}
	want := "" +
		"Name:      alice\n" +
		"Role:      developer\n" +
		"Kind:      token\n" +
		"Groups:    ops,dev\n" +
		"Token ID:  01HXTOKEN\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}

	out, _, err = runRootCLI(t, u, "-o", "json", "whoami")
	if err != nil {
		t.Fatal(err)
	}
	var w models.PrincipalWrapper
	if err := json.Unmarshal([]byte(out), &w); err != nil || w.Principal == nil || *w.Principal.Name != "alice" || w.Principal.TokenID != "01HXTOKEN" {
		t.Errorf("-o json is not the PrincipalWrapper (%v):\n%s", err, out)
	}
}

func TestWhoamiCLIWithoutAuthentication(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"principal":{"name":"anonymous","role":"admin","kind":"none"}}`
	})
	out, _, err := runRootCLI(t, u, "whoami")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Kind:      none\n", "Groups:    -\n", "Token ID:  -\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
}

func TestTokenTable(t *testing.T) {
	created := strfmt.DateTime(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	expires := strfmt.DateTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	items := []*models.Token{
		{ID: "01HXB", Name: "ci", User: "deploy-bot", Role: "developer", ExpiresAt: &expires, CreatedAt: &created, CreatedBy: "alice"},
		{ID: "01HXA", Name: "laptop", User: "alice", Role: "admin"},
		nil,
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, tokenTable(items)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID     NAME    USER        ROLE       EXPIRES               CREATED               CREATED BY\n" +
		"01HXB  ci      deploy-bot  developer  2025-01-02T03:04:05Z  2024-05-06T07:08:09Z  alice\n" +
		"01HXA  laptop  alice       admin      never                 -                     -\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTokensListCLIFollowsCursor(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		if r.URL.Query().Get("cursor") == "" {
			return 200, `{"tokens":[{"id":"01HXB","name":"ci","user":"bot","role":"developer"}],"next_cursor":"n1"}`
		}
		return 200, `{"tokens":[{"id":"01HXA","name":"laptop","user":"alice","role":"admin"}]}`
	})
	out, errOut, err := runRootCLI(t, u, "tokens", "ls", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 2 {
		t.Fatalf("%d requests, want 2", len(*seen))
	}
	first, second := (*seen)[0], (*seen)[1]
	if first.method != http.MethodGet || first.rawPath != "/v1/auth/tokens" || first.query.Get("per_page") != "100" || first.query.Has("cursor") {
		t.Errorf("first request %s %s %v", first.method, first.rawPath, first.query)
	}
	if second.query.Get("cursor") != "n1" {
		t.Errorf("second request query %v", second.query)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], "01HXB") || !strings.HasPrefix(lines[2], "01HXA") {
		t.Errorf("output (newest first, as the server sent them):\n%s", out)
	}
	if errOut != "" {
		t.Errorf("stderr %q after the last page", errOut)
	}
}

func TestTokensListCLIOnePage(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"tokens":[{"id":"01HXB","name":"ci"}],"next_cursor":"n1"}`
	})
	out, errOut, err := runRootCLI(t, u, "-o", "json", "token", "list", "--per-page", "1", "--cursor", "c0")
	if err != nil {
		t.Fatal(err)
	}
	if q := onlyRequest(t, seen).query; q.Get("per_page") != "1" || q.Get("cursor") != "c0" {
		t.Errorf("query %v", q)
	}
	var w models.TokensWrapper
	if err := json.Unmarshal([]byte(out), &w); err != nil || len(w.Tokens) != 1 || w.NextCursor != "n1" {
		t.Errorf("-o json is not the TokensWrapper (%v):\n%s", err, out)
	}
	if !strings.Contains(errOut, "--cursor n1") {
		t.Errorf("stderr %q does not tell how to get the next page", errOut)
	}
}

// createdToken is the fake API's answer to POST /auth/tokens.
const createdToken = `{"token":{"id":"01HXNEW","name":"ci","user":"deploy-bot","role":"admin",` +
	`"created_at":"2024-05-06T07:08:09Z","created_by":"alice","secret":"gt_01HXNEW.s3cr3t"}}`

func TestTokensCreateCLI(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 201, createdToken })
	before := time.Now()
	out, errOut, err := runRootCLI(t, u, "tokens", "create", "ci", "--user", "deploy-bot", "--role", "admin", "--expires-in", "24h")
	if err != nil {
		t.Fatal(err)
	}
	got := onlyRequest(t, seen)
	if got.method != http.MethodPost || got.rawPath != "/v1/auth/tokens" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
	var body struct {
		Token map[string]string `json:"token"`
	}
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatalf("body %s: %v", got.body, err)
	}
	expires, err := time.Parse(time.RFC3339, body.Token["expires_at"])
	if err != nil {
		t.Fatalf("expires_at %q: %v", body.Token["expires_at"], err)
	}
	if lo, hi := before.Add(24*time.Hour-time.Second), time.Now().Add(24*time.Hour); expires.Before(lo) || expires.After(hi) {
		t.Errorf("expires_at %s, want 24h from now (%s..%s)", expires, lo, hi)
	}
	delete(body.Token, "expires_at")
	if want := map[string]string{"name": "ci", "user": "deploy-bot", "role": "admin"}; !equalMaps(body.Token, want) {
		t.Errorf("body %s, want these fields %v and expires_at", got.body, want)
	}

	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if last := lines[len(lines)-1]; strings.Join(strings.Fields(last), " ") != "Secret: gt_01HXNEW.s3cr3t" {
		t.Errorf("last line %q, want the secret; output:\n%s", last, out)
	}
	for _, want := range []string{"ID:", "01HXNEW", "Expires:", "never", "Created by:", "alice"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(errOut, "s3cr3t") || !strings.Contains(errOut, "shown only this once") {
		t.Errorf("stderr %q: want the shown-once warning, without the secret", errOut)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestTokensCreateCLIBody(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "name only: the server picks user, role and no expiry", args: nil, want: `{"token":{"name":"ci"}}`},
		{name: "expires at", args: []string{"--expires-at", "2030-01-02T15:04:05+02:00"},
			want: `{"token":{"expires_at":"2030-01-02T13:04:05.000Z","name":"ci"}}`},
		{name: "developer", args: []string{"--role", "developer"}, want: `{"token":{"name":"ci","role":"developer"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 201, createdToken })
			if _, _, err := runRootCLI(t, u, append([]string{"tokens", "create", "ci"}, tt.args...)...); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(onlyRequest(t, seen).body); got != tt.want {
				t.Errorf("body %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTokensCreateCLIQuietPrintsOnlyTheSecret(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 201, createdToken })
	out, errOut, err := runRootCLI(t, u, "tokens", "create", "ci", "-q")
	if err != nil {
		t.Fatal(err)
	}
	onlyRequest(t, seen)
	if out != "gt_01HXNEW.s3cr3t\n" {
		t.Errorf("stdout %q, want the secret alone", out)
	}
	if errOut != "" {
		t.Errorf("stderr %q, want nothing with --quiet", errOut)
	}
}

func TestTokensCreateCLIJSON(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) { return 201, createdToken })
	out, errOut, err := runRootCLI(t, u, "-o", "json", "tokens", "create", "ci")
	if err != nil {
		t.Fatal(err)
	}
	var w models.TokenWrapper
	if err := json.Unmarshal([]byte(out), &w); err != nil || w.Token == nil || w.Token.Secret != "gt_01HXNEW.s3cr3t" || w.Token.ID != "01HXNEW" {
		t.Errorf("-o json is not the TokenWrapper with its secret (%v):\n%s", err, out)
	}
	if !strings.Contains(errOut, "shown only this once") {
		t.Errorf("stderr %q lacks the shown-once warning", errOut)
	}
}

func TestTokensCreateCLIRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "role", args: []string{"--role", "owner"}, wantErr: `--role "owner": must be "admin", "developer" or "user"`},
		{name: "negative expiry", args: []string{"--expires-in", "-1h"}, wantErr: `--expires-in "-1h": must be positive`},
		{name: "bad expiry", args: []string{"--expires-in", "soon"}, wantErr: `--expires-in "soon": want a duration`},
		{name: "bad time", args: []string{"--expires-at", "2030-01-02"}, wantErr: `--expires-at "2030-01-02": want an RFC 3339 time`},
		{name: "both expiries", args: []string{"--expires-in", "1h", "--expires-at", "2030-01-02T15:04:05Z"}, wantErr: "expires-at expires-in"},
		{name: "empty user", args: []string{"--user", ""}, wantErr: "--user: empty user"},
		{name: "quiet json", args: []string{"-q", "-o", "json"}, wantErr: "--quiet prints the secret alone"},
		{name: "no name", args: []string{}, wantErr: "accepts 1 arg(s), received 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 201, createdToken })
			args := append([]string{"tokens", "create"}, tt.args...)
			if tt.name != "no name" {
				args = append(args, "ci")
			}
			_, _, err := runRootCLI(t, u, args...)
			checkErr(t, err, tt.wantErr)
			if len(*seen) != 0 {
				t.Errorf("%d requests sent for invalid flags", len(*seen))
			}
		})
	}
}

func TestTokenExpiresIn(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "90m", want: 90 * time.Minute},
		{in: "12h", want: 12 * time.Hour},
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "0s", wantErr: "must be positive"},
		{in: "0d", wantErr: "must be positive"},
		{in: "1.5d", wantErr: "want a duration"},
		{in: "d", wantErr: "want a duration"},
		{in: "9999999999999d", wantErr: "want a duration"},
		{in: "", wantErr: "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseExpiresIn(tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTokensGetCLI(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"token":{"id":"01HXA","name":"laptop","user":"alice","role":"admin","expires_at":"2030-01-02T03:04:05Z","created_by":"root"}}`
	})
	out, _, err := runRootCLI(t, u, "tokens", "get", "01HXA")
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyRequest(t, seen); got.method != http.MethodGet || got.rawPath != "/v1/auth/tokens/01HXA" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
	want := "" +
		"ID:          01HXA\n" +
		"Name:        laptop\n" +
		"User:        alice\n" +
		"Role:        admin\n" +
		"Expires:     2030-01-02T03:04:05Z\n" +
		"Created:     -\n" +
		"Created by:  root\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestTokensRevokeCLI(t *testing.T) {
	for _, verb := range []string{"revoke", "delete", "rm"} {
		t.Run(verb, func(t *testing.T) {
			u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 204, "" })
			out, _, err := runRootCLI(t, u, "tokens", verb, "01HXA")
			if err != nil {
				t.Fatal(err)
			}
			if got := onlyRequest(t, seen); got.method != http.MethodDelete || got.rawPath != "/v1/auth/tokens/01HXA" {
				t.Errorf("request %s %s", got.method, got.rawPath)
			}
			if want := "token 01HXA revoked\n"; out != want {
				t.Errorf("got %q, want %q", out, want)
			}
		})
	}
}

func TestAppsListOwnerCLI(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantOwner string // "" means no owner parameter
	}{
		{name: "me", args: []string{"--owner", "me"}, wantOwner: "me"},
		{name: "someone", args: []string{"--owner", "bob"}, wantOwner: "bob"},
		{name: "everyone", args: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, seen := fakeAPI(t, func(*http.Request) (int, string) {
				return 200, `{"apps":[{"name":"a1","owner":"alice"},{"name":"b2"}]}`
			})
			out, _, err := runRootCLI(t, u, append([]string{"apps", "list"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			got := onlyRequest(t, seen)
			if got.rawPath != "/v1/apps" || got.query.Get("owner") != tt.wantOwner || got.query.Has("owner") != (tt.wantOwner != "") {
				t.Errorf("request %s %v, want owner=%q", got.rawPath, got.query, tt.wantOwner)
			}
			want := "" +
				"NAME  CONFIG  OWNER  CREATED\n" +
				"a1    -       alice  -\n" +
				"b2    -       -      -\n"
			if out != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
}

func TestAppTableOwnerColumnOnlyWithOwners(t *testing.T) {
	var buf bytes.Buffer
	if err := writeTable(&buf, appTable([]*models.App{{Name: "a"}, nil})); err != nil {
		t.Fatal(err)
	}
	if want := "NAME  CONFIG  CREATED\na     -       -\n"; buf.String() != want {
		t.Errorf("no owners: got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestAppsUpdateOwnerCLI(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"app":{"name":"a1","owner":"bob","config":{"K":"v"}}}`
	})
	out, _, err := runRootCLI(t, u, "apps", "update", "a1", "--owner", "bob")
	if err != nil {
		t.Fatal(err)
	}
	got := onlyRequest(t, seen)
	if got.method != http.MethodPatch || got.rawPath != "/v1/apps/a1" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
	if want := `{"app":{"owner":"bob"}}`; strings.TrimSpace(got.body) != want {
		t.Errorf("body %s, want %s", got.body, want)
	}
	want := "" +
		"Name:     a1\n" +
		"Owner:    bob\n" +
		"Config:   K=v\n" +
		"Created:  -\n" +
		"Updated:  -\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestAppsUpdateOwnerCLIWithConfig(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 200, `{"app":{"name":"a1"}}` })
	if _, _, err := runRootCLI(t, u, "apps", "update", "a1", "--config", "A=1", "--owner", "bob"); err != nil {
		t.Fatal(err)
	}
	if want := `{"app":{"config":{"A":"1"},"owner":"bob"}}`; strings.TrimSpace(onlyRequest(t, seen).body) != want {
		t.Errorf("body %s, want %s", (*seen)[0].body, want)
	}
}

func TestAppsUpdateOwnerCLINeedsAChange(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no flags", args: nil, wantErr: `update app "a1": nothing to change; give --config K=V or --owner NEW`},
		{name: "empty owner", args: []string{"--owner", " "}, wantErr: "--owner: empty owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 200, `{"app":{"name":"a1"}}` })
			_, _, err := runRootCLI(t, u, append([]string{"apps", "update", "a1"}, tt.args...)...)
			checkErr(t, err, tt.wantErr)
			if len(*seen) != 0 {
				t.Errorf("%d requests sent", len(*seen))
			}
		})
	}
}

func TestAuthErrorsCLI(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		status     int
		body       string
		want       string
		wantStatus int
	}{
		{
			name:   "401 without credentials",
			args:   []string{"apps", "list", "--owner", "me"},
			status: 401, body: `{"error":{"message":"credentials are required: send Authorization: Bearer <token>"}}`,
			want:       "list apps: credentials are required: send Authorization: Bearer <token> (401); give a valid API token with --token or GANTRY_TOKEN",
			wantStatus: 401,
		},
		{
			name:   "401 revoked token on an auth operation",
			args:   []string{"tokens", "list"},
			status: 401, body: `{"error":{"message":"unknown or revoked API token"}}`,
			want:       "list tokens: unknown or revoked API token (401); give a valid API token with --token or GANTRY_TOKEN",
			wantStatus: 401,
		},
		{
			name:   "401 without a message",
			args:   []string{"whoami"},
			status: 401, body: ``,
			want:       "whoami: server answered HTTP 401 without an error message; give a valid API token with --token or GANTRY_TOKEN",
			wantStatus: 401,
		},
		{
			name:   "403",
			args:   []string{"apps", "update", "a1", "--owner", "bob"},
			status: 403, body: `{"error":{"message":"only an admin may give an app to another owner"}}`,
			want:       `update app "a1": only an admin may give an app to another owner (403); ` + "`gantry whoami` shows who you are and your role",
			wantStatus: 403,
		},
		{
			name:   "403 on token create",
			args:   []string{"tokens", "create", "ci", "--role", "admin"},
			status: 403, body: `{"error":{"message":"a developer may only create developer tokens for itself"}}`,
			want:       `create token "ci": a developer may only create developer tokens for itself (403); ` + "`gantry whoami` shows who you are and your role",
			wantStatus: 403,
		},
		{
			name:   "404 stays the server's message alone",
			args:   []string{"tokens", "get", "01HXX"},
			status: 404, body: `{"error":{"message":"token 01HXX not found"}}`,
			want:       "token 01HXX not found",
			wantStatus: 404,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := fakeAPI(t, func(*http.Request) (int, string) { return tt.status, tt.body })
			out, _, err := runRootCLI(t, u, tt.args...)
			if err == nil {
				t.Fatalf("no error; output %q", out)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%q\nwant\n%q", err, tt.want)
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != tt.wantStatus {
				t.Errorf("error %#v, want an apiError with status %d", err, tt.wantStatus)
			}
		})
	}
}
