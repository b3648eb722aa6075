package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/models"
)

func TestParseKeyValues(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr string
	}{
		{name: "none", in: nil, want: nil},
		{name: "pairs", in: []string{"A=1", "B=two"}, want: map[string]string{"A": "1", "B": "two"}},
		{name: "empty value removes", in: []string{"A="}, want: map[string]string{"A": ""}},
		{name: "value with equals", in: []string{"DSN=user=x;db=y"}, want: map[string]string{"DSN": "user=x;db=y"}},
		{name: "value with comma kept whole", in: []string{"L=a,b"}, want: map[string]string{"L": "a,b"}},
		{name: "no equals", in: []string{"A"}, wantErr: `--config "A": want KEY=VALUE`},
		{name: "empty key", in: []string{"=1"}, wantErr: `--config "=1": empty key`},
		{name: "duplicate key", in: []string{"A=1", "A=2"}, wantErr: `key "A" given more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKeyValues("config", tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseHeaders(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    map[string][]string
		wantErr string
	}{
		{name: "none", in: nil, want: nil},
		{name: "one", in: []string{"X-A=1"}, want: map[string][]string{"X-A": {"1"}}},
		{name: "repeated key appends", in: []string{"X-A=1", "X-A=2"}, want: map[string][]string{"X-A": {"1", "2"}}},
		{name: "empty value is empty list", in: []string{"X-A="}, want: map[string][]string{"X-A": {}}},
		{name: "set then removed", in: []string{"X-A=1", "X-A="}, wantErr: `header "X-A" is both removed`},
		{name: "removed then set", in: []string{"X-A=", "X-A=1"}, wantErr: `header "X-A" is both removed`},
		{name: "malformed", in: []string{"X-A"}, wantErr: `--header "X-A": want KEY=VALUE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHeaders("header", tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseHeadersEmptyListIsSentAsEmptyArray(t *testing.T) {
	h, err := parseHeaders("header", []string{"X-A="})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&models.Route{Headers: h})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"headers":{"X-A":[]},"secrets":null}`; got != want { // secrets null: unchanged
		t.Errorf("got %s, want %s (null would not remove the header)", got, want)
	}
}

func TestParseAPIURL(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080/v1"},
		{in: "http://127.0.0.1:8080/", want: "http://127.0.0.1:8080/v1"},
		{in: "127.0.0.1:8080", want: "http://127.0.0.1:8080/v1"},
		{in: "https://gantry.example.com", want: "https://gantry.example.com/v1"},
		{in: "https://example.com/gantry/", want: "https://example.com/gantry/v1"},
		{in: "https://example.com/gantry/v1", want: "https://example.com/gantry/v1"},
		{in: " ", wantErr: "empty"},
		{in: "ftp://example.com", wantErr: "scheme must be http or https"},
		{in: "http://", wantErr: "no host"},
		{in: "http://example.com/?a=b", wantErr: "must not contain"},
		{in: "http://u:p@example.com", wantErr: "must not contain"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAPIURL(tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAPIURLDefault(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == envAPIURL {
				return v
			}
			return ""
		}
	}
	if got := apiURLDefault(env("")); got != defaultAPIURL {
		t.Errorf("unset: got %q, want %q", got, defaultAPIURL)
	}
	if got := apiURLDefault(env("https://g.example")); got != "https://g.example" {
		t.Errorf("set: got %q", got)
	}
}

func TestOutputFormatSet(t *testing.T) {
	var f outputFormat
	for _, ok := range []string{"table", "json"} {
		if err := f.Set(ok); err != nil || f.String() != ok {
			t.Errorf("Set(%q) = %v, value %q", ok, err, f)
		}
	}
	if err := f.Set("yaml"); err == nil {
		t.Error("Set(yaml) succeeded")
	}
}

func TestFormatConfig(t *testing.T) {
	tests := []struct {
		in   map[string]string
		want string
	}{
		{in: nil, want: ""},
		{in: map[string]string{"B": "2", "A": "1"}, want: "A=1,B=2"},
		{in: map[string]string{"A": "x,y", "B": "two words", "C": ""}, want: `A="x,y",B="two words",C=`},
	}
	for _, tt := range tests {
		if got := formatConfig(tt.in); got != tt.want {
			t.Errorf("formatConfig(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatHeaders(t *testing.T) {
	got := formatHeaders(map[string][]string{"X-B": {"1", "2"}, "X-A": {"a"}, "X-C": {}})
	if want := "X-A=a,X-B=1,X-B=2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAppTable(t *testing.T) {
	created := strfmt.DateTime(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	items := []*models.App{
		{Name: "alpha", Config: models.Config{"B": "2", "A": "1"}, CreatedAt: &created},
		{Name: "b", Config: models.Config{"TAB": "x\ty"}},
		nil,
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, appTable(items)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME   CONFIG      CREATED\n" +
		"alpha  A=1,B=2     2024-05-06T07:08:09Z\n" +
		"b      TAB=\"x\\ty\"  -\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRouteTable(t *testing.T) {
	mem, timeout, conc := int64(256), int64(10), int64(4)
	items := []*models.Route{
		{Path: "/hello/world", Image: "img:1", Type: "sync", Format: "http", Memory: &mem, Timeout: &timeout, MaxConcurrency: &conc},
		{Path: "/x", Image: "i"},
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, routeTable(items)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"PATH          IMAGE  TYPE  FORMAT  MEMORY  TIMEOUT  CONCURRENCY\n" +
		"/hello/world  img:1  sync  http    256MiB  10s      4\n" +
		"/x            i      -     -       -       -        -\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWriteFields(t *testing.T) {
	var buf bytes.Buffer
	err := writeFields(&buf, appFields(&models.App{Name: "a", Config: models.Config{"K": "line1\nline2"}}))
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"Name:     a\n" +
		"Config:   K=\"line1\\nline2\"\n" +
		"Created:  -\n" +
		"Updated:  -\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestClientError(t *testing.T) {
	msg := `app "x" not found`
	notFound := apps.NewGetAppNotFound()
	notFound.Payload = &models.Error{Error: &models.ErrorError{Message: &msg}}

	badMsg := "invalid route"
	bad := routes.NewCreateRouteBadRequest()
	bad.Payload = &models.Error{Error: &models.ErrorError{Message: &badMsg, Fields: "memory"}}

	serverErr := apps.NewListAppsDefault(503)
	serverErr.Payload = &models.Error{}

	tests := []struct {
		name       string
		err        error
		want       string
		wantStatus int
	}{
		{name: "typed 404", err: notFound, want: msg, wantStatus: 404},
		{name: "fields", err: bad, want: "invalid route (fields: memory)", wantStatus: 400},
		{name: "default without message", err: serverErr, want: "op: server answered HTTP 503 without an error message", wantStatus: 503},
		{name: "unexpected", err: runtime.NewAPIError("x", nil, 302), want: "op: unexpected answer from server (HTTP 302)", wantStatus: 302},
		{
			name: "connection",
			err:  &url.Error{Op: "Get", URL: "http://127.0.0.1:9/v1/apps", Err: syscall.ECONNREFUSED},
			want: "op: cannot reach the Gantry API at http://127.0.0.1:9/v1/apps: connection refused",
		},
		{name: "other", err: errors.New("boom"), want: "op: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientError("op", tt.err)
			if got.Error() != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			var ae *apiError
			isAPI := tt.wantStatus != 0
			if errors.As(got, &ae) != isAPI {
				t.Fatalf("errors.As(apiError) = %v, want %v", !isAPI, isAPI)
			}
			if ae != nil && ae.Status != tt.wantStatus {
				t.Errorf("status %d, want %d", ae.Status, tt.wantStatus)
			}
		})
	}
	if err := clientError("op", &url.Error{Op: "Get", URL: "u", Err: syscall.ECONNREFUSED}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connection error does not wrap its cause: %v", err)
	}
}

func TestRouteFlagsToModel(t *testing.T) {
	rf := routeFlags{image: "img", typ: "async", memory: 64, cpus: 0.5, timeout: 5, config: []string{"A="}}
	set := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, s := range names {
				if s == n {
					return true
				}
			}
			return false
		}
	}

	got, err := rf.toModel(set(flagMemory, flagCPUs, flagConfig))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if want := `{"config":{"A":""},"cpus":0.5,"memory":64,"secrets":null}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}

	none, err := (&routeFlags{}).toModel(set())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(none); string(b) != `{"secrets":null}` {
		t.Errorf("no flags set: got %s, want only secrets null (which changes nothing)", b)
	}

	if _, err := (&routeFlags{headers: []string{"bad"}}).toModel(set(flagHeader)); err == nil {
		t.Error("malformed --header accepted")
	}
}

func TestListPages(t *testing.T) {
	pages := map[string]struct {
		items []int
		next  string
	}{
		"":   {items: []int{1, 2}, next: "c1"},
		"c1": {items: []int{3}, next: "c2"},
		"c2": {items: []int{4}},
	}
	fetch := func(_ context.Context, cursor string, _ int64) ([]int, string, error) {
		p, ok := pages[cursor]
		if !ok {
			return nil, "", fmt.Errorf("unknown cursor %q", cursor)
		}
		return p.items, p.next, nil
	}
	ctx := context.Background()

	items, next, err := listPages(ctx, pageFlags{}, 2, fetch)
	if err != nil || !reflect.DeepEqual(items, []int{1, 2}) || next != "c1" {
		t.Errorf("one page: %v %q %v", items, next, err)
	}
	items, next, err = listPages(ctx, pageFlags{cursor: "c1"}, 2, fetch)
	if err != nil || !reflect.DeepEqual(items, []int{3}) || next != "c2" {
		t.Errorf("from cursor: %v %q %v", items, next, err)
	}
	items, next, err = listPages(ctx, pageFlags{all: true}, 2, fetch)
	if err != nil || !reflect.DeepEqual(items, []int{1, 2, 3, 4}) || next != "" {
		t.Errorf("all: %v %q %v", items, next, err)
	}

	loop := func(context.Context, string, int64) ([]int, string, error) { return []int{1}, "same", nil }
	if _, _, err := listPages(ctx, pageFlags{all: true, cursor: "same"}, 2, loop); err == nil {
		t.Error("a repeating next_cursor did not stop --all")
	}
}

func TestPageSize(t *testing.T) {
	if got := (pageFlags{perPage: 30}).pageSize(false); got != 30 {
		t.Errorf("default: %d", got)
	}
	if got := (pageFlags{perPage: 30, all: true}).pageSize(false); got != maxPerPage {
		t.Errorf("--all: %d", got)
	}
	if got := (pageFlags{perPage: 7, all: true}).pageSize(true); got != 7 {
		t.Errorf("--all --per-page 7: %d", got)
	}
}

// The tests below run the commands against a fake API (httptest) to check
// what the generated client puts on the wire; the black-box tests against
// the real server live elsewhere.

// recorded is one request the fake API saw.
type recorded struct {
	method  string
	rawPath string
	query   url.Values
	header  http.Header
	body    string
}

// fakeAPI answers every request with status and body and records it.
func fakeAPI(t *testing.T, answer func(r *http.Request) (int, string)) (string, *[]recorded) {
	t.Helper()
	var seen []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, recorded{method: r.Method, rawPath: r.URL.EscapedPath(), query: r.URL.Query(), header: r.Header.Clone(), body: string(b)})
		status, body := answer(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &seen
}

// runCLI runs the client commands with args and returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "gantry", SilenceUsage: true, SilenceErrors: true}
	cf := addClientFlags(root)
	root.AddCommand(newVersionCmd(cf), newAppsCmd(cf), newRoutesCmd(cf), newExecutionsCmd(cf), newNodesCmd(cf), newWorkflowsCmd(cf))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestRoutesUpdateSendsOnlySetFlags(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"route":{"path":"/hello/world","image":"img","memory":64}}`
	})
	out, _, err := runCLI(t, "--api-url", u+"/prefix", "routes", "update", "app1", "/hello/world",
		"--memory", "64", "--config", "A=", "--header", "X-A=1")
	if err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 1 {
		t.Fatalf("%d requests, want 1", len(*seen))
	}
	got := (*seen)[0]
	if got.method != http.MethodPatch || got.rawPath != "/prefix/v1/apps/app1/routes/%2Fhello%2Fworld" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
	if want := `{"route":{"config":{"A":""},"headers":{"X-A":["1"]},"memory":64,"secrets":null}}`; strings.TrimSpace(got.body) != want {
		t.Errorf("body %s, want %s", got.body, want)
	}
	if !strings.Contains(out, "Memory:") || !strings.Contains(out, "64MiB") {
		t.Errorf("output:\n%s", out)
	}
}

func TestAppsListAllFollowsCursor(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		if r.URL.Query().Get("cursor") == "" {
			return 200, `{"apps":[{"name":"a"}],"next_cursor":"n1"}`
		}
		return 200, `{"apps":[{"name":"b"}]}`
	})
	out, _, err := runCLI(t, "--api-url", u, "-o", "json", "apps", "list", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 2 || (*seen)[1].query.Get("cursor") != "n1" || (*seen)[0].query.Get("per_page") != "100" {
		t.Errorf("requests %+v", *seen)
	}
	var w models.AppsWrapper
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatalf("output is not an AppsWrapper: %v\n%s", err, out)
	}
	if len(w.Apps) != 2 || w.NextCursor != "" {
		t.Errorf("got %+v", w)
	}
}

func TestAppsListHintsAtNextPage(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"apps":[{"name":"a","config":{"K":"v"}}],"next_cursor":"n1"}`
	})
	out, errOut, err := runCLI(t, "--api-url", u, "apps", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "K=v") {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(errOut, "--cursor n1") {
		t.Errorf("stderr: %q", errOut)
	}
}

func TestServerErrorMessage(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) {
		return 404, `{"error":{"message":"app \"x\" not found"}}`
	})
	_, _, err := runCLI(t, "--api-url", u, "apps", "get", "x")
	if err == nil || err.Error() != `app "x" not found` {
		t.Errorf("err = %v", err)
	}
}

func TestDeleteConfirms(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) { return 204, "" })
	out, _, err := runCLI(t, "--api-url", u, "routes", "delete", "app1", "/a/b")
	if err != nil {
		t.Fatal(err)
	}
	if want := "route /a/b of app \"app1\" deleted\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if got := (*seen)[0]; got.method != http.MethodDelete || got.rawPath != "/v1/apps/app1/routes/%2Fa%2Fb" {
		t.Errorf("request %s %s", got.method, got.rawPath)
	}
}

func TestVersion(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) { return 200, `{"version":"1.2.3"}` })
	out, _, err := runCLI(t, "--api-url", u, "version")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Client version:  " + version + "\nServer version:  1.2.3\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}
