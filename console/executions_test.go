package console

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// executionFixture is a console whose store holds alice's app "shop" and bob's app "tools"
// with executions, and whose API cancels calls (an invoke.Service without a runner:
// queued calls only).
type executionFixture struct {
	*testConsole
	shop, tools store.App
	ok, failed  []string // IDs of shop's executions, oldest first
	bobs        string   // an execution of bob's app
	full        string   // shop's execution with an output and a log
}

// seedExecutions builds the fixture.
func seedExecutions(t *testing.T) *executionFixture {
	t.Helper()
	f := &executionFixture{}
	f.testConsole = newTestConsole(t, testOptions{deps: func(d *handlers.Deps) {
		d.Functions = invoke.New(d.Store.(invoke.Store), nil, invoke.Options{})
	}})
	ctx := context.Background()
	var err error
	if f.shop, err = f.store.CreateApp(ctx, store.App{Name: "shop", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if f.tools, err = f.store.CreateApp(ctx, store.App{Name: "tools", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Add(-time.Minute)
	record := func(app store.App, route, status string, output string, log []byte) string {
		ex := store.Execution{ID: f.store.NewID(), App: app.Name, AppID: app.ID, Route: route, Type: store.TypeAsync, Status: status,
			CreatedAt: now, StartedAt: now.Add(20 * time.Millisecond), CompletedAt: now.Add(145 * time.Millisecond), Attempts: 2,
			Output: []byte(output)}
		if status == store.StatusFailed {
			ex.Reason, ex.Error = store.ReasonBadExit, "exit status 3"
		}
		f.store.RecordExecution(ex, log)
		return ex.ID
	}
	for i := range 5 {
		f.ok = append(f.ok, record(f.shop, "/hello", store.StatusSuccess, "", nil))
		if i < 2 {
			f.failed = append(f.failed, record(f.shop, "/other", store.StatusFailed, "", nil))
		}
	}
	f.bobs = record(f.tools, "/hammer", store.StatusSuccess, "", nil)
	f.full = record(f.shop, "/hello", store.StatusSuccess, `<b>hello</b> world`, []byte("starting\n<script>x</script> done\n"))
	if err := f.store.FlushExecutions(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// enqueue queues an async call of shop's /slow, as an async call does, and returns its ID.
func (f *executionFixture) enqueue(t *testing.T) string { return f.enqueueAt(t, "/slow") }

func (f *executionFixture) enqueueAt(t *testing.T, route string) string {
	t.Helper()
	task := store.Task{ID: f.store.NewID(), Route: store.Route{App: "shop", Path: route, Image: "img"}, AppID: f.shop.ID,
		Method: http.MethodPost, URL: route}
	ex := store.Execution{App: "shop", AppID: f.shop.ID, Route: route, Type: store.TypeAsync}
	if err := f.store.EnqueueTask(context.Background(), task, ex); err != nil {
		t.Fatal(err)
	}
	return task.ID
}

var executionLink = regexp.MustCompile(`href="/ui/executions/([0-9A-Z]{26})"`)

// listed returns the IDs the executions table links to, in order.
func listed(body string) []string {
	var ids []string
	for _, m := range executionLink.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func newestFirst(ids ...[]string) []string {
	var all []string
	for _, l := range ids {
		all = append(all, l...)
	}
	// IDs sort by creation.
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[j] > all[i] {
				all[i], all[j] = all[j], all[i]
			}
		}
	}
	return all
}

func TestExecutionsList(t *testing.T) {
	f := seedExecutions(t)
	alice := f.signedIn("alice")
	tests := []struct {
		name, query string
		want        []string
	}{
		{"all of alice's", "", newestFirst(f.ok, f.failed, []string{f.full})},
		{"by status", "?status=FAILED", newestFirst(f.failed)},
		{"by app and route", "?app=shop&route=%2Fother", newestFirst(f.failed)},
		{"by app and status", "?app=shop&status=SUCCESS", newestFirst(f.ok, []string{f.full})},
		{"by kind", "?kind=call&status=FAILED", newestFirst(f.failed)},
		{"runs only", "?kind=workflow", nil},
		{"in the last 15 minutes", "?since=15m&status=FAILED", newestFirst(f.failed)},
		{"since a time", "?since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := alice.get("/ui/executions" + tt.query)
			if p.status != http.StatusOK {
				t.Fatalf("%d\n%s", p.status, p.body)
			}
			if got := listed(p.body); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("listed %v\nwant %v", got, tt.want)
			}
			if len(tt.want) > 0 && (!strings.Contains(p.body, `id="executions"`) || !strings.Contains(p.body, "<td>125 ms</td>")) {
				t.Fatalf("no #executions table with the durations:\n%s", p.body)
			}
			if len(tt.want) == 0 && !strings.Contains(p.body, `class="empty"`) {
				t.Fatalf("no empty state:\n%s", p.body)
			}
			for _, id := range []string{"f-app", "f-route", "f-status", "f-kind", "f-since"} {
				if !strings.Contains(p.body, `id="`+id+`"`) {
					t.Fatalf("the filter form lacks #%s", id)
				}
			}
		})
	}
	if p := f.signedIn("bob").get("/ui/executions"); strings.Join(listed(p.body), ",") != f.bobs {
		t.Fatalf("bob lists %v, want his only %s", listed(p.body), f.bobs)
	}
	if p := alice.get("/ui/executions"); strings.Contains(p.body, "data-live") {
		t.Fatal("a list of final executions is live")
	}
}

func TestExecutionsListBadFilter(t *testing.T) {
	f := seedExecutions(t)
	alice := f.signedIn("alice")
	for _, tt := range []struct{ query, field string }{
		{"?status=NOPE", "status"},
		{"?kind=job", "kind"},
		{"?since=yesterday", "since"},
		{"?app=tools", ""}, // bob's app: not found for alice, as the API says
	} {
		p := alice.get("/ui/executions" + tt.query)
		if tt.field == "" {
			if p.status != http.StatusNotFound {
				t.Fatalf("%s: %d, want 404", tt.query, p.status)
			}
			continue
		}
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="error"`) || !strings.Contains(p.body, "(field: "+tt.field+")") {
			t.Fatalf("%s: %d, want 400 naming %s:\n%s", tt.query, p.status, tt.field, p.body)
		}
		if !strings.Contains(p.body, `id="filter"`) {
			t.Fatalf("%s: the filter form is not shown again", tt.query)
		}
	}
}

func TestExecutionsListPages(t *testing.T) {
	f := seedExecutions(t)
	alice := f.signedIn("alice")
	want := newestFirst(f.ok, []string{f.full})
	var got []string
	path := "/ui/executions?status=SUCCESS&app=shop&per_page=2"
	next := regexp.MustCompile(`<a href="([^"]*)" rel="next">`)
	for range 10 {
		p := alice.get(path)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", path, p.status)
		}
		got = append(got, listed(p.body)...)
		m := next.FindStringSubmatch(p.body)
		if m == nil {
			break
		}
		path = strings.ReplaceAll(m[1], "&amp;", "&")
		u, _ := url.Parse(path)
		if q := u.Query(); q.Get("status") != "SUCCESS" || q.Get("app") != "shop" || q.Get("per_page") != "2" || q.Get("cursor") == "" {
			t.Fatalf("the next page's link drops the filters: %s", path)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages listed %v\nwant %v", got, want)
	}
}

func TestExecutionPage(t *testing.T) {
	f := seedExecutions(t)
	alice := f.signedIn("alice")
	p := alice.get("/ui/executions/" + f.full)
	if p.status != http.StatusOK {
		t.Fatalf("%d\n%s", p.status, p.body)
	}
	for _, want := range []string{
		`id="execution-status"`, `>SUCCESS<`, `id="execution-attempts"`, `2 attempts`,
		`<pre id="execution-output" class="output">&lt;b&gt;hello&lt;/b&gt; world</pre>`,
		`&lt;script&gt;x&lt;/script&gt; done`, `id="execution-log"`,
		`href="/ui/apps/shop"`, `125 ms`, `20 ms`, // duration, queue wait
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(p.body, `id="cancel"`) || strings.Contains(p.body, "data-live") {
		t.Error("a final execution has a Cancel button or a live region")
	}
	failed := alice.get("/ui/executions/" + f.failed[0])
	if !strings.Contains(failed.body, "exit status 3") || !strings.Contains(failed.body, "bad_exit") {
		t.Errorf("the failed execution's error and reason are not shown:\n%s", failed.body)
	}

	bob := f.signedIn("bob")
	for _, path := range []string{"/ui/executions/" + f.full, "/ui/executions/" + f.full + "/stream", "/ui/executions/NOPE"} {
		if p := bob.get(path); p.status != http.StatusNotFound || strings.Contains(p.body, "hello") {
			t.Errorf("bob GET %s: %d, want alice's execution not found\n%s", path, p.status, p.body)
		}
	}
	if p := bob.get("/ui/executions/" + f.full); p.status != http.StatusNotFound || strings.Contains(p.body, "hello") {
		t.Errorf("bob sees alice's execution: %d", p.status)
	}
	if p := bob.get("/ui/executions/" + f.bobs); p.status != http.StatusOK {
		t.Errorf("bob's own execution: %d", p.status)
	}
}

func TestExecutionStream(t *testing.T) {
	f := seedExecutions(t)
	alice := f.signedIn("alice")
	p := alice.get("/ui/executions/" + f.full + "/stream")
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s", p.status, p.header.Get("Content-Type"))
	}
	if !strings.Contains(p.body, "data: ") || !strings.Contains(p.body, `id="execution-status"`) || !strings.Contains(p.body, "SUCCESS") {
		t.Fatalf("no status in the stream:\n%s", p.body)
	}
	if !strings.HasSuffix(p.body, "event: end\ndata: \n\n") {
		t.Fatalf("the stream of a final execution does not end with event: end:\n%s", p.body)
	}
	rows := alice.get("/ui/executions/stream?status=FAILED")
	if !strings.Contains(rows.body, f.failed[0]) || strings.Contains(rows.body, f.ok[0]) || !strings.HasSuffix(rows.body, "event: end\ndata: \n\n") {
		t.Fatalf("the rows' stream:\n%s", rows.body)
	}
}

func TestExecutionCancel(t *testing.T) {
	f := seedExecutions(t)
	alice := f.signedIn("alice")
	id := f.enqueue(t)
	page := "/ui/executions/" + id

	p := alice.get(page)
	if p.status != http.StatusOK || !strings.Contains(p.body, `>QUEUED<`) || !strings.Contains(p.body, `id="cancel"`) ||
		!strings.Contains(p.body, `data-live="/ui/executions/`+id+`/stream"`) {
		t.Fatalf("a queued call's page: %d, want QUEUED, #cancel and a live region\n%s", p.status, p.body)
	}
	if list := alice.get("/ui/executions"); !strings.Contains(list.body, `data-live="/ui/executions/stream"`) {
		t.Fatalf("the list with a queued call is not live:\n%s", list.body)
	}

	// Another developer cannot cancel it; nor can a post without the token.
	bob := f.signedIn("bob")
	if res := bob.htmxPost(page+"/cancel", url.Values{}, bob.csrfFrom("/ui/executions")); res.status != http.StatusNotFound {
		t.Fatalf("bob cancels alice's call: %d", res.status)
	}
	if res := alice.htmxPost(page+"/cancel", url.Values{}, ""); res.status != http.StatusForbidden {
		t.Fatalf("cancel without the anti-forgery token: %d", res.status)
	}

	res := alice.htmxPost(page+"/cancel", url.Values{}, alice.csrfFrom(page))
	if res.status != http.StatusOK || !strings.Contains(res.body, `>CANCELLED<`) || strings.Contains(res.body, `id="cancel"`) {
		t.Fatalf("cancel: %d, want the live part CANCELLED without a Cancel button\n%s", res.status, res.body)
	}
	if strings.Contains(res.body, "<html") {
		t.Fatal("htmx got a whole page")
	}
	p = alice.get(page)
	if !strings.Contains(p.body, `>CANCELLED<`) || !strings.Contains(p.body, "client_request") || strings.Contains(p.body, `id="cancel"`) {
		t.Fatalf("after cancel the page shows:\n%s", p.body)
	}
	stream := alice.get(page + "/stream")
	if !strings.Contains(stream.body, "CANCELLED") || !strings.HasSuffix(stream.body, "event: end\ndata: \n\n") {
		t.Fatalf("the stream after cancel:\n%s", stream.body)
	}

	// Cancelling again: the API's 409 shown in the live part; a plain form gets the error page.
	if res := alice.htmxPost(page+"/cancel", url.Values{}, alice.csrfFrom(page)); res.status != http.StatusConflict || !strings.Contains(res.body, `id="error"`) {
		t.Fatalf("second cancel: %d\n%s", res.status, res.body)
	}
	second := f.enqueue(t)
	res = alice.postForm("/ui/executions/"+second+"/cancel", url.Values{}, alice.csrfFrom(page))
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/ui/executions/"+second {
		t.Fatalf("plain cancel: %d %s", res.status, res.header.Get("Location"))
	}
	if p := alice.get("/ui/executions/" + second); !strings.Contains(p.body, `>CANCELLED<`) {
		t.Fatal("the plainly cancelled call is not CANCELLED")
	}
}

// TestExecutionStreamFollowsCancel follows a queued call's live region and the list's live
// rows while the call is cancelled: QUEUED first, then CANCELLED, then the end.
func TestExecutionStreamFollowsCancel(t *testing.T) {
	f := seedExecutions(t)
	alice := f.signedIn("alice")
	csrf := alice.csrfFrom("/ui/executions")
	for _, list := range []bool{false, true} {
		id := f.enqueueAt(t, fmt.Sprintf("/live-%v", list))
		path := "/ui/executions/" + id + "/stream" // the execution's page
		if list {
			path = "/ui/executions/stream?app=shop&route=" + url.QueryEscape(fmt.Sprintf("/live-%v", list))
		}
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+path, nil)
			res, err := alice.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			var seen []string // statuses, in order
			cancelled := false
			for sc.Scan() {
				line := sc.Text()
				if line == "event: end" {
					break
				}
				for _, s := range []string{"QUEUED", "CANCELLED"} {
					if strings.Contains(line, ">"+s+"<") && (len(seen) == 0 || seen[len(seen)-1] != s) {
						seen = append(seen, s)
					}
				}
				if len(seen) == 1 && !cancelled { // the queued call is shown: cancel it elsewhere
					cancelled = true
					if res := alice.htmxPost("/ui/executions/"+id+"/cancel", url.Values{}, csrf); res.status != http.StatusOK {
						t.Fatalf("cancel: %d\n%s", res.status, res.body)
					}
				}
			}
			if strings.Join(seen, ",") != "QUEUED,CANCELLED" {
				t.Fatalf("the stream showed %v, want QUEUED then CANCELLED, then ended (err %v)", seen, sc.Err())
			}
		})
	}
}

func TestExecutionPageOfWorkflowRun(t *testing.T) {
	f := seedExecutions(t)
	run, _, err := f.store.CreateRun(context.Background(), store.Run{Workflow: "flow", WorkflowVersion: 3, Owner: "alice", TriggeredBy: "alice",
		Status: store.StatusQueued}, []store.RunEvent{{Type: store.EventQueued, Time: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	alice := f.signedIn("alice")
	p := alice.get("/ui/executions/" + run.ID)
	for _, want := range []string{`href="/ui/workflows/runs/` + run.ID + `"`, "Workflow run", "flow", `>QUEUED<`, `id="execution-attempts"`, `id="cancel"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the run's page lacks %s\n%s", want, p.body)
		}
	}
	if list := alice.get("/ui/executions?kind=workflow"); strings.Join(listed(list.body), ",") != run.ID {
		t.Errorf("runs listed: %v, want %s", listed(list.body), run.ID)
	}
	if p := f.signedIn("bob").get("/ui/executions/" + run.ID); p.status != http.StatusNotFound {
		t.Errorf("bob sees alice's run: %d", p.status)
	}
}

// BenchmarkExecutionsPage renders the executions list with 10,000 executions in the store
// (the issue asks ≤ 50 ms of server time).
