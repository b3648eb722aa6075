package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/gen/models"
)

// writeFile writes content to name in a new temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// asJSON is v encoded as compact JSON, for comparisons.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const pipelineYAML = `# a comment
name: pipe
description: two steps
inputs:
  type: object
  properties:
    n: {type: integer, default: 2}
  required: [n]
outputs:
  out: $.steps.b.output
steps:
  - name: a
    call: {app: x, path: /a}
    input: {n: $.inputs.n, literal: 1.5, flag: yes}
    retry: {max_attempts: 3, on: [error, timeout]}
  - name: b
    needs: [a]
    when: steps.a.status == "SUCCESS"
    call: {app: x, path: /b}
run_access: [authenticated]
`

const pipelineJSON = `{"description":"two steps","inputs":{"properties":{"n":{"default":2,"type":"integer"}},"required":["n"],"type":"object"},` +
	`"name":"pipe","outputs":{"out":"$.steps.b.output"},"run_access":["authenticated"],"steps":[` +
	`{"call":{"app":"x","path":"/a"},"input":{"flag":"yes","literal":1.5,"n":"$.inputs.n"},"name":"a","retry":{"max_attempts":3,"on":["error","timeout"]}},` +
	`{"call":{"app":"x","path":"/b"},"name":"b","needs":["a"],"when":"steps.a.status == \"SUCCESS\""}]}`

func TestReadWorkflowFile(t *testing.T) {
	tests := []struct {
		name     string
		file     string // content; its extension does not matter
		flagName string
		want     string // the workflow as JSON
		wantErr  string
	}{
		{name: "YAML becomes the same JSON, with `on` and `yes` kept as strings", file: pipelineYAML, want: pipelineJSON},
		{name: "JSON as it is", file: pipelineJSON, want: pipelineJSON},
		{name: "the API's wrapper, read-only fields left out", file: `{"workflow":{"name":"pipe","owner":"bob","version":7,"created_at":"2024-01-01T00:00:00Z","summary":{},"steps":[]}}`,
			want: `{"name":"pipe","steps":[]}`},
		{name: "--name names a file without one", file: "steps: []", flagName: "other", want: `{"name":"other","steps":[]}`},
		{name: "--name equal to the file's", file: "name: pipe\nsteps: []", flagName: "pipe", want: `{"name":"pipe","steps":[]}`},
		{name: "--name differing from the file's", file: "name: pipe\nsteps: []", flagName: "other", wantErr: `--name "other" differs from the name "pipe"`},
		{name: "no name at all", file: "steps: []", wantErr: "has no name: add a name field or give --name"},
		{name: "an unknown field", file: "name: p\nstep: []", wantErr: `unknown field "step"`},
		{name: "no steps", file: "name: p", wantErr: "a workflow needs steps"},
		{name: "not an object", file: "- a\n- b", wantErr: "must be an object (a mapping), not an array"},
		{name: "a key that is not a string", file: "name: p\nsteps:\n  - {1: x}", wantErr: "key 1 is not a string"},
		{name: "neither JSON nor YAML", file: "name: [", wantErr: "neither JSON nor YAML"},
		{name: "two YAML documents", file: "name: a\nsteps: []\n---\nname: b\n", wantErr: "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := readWorkflowFile(writeFile(t, "wf.yaml", tt.file), tt.flagName, nil)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			var got, want any
			if err := json.Unmarshal([]byte(asJSON(t, w)), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %s\nwant %s", asJSON(t, got), asJSON(t, want))
			}
		})
	}
	if w, err := readWorkflowFile("-", "", strings.NewReader("name: fromstdin\nsteps: []")); err != nil || w.Name != "fromstdin" {
		t.Errorf("from stdin: %+v %v", w, err)
	}
}

func TestParseRunInputs(t *testing.T) {
	file := writeFile(t, "in.json", `{"a": 1, "k": "from file", "nested": {"x": [1, 2]}}`)
	yamlFile := writeFile(t, "in.yaml", "a: 1\nb: text\n")
	tests := []struct {
		name    string
		inputs  string
		pairs   []string
		want    string
		wantErr string
	}{
		{name: "none is an empty object", want: `{}`},
		{name: "a number parses as a number", pairs: []string{"k=3"}, want: `{"k":3}`},
		{name: "a word stays a string", pairs: []string{"k=abc"}, want: `{"k":"abc"}`},
		{name: "JSON values are JSON", pairs: []string{"b=true", "n=null", "l=[1,\"x\"]", "o={\"a\":1}", "f=1.50"},
			want: `{"b":true,"f":1.50,"l":[1,"x"],"n":null,"o":{"a":1}}`},
		{name: "a quoted string is that string", pairs: []string{`s="3"`}, want: `{"s":"3"}`},
		{name: "what is not one JSON value is a string", pairs: []string{"s=1 2", "t=", "u=a=b"}, want: `{"s":"1 2","t":"","u":"a=b"}`},
		{name: "@file gives the inputs and --input wins over it", inputs: "@" + file, pairs: []string{"k=3"},
			want: `{"a":1,"k":3,"nested":{"x":[1,2]}}`},
		{name: "a YAML file", inputs: "@" + yamlFile, want: `{"a":1,"b":"text"}`},
		{name: "inline JSON", inputs: `{"a":[true]}`, want: `{"a":[true]}`},
		{name: "a key twice", pairs: []string{"k=1", "k=2"}, wantErr: `key "k" given more than once`},
		{name: "no equals sign", pairs: []string{"k"}, wantErr: `--input "k": want KEY=VALUE`},
		{name: "inputs that are no object", inputs: "[1]", wantErr: "want an object of inputs, not an array"},
		{name: "a missing file", inputs: "@/nonexistent/in.json", wantErr: "--inputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRunInputs(tt.inputs, tt.pairs, nil)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && asJSON(t, got) != tt.want {
				t.Errorf("got %s, want %s", asJSON(t, got), tt.want)
			}
		})
	}
}

func TestWorkflowsApplyCLI(t *testing.T) {
	version := 0
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		version++
		status := http.StatusOK
		if version == 1 {
			status = http.StatusCreated
		}
		return status, fmt.Sprintf(`{"workflow":{"name":"pipe","owner":"dev","version":%d,"steps":[]}}`, version)
	})
	yamlFile, jsonFile := writeFile(t, "wf.yaml", pipelineYAML), writeFile(t, "wf.json", pipelineJSON)

	out, _, err := runCLI(t, "--api-url", u, "workflows", "apply", "-f", yamlFile)
	if err != nil || out != "workflow \"pipe\" created (version 1)\n" {
		t.Fatalf("apply YAML: %q %v", out, err)
	}
	out, _, err = runCLI(t, "--api-url", u, "workflows", "apply", "-f", jsonFile)
	if err != nil || out != "workflow \"pipe\" updated (version 2)\n" {
		t.Fatalf("apply JSON: %q %v", out, err)
	}
	if len(*seen) != 2 {
		t.Fatalf("%d requests, want 2", len(*seen))
	}
	for i, r := range *seen {
		if r.method != http.MethodPut || r.rawPath != "/v1/workflows/pipe" {
			t.Errorf("request %d: %s %s", i, r.method, r.rawPath)
		}
		var body, want any
		_ = json.Unmarshal([]byte(r.body), &body)
		_ = json.Unmarshal([]byte(`{"workflow":`+pipelineJSON+`}`), &want)
		if !reflect.DeepEqual(body, want) {
			t.Errorf("request %d body %s", i, r.body)
		}
	}

	out, _, err = runCLI(t, "--api-url", u, "-o", "json", "workflows", "apply", "-f", jsonFile)
	var w models.WorkflowWrapper
	if err != nil || json.Unmarshal([]byte(out), &w) != nil || w.Workflow.Version != 3 {
		t.Errorf("apply -o json: %q %v", out, err)
	}
	if _, _, err := runCLI(t, "--api-url", u, "workflows", "apply"); err == nil || !strings.Contains(err.Error(), `"file" not set`) {
		t.Errorf("apply without -f: %v", err)
	}
}

func TestWorkflowsListAndDescribeCLI(t *testing.T) {
	const wf = `{"name":"pipe","owner":"dev","version":3,"description":"two steps\nmore","run_access":["user:alice","authenticated"],` +
		`"inputs":{"type":"object","properties":{"n":{"type":"integer","default":2,"description":"how many"},"s":{"type":["string","null"]},` +
		`"l":{"type":"array","items":{"type":"string"}}},"required":["s"]},` +
		`"outputs":{"out":"$.steps.b.output","first":"$.steps.a.output"},` +
		`"steps":[{"name":"a","call":{"app":"x","path":"/a"}},{"name":"b","needs":["a"],"when":"inputs.n > 1","call":{"app":"x","path":"/b"},"map":{"items":"$.inputs.l"}},{"name":"c","needs":["a","b"],"sleep":"1s"}]`
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		if r.URL.Path == "/v1/workflows" {
			return 200, `{"workflows":[` + wf + `}],"next_cursor":"n1"}`
		}
		return 200, `{"workflow":` + wf + `,"summary":{"outputs":["first","out"],"steps":[{"name":"a","kind":"call","app":"x","path":"/a"},` +
			`{"name":"b","kind":"map","needs":["a"],"app":"x","path":"/b"},{"name":"c","kind":"sleep","needs":["a","b"]}]}}}`
	})
	out, errOut, err := runCLI(t, "--api-url", u, "workflows", "list")
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME  VERSION  STEPS  OWNER  DESCRIPTION  UPDATED\n" +
		"pipe  3        3      dev    two steps    -\n"
	if out != want {
		t.Errorf("list:\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(errOut, "--cursor n1") || (*seen)[0].query.Get("per_page") != "30" {
		t.Errorf("stderr %q, query %v", errOut, (*seen)[0].query)
	}

	out, _, err = runCLI(t, "--api-url", u, "workflows", "describe", "pipe")
	if err != nil {
		t.Fatal(err)
	}
	if got := (*seen)[1].rawPath; got != "/v1/workflows/pipe" {
		t.Errorf("describe asked %s", got)
	}
	want = "" +
		"Name:         pipe\n" +
		"Description:  two steps more\n" +
		"Owner:        dev\n" +
		"Version:      3\n" +
		"Run access:   user:alice, authenticated\n" +
		"Created:      -\n" +
		"Updated:      -\n" +
		"\n" +
		"INPUT  TYPE             REQUIRED  DEFAULT  DESCRIPTION\n" +
		"l      array of string  no        -        -\n" +
		"n      integer          no        2        how many\n" +
		"s      string|null      yes       -        -\n" +
		"\n" +
		"OUTPUT  FROM\n" +
		"first   $.steps.a.output\n" +
		"out     $.steps.b.output\n" +
		"\n" +
		"STEP  KIND   FUNCTION  NEEDS  WHEN\n" +
		"a     call   x/a       -      -\n" +
		"b     map    x/b       a      inputs.n > 1\n" +
		"c     sleep  -         a,b    -\n"
	if out != want {
		t.Errorf("describe:\n%s\nwant\n%s", out, want)
	}
}

func TestWorkflowsDeleteCLI(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		if r.URL.Query().Get("force") == "true" {
			return 204, ""
		}
		return 409, `{"error":{"message":"workflow \"pipe\" has unfinished runs"}}`
	})
	_, _, err := runCLI(t, "--api-url", u, "workflows", "delete", "pipe")
	if err == nil || err.Error() != `workflow "pipe" has unfinished runs; --force cancels its unfinished runs first` {
		t.Errorf("delete with runs: %v", err)
	}
	out, _, err := runCLI(t, "--api-url", u, "workflows", "delete", "pipe", "--force")
	if err != nil || out != "workflow \"pipe\" deleted\n" {
		t.Errorf("delete --force: %q %v", out, err)
	}
	if r := (*seen)[1]; r.method != http.MethodDelete || r.rawPath != "/v1/workflows/pipe" {
		t.Errorf("request %s %s", r.method, r.rawPath)
	}
}

func TestWorkflowsRunCLISendsInputsAndIdempotencyKey(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 201, `{"execution":{"id":"01HX0000000000000000000009","kind":"workflow","workflow":"pipe","status":"QUEUED"}}`
	})
	file := writeFile(t, "in.json", `{"a":1,"k":"file"}`)
	out, _, err := runCLI(t, "--api-url", u, "workflows", "run", "pipe", "--inputs", "@"+file, "--input", "k=3", "--input", "s=abc", "--idempotency-key", "key-1")
	if err != nil || out != "01HX0000000000000000000009\n" {
		t.Fatalf("run: %q %v", out, err)
	}
	r := (*seen)[0]
	if r.method != http.MethodPost || r.rawPath != "/v1/workflows/pipe" || r.header.Get("Idempotency-Key") != "key-1" {
		t.Errorf("request %s %s %v", r.method, r.rawPath, r.header)
	}
	if want := `{"inputs":{"a":1,"k":3,"s":"abc"}}`; strings.TrimSpace(r.body) != want {
		t.Errorf("body %s, want %s", r.body, want)
	}
	if _, _, err := runCLI(t, "--api-url", u, "workflows", "run", "pipe"); err != nil {
		t.Fatal(err)
	}
	if r := (*seen)[1]; r.header.Get("Idempotency-Key") != "" || strings.TrimSpace(r.body) != `{"inputs":{}}` {
		t.Errorf("no inputs, no key: %v %s", r.header, r.body)
	}
}

func TestExecutionsListWorkflowFilters(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"executions":[{"id":"01HX0000000000000000000002","kind":"workflow","workflow":"pipe","workflow_version":2,"status":"FAILED","reason":"bad_exit","triggered_by":"alice","duration_ms":1500}]}`
	})
	out, _, err := runCLI(t, "--api-url", u, "executions", "list", "--workflow", "pipe", "--kind", "WORKFLOW")
	if err != nil {
		t.Fatal(err)
	}
	if q := (*seen)[0].query; q.Get("workflow") != "pipe" || q.Get("kind") != "workflow" {
		t.Errorf("query %v", q)
	}
	want := "" +
		"ID                          WORKFLOW  VERSION  STATUS  REASON    TRIGGERED BY  DURATION  CREATED\n" +
		"01HX0000000000000000000002  pipe      2        FAILED  bad_exit  alice         1.5s      -\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if _, _, err := runCLI(t, "--api-url", u, "executions", "list", "--kind", "job"); err == nil || !strings.Contains(err.Error(), "want call or workflow") {
		t.Errorf("--kind job: %v", err)
	}
}

func TestExecutionsTableOfCallsAndRunsMixed(t *testing.T) {
	items := []*models.Execution{
		{ID: "01HX0000000000000000000002", Kind: "workflow", Workflow: "pipe", Status: "RUNNING"},
		{ID: "01HX0000000000000000000001", Kind: "call", App: "a", Route: "/x", Status: "SUCCESS"},
	}
	var b strings.Builder
	if err := writeTable(&b, executionsTable(items)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID                          KIND      OF    STATUS   REASON  DURATION  CREATED\n" +
		"01HX0000000000000000000002  workflow  pipe  RUNNING  -       -         -\n" +
		"01HX0000000000000000000001  call      a/x   SUCCESS  -       -         -\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestExecutionsShowOfARun(t *testing.T) {
	u, _ := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"execution":{"id":"01HX0000000000000000000002","kind":"workflow","workflow":"pipe","workflow_version":2,"status":"SUCCESS",` +
			`"inputs":{"n":2},"outputs":{"out":"Hello!"},"steps":[` +
			`{"name":"a","status":"SUCCESS","attempts":2,"calls":["01HX00000000000000000000A1","01HX00000000000000000000A2"],"started_at":"2024-05-06T07:08:09Z","completed_at":"2024-05-06T07:08:10.5Z"},` +
			`{"name":"b","status":"SKIPPED"},` +
			`{"name":"m","status":"FAILED","reason":"bad_exit","error":"exited with code 3","items":{"total":4,"success":3,"failed":1}}]}}`
	})
	out, _, err := runCLI(t, "--api-url", u, "executions", "show", "01HX0000000000000000000002")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Kind:          workflow\n",
		"Workflow:      pipe (version 2)\n",
		"Inputs:        {\"n\":2}\n",
		"STEP  STATUS   ATTEMPTS  REASON    CALL                                STARTED               DURATION  ERROR\n",
		"a     SUCCESS  2         -         01HX00000000000000000000A2          2024-05-06T07:08:09Z  1.5s      -\n",
		"b     SKIPPED  0         -         -                                   -                     -         -\n",
		"m     FAILED   0         bad_exit  4 items: 3 ok, 1 failed, 0 running  -                     -         exited with code 3\n",
		"\nOutputs:\n{\n  \"out\": \"Hello!\"\n}\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatEvent(t *testing.T) {
	at := strfmt.DateTime(time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local))
	ev := func(seq int64, typ string, e models.ExecutionEvent) *models.ExecutionEvent {
		e.Seq, e.Type, e.Time = &seq, &typ, &at
		return &e
	}
	item := int64(3)
	tests := []struct {
		in   *models.ExecutionEvent
		want string
	}{
		{ev(1, "queued", models.ExecutionEvent{Status: "QUEUED"}), "07:08:09 #1 run queued"},
		{ev(3, "step_started", models.ExecutionEvent{Step: "a", Attempt: 1, Call: "C1"}), "07:08:09 #3 step a started (attempt 1, call C1)"},
		{ev(4, "step_retrying", models.ExecutionEvent{Step: "a", Attempt: 1, Status: "FAILED", Reason: "bad_exit", Call: "C1", Message: "exited with code 3"}),
			"07:08:09 #4 step a retrying: attempt 1 FAILED (bad_exit, call C1): exited with code 3"},
		{ev(5, "step_finished", models.ExecutionEvent{Step: "m", Item: &item, Attempt: 2, Status: "SUCCESS"}), "07:08:09 #5 step m[3] finished: SUCCESS (attempt 2)"},
		{ev(6, "step_skipped", models.ExecutionEvent{Step: "b", Status: "SKIPPED"}), "07:08:09 #6 step b skipped"},
		{ev(7, "finished", models.ExecutionEvent{Status: "CANCELLED", Reason: "client_request"}), "07:08:09 #7 run finished: CANCELLED (client_request)"},
	}
	for _, tt := range tests {
		if got := formatEvent(tt.in); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestExecutionsEventsListsAllPagesAsJSON(t *testing.T) {
	u, seen := fakeAPI(t, func(r *http.Request) (int, string) {
		return 200, `{"events":[{"seq":1,"time":"2024-05-06T07:08:09Z","type":"queued","status":"QUEUED"},{"seq":2,"time":"2024-05-06T07:08:09Z","type":"finished","status":"SUCCESS"}]}`
	})
	out, _, err := runCLI(t, "--api-url", u, "executions", "events", "01HX0000000000000000000002")
	if err != nil {
		t.Fatal(err)
	}
	r := (*seen)[0]
	if r.rawPath != "/v1/executions/01HX0000000000000000000002/events" || r.query.Get("after") != "0" || r.query.Get("limit") != "1000" ||
		!strings.Contains(r.header.Get("Accept"), "application/json") || strings.Contains(r.header.Get("Accept"), "event-stream") {
		t.Errorf("request %s %v Accept %q", r.rawPath, r.query, r.header.Get("Accept"))
	}
	if !strings.HasPrefix(out, "SEQ  TIME ") || !strings.Contains(out, "\n2    2024-05-06T07:08:09Z  finished") {
		t.Errorf("output:\n%s", out)
	}
}

// sseServer serves a run's events as Server-Sent Events: each connection gets the events
// after its Last-Event-ID, and the first connection is dropped after dropAfter events.
type sseServer struct {
	mu        sync.Mutex
	events    []string // the JSON of events 1..n
	dropAfter int
	resumes   []string // Last-Event-ID of each connection
}

func (s *sseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.resumes = append(s.resumes, r.Header.Get("Last-Event-ID"))
	first := len(s.resumes) == 1
	s.mu.Unlock()
	if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var after int
	_, _ = fmt.Sscan(r.Header.Get("Last-Event-ID"), &after)
	if !first && after > 0 {
		after-- // send one event again: the client must not show it twice
	}
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = io.WriteString(w, ": keep-alive\n\n")
	for i := after; i < len(s.events); i++ {
		var ev struct{ Type string }
		_ = json.Unmarshal([]byte(s.events[i]), &ev)
		fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", i+1, ev.Type, s.events[i])
		w.(http.Flusher).Flush()
		if first && i+1 == s.dropAfter {
			panic(http.ErrAbortHandler) // the connection drops mid-stream
		}
	}
}

func TestExecutionsEventsFollowResumesAfterADroppedConnection(t *testing.T) {
	srv := &sseServer{dropAfter: 3, events: []string{
		`{"seq":1,"time":"2024-05-06T07:08:09Z","type":"queued","status":"QUEUED"}`,
		`{"seq":2,"time":"2024-05-06T07:08:09Z","type":"started","status":"RUNNING"}`,
		`{"seq":3,"time":"2024-05-06T07:08:09Z","type":"step_started","step":"a","attempt":1,"status":"RUNNING"}`,
		`{"seq":4,"time":"2024-05-06T07:08:10Z","type":"step_finished","step":"a","attempt":1,"status":"SUCCESS"}`,
		`{"seq":5,"time":"2024-05-06T07:08:10Z","type":"finished","status":"SUCCESS"}`,
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	out, _, err := runCLI(t, "--api-url", ts.URL, "--token", "tok", "-o", "json", "executions", "events", "R1", "--follow")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d events, want 5:\n%s", len(lines), out)
	}
	for i, line := range lines {
		var ev models.ExecutionEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil || *ev.Seq != int64(i+1) {
			t.Errorf("line %d: %s (%v)", i, line, err)
		}
	}
	if !reflect.DeepEqual(srv.resumes, []string{"", "3"}) {
		t.Errorf("Last-Event-ID of the connections: %q, want none then 3", srv.resumes)
	}
}

func TestExecutionsEventsFollowStopsOnAClientError(t *testing.T) {
	u, seen := fakeAPI(t, func(*http.Request) (int, string) {
		return 404, `{"error":{"message":"execution \"C1\" is a function call: only workflow runs have events"}}`
	})
	_, _, err := runCLI(t, "--api-url", u, "executions", "events", "C1", "--follow")
	if err == nil || err.Error() != `execution "C1" is a function call: only workflow runs have events` || len(*seen) != 1 {
		t.Errorf("err %v after %d requests", err, len(*seen))
	}
}

// TestFollowingWaitsOutAServerAway: a server that answers 503 (restarting, a node replaced)
// more times in a row than the retries is waited for until the time budget passes; the
// events then come, each once.
func TestFollowingWaitsOutAServerAway(t *testing.T) {
	srv := &sseServer{events: []string{`{"seq":1,"time":"2024-05-06T07:08:09Z","type":"finished","status":"SUCCESS"}`}}
	var calls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 6 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()
	s := &session{raw: rawAPI{base: ts.URL + "/v1", client: ts.Client(), token: "tok"}}
	var got []int64
	opts := followOptions{retries: 2, giveUp: 10 * time.Second, backoff: time.Millisecond, maxBackoff: 5 * time.Millisecond}
	err := s.followEvents(t.Context(), "R1", 0, opts, func(e *models.ExecutionEvent) error { got = append(got, *e.Seq); return nil })
	if err != nil || !reflect.DeepEqual(got, []int64{1}) {
		t.Fatalf("events %v, %v: following gave up before its time budget", got, err)
	}
	calls.Store(-1000) // the server stays away: following gives up once the budget passed
	opts.giveUp = 50 * time.Millisecond
	start := time.Now()
	if err := s.followEvents(t.Context(), "R1", 0, opts, func(*models.ExecutionEvent) error { return nil }); err == nil || time.Since(start) < opts.giveUp {
		t.Fatalf("a server away for good: %v after %s", err, time.Since(start))
	}
}
