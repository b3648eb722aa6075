package console

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/internal/fnimage"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

var (
	dockerOnce  sync.Once
	dockerCli   *client.Client
	testFnImage string
	dockerErr   error
)

// needDocker returns the Docker client and the test function's image (functions/testfn),
// built once; without a daemon the test skips, except under CI=true where it fails.
func needDocker(t *testing.T) (*client.Client, string) {
	t.Helper()
	dockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cli, err := runner.NewDockerClient()
		if err == nil {
			_, err = cli.Ping(ctx)
		}
		if err != nil {
			dockerErr = fmt.Errorf("docker unreachable: %w", err)
			return
		}
		img, err := fnimage.Build(ctx, cli, "testfn", "")
		if err != nil {
			dockerErr = fmt.Errorf("build the test function: %w (fatal)", err)
			return
		}
		dockerCli, testFnImage = cli, img
	})
	if dockerErr != nil {
		if os.Getenv("CI") == "true" || strings.Contains(dockerErr.Error(), "(fatal)") {
			t.Fatal(dockerErr)
		}
		t.Skip(dockerErr)
	}
	return dockerCli, testFnImage
}

// withFunctions gives the API a real invocation path: runner over Docker, invoke service
// with workers (async calls).
func withFunctions(t *testing.T, docker *client.Client) func(*handlers.Deps) {
	return func(d *handlers.Deps) {
		st := d.Store.(*bolt.DB)
		ctx := context.Background()
		run, err := runner.New(ctx, docker, runner.Options{Instance: st.InstanceID(),
			Labels: map[string]string{"gantry.test.package": fmt.Sprintf("console-%d", os.Getpid())}})
		if err != nil {
			t.Fatal(err)
		}
		calls := invoke.New(st, run, invoke.Options{Node: st.InstanceID()})
		stop := calls.Follow(st)
		workers, err := calls.StartWorkers(ctx, invoke.WorkerOptions{Count: 2, Poll: 50 * time.Millisecond, Backoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // before the store closes (cleanups run last first)
			workers.StopLeasing()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = workers.Wait(ctx)
			_ = run.Close(ctx)
			stop()
		})
		d.Functions = calls
	}
}

var callExecution = regexp.MustCompile(`<a href="/ui/executions/([^"]+)" id="call-execution">`)

// htmxPost posts a form as htmx does: the token in a header, HX-Request set.
func (b *browser) htmxPost(path string, form url.Values, csrf string) page {
	req, _ := http.NewRequest(http.MethodPost, b.tc.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.tc.srv.URL)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", csrf)
	return b.do(req)
}

func TestCallPanel(t *testing.T) {
	docker, image := needDocker(t)
	tc := newTestConsole(t, testOptions{deps: withFunctions(t, docker)})
	ctx := context.Background()
	alice := tc.signedIn("alice")
	csrf := alice.csrfFrom("/ui/apps/new")
	if p := alice.postForm("/ui/apps", url.Values{"name": {"shop"}}, csrf); p.status != http.StatusSeeOther {
		t.Fatalf("create app: %d\n%s", p.status, p.body)
	}
	for _, fn := range []url.Values{
		fnValues("path", "/hot", "image", image, "format", "http", "timeout", "20"),
		fnValues("path", "/queued", "image", image, "type", "async", "timeout", "20"),
	} {
		if p := alice.postForm("/ui/apps/shop/new-function", fn, csrf); p.status != http.StatusSeeOther {
			t.Fatalf("create function %s: %d\n%s", fn.Get("path"), p.status, p.body)
		}
	}

	cases := []struct {
		name       string
		path       string
		form       url.Values
		wantStatus string
		wantOutput string
		execution  bool // a link to the execution made
	}{
		{"greeting", "/ui/apps/shop/call/hot", url.Values{"method": {"POST"}, "body": {`{"name":"<Ada>"}`}},
			"200 OK", "Hello &lt;Ada&gt;!", true},
		{"status and headers typed", "/ui/apps/shop/call/hot", url.Values{"method": {"PUT"}, "body": {`{"request":true,"status":418}`},
			"headers": {"X-Typed: yes\nContent-Type: application/json"}}, "418 I&#39;m a teapot", `&#34;method&#34;:&#34;PUT&#34;`, true},
		{"async", "/ui/apps/shop/call/queued", url.Values{"method": {"POST"}, "body": {`{"name":"later"}`}},
			"202 Accepted", "", true},
		{"no such path under the app", "/ui/apps/shop/call/hot", url.Values{"method": {"GET"}, "call_path": {"/nothing/here"}},
			"404 Not Found", "error", false},
		{"output over 64 KiB", "/ui/apps/shop/call/hot", url.Values{"method": {"POST"}, "body": {`{"output_bytes":70000}`}},
			"200 OK", "70000 bytes, only the first 64 KiB shown", true},
		{"path out of the app", "/ui/apps/shop/call/hot", url.Values{"method": {"GET"}, "call_path": {"/../../v1/apps"}},
			"", `segment: give the path under /r/shop`, false},
		{"bad header line", "/ui/apps/shop/call/hot", url.Values{"method": {"POST"}, "headers": {"no colon"}},
			"", "headers line 1 is not Name: value", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := alice.htmxPost(c.path, c.form, csrf)
			if p.status != http.StatusOK || strings.Contains(p.body, "<html") {
				t.Fatalf("call: %d (want 200 and a fragment)\n%s", p.status, p.body)
			}
			if c.wantStatus != "" {
				mustContain(t, c.name, p, `<dd id="call-status"`, c.wantStatus+"</dd>", `id="call-duration"`, `id="call-output"`, `id="call-headers-out"`)
			}
			if strings.Contains(strings.ToLower(p.body), "cookie") || strings.Contains(p.body, "gantry_session") {
				t.Errorf("the browser's cookies reached the function:\n%s", p.body)
			}
			mustContain(t, c.name, p, c.wantOutput)
			m := callExecution.FindStringSubmatch(p.body)
			if !c.execution {
				if m != nil {
					t.Errorf("an execution link for a call that made none")
				}
				return
			}
			if m == nil {
				t.Fatalf("no #call-execution link:\n%s", p.body)
			}
			id := html.UnescapeString(m[1])
			if _, err := tc.store.GetExecution(ctx, id); err != nil {
				t.Errorf("the linked execution %s: %v", id, err)
			}
			if c.name == "status and headers typed" {
				mustContain(t, c.name, p, `&#34;X-Typed&#34;:[&#34;yes&#34;]`, `class="bad"`)
			}
			if n := strings.Count(p.body, "x"); c.name == "output over 64 KiB" && (n < 64<<10 || n > 64<<10+1000) {
				t.Errorf("%s: %d x shown, want 64 KiB", c.name, n)
			}
			if c.name == "async" {
				mustContain(t, c.name, p, "queued")
			}
		})
	}

	// The function page: recent executions, p50/p99 over the finished ones.
	var page page
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		page = alice.get("/ui/apps/shop/functions/hot")
		if strings.Contains(page.body, "over the 3 most recent finished executions") || time.Now().After(deadline) {
			break
		}
	}
	mustContain(t, "function page", page, `<table id="recent-executions">`, `href="/ui/executions/`,
		"over the 3 most recent finished executions", `class="status s-SUCCESS"`)
	if !regexp.MustCompile(`<td>[0-9.]+ m?s</td>`).MatchString(page.body) {
		t.Errorf("no duration in the executions table")
	}
	if strings.Contains(page.body, `id="p50">–`) {
		t.Errorf("no p50")
	}

	// Without htmx the whole page answers, the result in it.
	full := alice.postForm("/ui/apps/shop/call/hot", url.Values{"method": {"POST"}, "body": {`{"name":"page"}`}}, csrf)
	mustContain(t, "call without htmx", full, "<html", "Hello page!", `id="call-execution"`, `id="call-form"`)

	// Bob cannot call alice's function through the console.
	bob := tc.signedIn("bob")
	if p := bob.postForm("/ui/apps/shop/call/hot", url.Values{"method": {"POST"}}, bob.csrfFrom("/ui/apps")); p.status != http.StatusNotFound {
		t.Errorf("bob calls alice's function: %d", p.status)
	}
	_ = store.StatusSuccess
}
