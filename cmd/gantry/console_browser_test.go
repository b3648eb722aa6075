package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The console's browser tests drive Debian's headless Chromium (chromedp) against a real
// gantry server: sign in, create an app and a function (a real Docker image), call it from
// the Call panel, read its execution and log, cancel a running call and watch CANCELLED
// arrive without a reload, create and call an API, sign out; and the console's security:
// another developer's app is a 404 page, a POST without the anti-forgery token is refused,
// the CSP header is on every page and no page has inline script.
//
// GANTRY_SCREENSHOTS=DIR also saves screenshots of the main pages there (make screenshots
// writes those of docs/screenshots).

// chromePath finds the browser: missing, the tests skip, or fail under CI=true.
func chromePath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the console's browser tests need Chromium (apt-get install chromium) and CI=true")
	}
	t.Skip("no Chromium: apt-get install chromium")
	return ""
}

// chrome is one headless browser for a test; tab opens a tab in a browser context of its
// own (cookies apart: one per user).
type chrome struct {
	t    *testing.T
	root context.Context
}

func newChrome(t *testing.T) *chrome {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromePath(t)), chromedp.NoSandbox, chromedp.WindowSize(1280, 860),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("lang", "en-US"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	return &chrome{t: t, root: root}
}

// tab is a browser tab of its own browser context; JavaScript dialogs (hx-confirm) are
// accepted.
type tab struct {
	t    *testing.T
	ctx  context.Context
	last *network.Response // of the last document loaded
}

func (c *chrome) tab() *tab {
	c.t.Helper()
	ctx, cancel := chromedp.NewContext(c.root, chromedp.WithNewBrowserContext())
	c.t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	c.t.Cleanup(cancelTimeout)
	tb := &tab{t: c.t, ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	}); err != nil {
		c.t.Fatal(err)
	}
	return tb
}

// with is the tab reporting to t (a subtest's).
func (tb *tab) with(t *testing.T) *tab {
	c := *tb
	c.t = t
	return &c
}

// fail ends the test with the page's address and text.
func (tb *tab) fail(err error) {
	tb.t.Helper()
	loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
	body, _ := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS("body")))
	tb.t.Fatalf("browser: %v\nat %s\n%s", err, loc, body)
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.fail(err)
	}
}

// open loads a page and returns its status.
func (tb *tab) open(url string) int64 {
	tb.t.Helper()
	res, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		tb.fail(err)
	}
	tb.last = res
	return res.Status
}

// submit runs steps that load a new page (a click on a form's button, a link) and returns
// the new page's status.
func (tb *tab) submit(steps ...chromedp.Action[chromedp.Void]) int64 {
	tb.t.Helper()
	res, err := chromedp.RunResponse(tb.ctx, steps...)
	if err != nil {
		tb.fail(err)
	}
	tb.last = res
	return res.Status
}

// text waits for sel and returns its text.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.fail(err)
	}
	return s
}

// waitText waits until sel's text contains want.
func (tb *tab) waitText(sel, want string, within time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, _ := chromedp.Run(tb.ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s does not show %q within %s: %q", sel, want, within, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eval evaluates js in the page (a promise: its value).
func (tb *tab) eval(js string) any {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fail(err)
	}
	return v
}

// checkPage checks the page last loaded: its status, the CSP header, and a DOM without
// inline script, inline style or event-handler attributes.
func (tb *tab) checkPage(wantStatus int64) {
	tb.t.Helper()
	if tb.last == nil {
		tb.t.Fatal("no page loaded")
	}
	if tb.last.Status != wantStatus {
		tb.t.Errorf("%s: status %d, want %d", tb.last.URL, tb.last.Status, wantStatus)
	}
	var csp string
	for k, v := range tb.last.Headers {
		if strings.EqualFold(k, "Content-Security-Policy") {
			csp = fmt.Sprint(v)
		}
	}
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		tb.t.Errorf("%s: Content-Security-Policy %q", tb.last.URL, csp)
	}
	inline := tb.eval(`(() => {
		const found = [];
		document.querySelectorAll("script").forEach(s => { if (!s.src) found.push("inline <script>"); });
		document.querySelectorAll("style").forEach(() => found.push("<style> element"));
		document.querySelectorAll("*").forEach(el => {
			for (const a of el.attributes) {
				if (a.name === "style" || a.name.startsWith("on") || a.name.startsWith("hx-on")) found.push(el.tagName + " " + a.name);
			}
		});
		return found;
	})()`)
	if l, _ := inline.([]any); len(l) > 0 {
		tb.t.Errorf("%s: inline script or style: %v", tb.last.URL, l)
	}
}

// screenshot saves the viewport as NAME.png under $GANTRY_SCREENSHOTS, when set.
func (tb *tab) screenshot(name string) {
	dir := os.Getenv("GANTRY_SCREENSHOTS")
	if dir == "" {
		return
	}
	tb.t.Helper()
	tb.do(chromedp.Sleep(300 * time.Millisecond))
	buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.fail(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: pictures for the docs
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil { //nolint:gosec // G306: a picture for the docs
		tb.t.Fatal(err)
	}
}

func (tb *tab) signIn(base, token string) {
	tb.t.Helper()
	if st := tb.open(base + "/ui/login"); st != http.StatusOK {
		tb.t.Fatalf("sign-in page: %d", st)
	}
	tb.checkPage(http.StatusOK)
	tb.do(chromedp.SendKeys(chromedp.CSS("#token"), token))
	tb.submit(chromedp.Click(chromedp.CSS("#sign-in")))
	tb.do(chromedp.WaitVisible(chromedp.CSS("#sign-out")))
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url) //nolint:gosec,noctx // a test's own server
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestConsoleInABrowser walks the console as a developer would, in headless Chromium.
func TestConsoleInABrowser(t *testing.T) {
	c := newChrome(t)
	s := startServer(t, t.TempDir())
	base := "http://" + s.addr
	alice, bob := createToken(t, s, "alice", "developer"), createToken(t, s, "bob", "developer")
	gateway, _ := s.gatewayAddrs(t)

	a := c.tab()
	a.signIn(base, alice)
	a.checkPage(http.StatusOK)

	t.Run("an app is created from its form", func(t *testing.T) {
		a := a.with(t)
		a.open(base + "/ui/apps")
		a.checkPage(http.StatusOK)
		a.submit(chromedp.Click(chromedp.CSS("#new-app")))
		a.checkPage(http.StatusOK)
		a.do(chromedp.SendKeys(chromedp.CSS("#name"), "shop"), chromedp.SendKeys(chromedp.CSS("#config"), "GREETING=hi"))
		if st := a.submit(chromedp.Click(chromedp.CSS("#create-app"))); st != http.StatusOK {
			t.Fatalf("create app: %d", st)
		}
		a.checkPage(http.StatusOK)
	})

	t.Run("a bad app name is refused on the form, naming the field", func(t *testing.T) {
		a := a.with(t)
		a.open(base + "/ui/apps/new")
		// the browser's own pattern check is the first line; the API's is the one that counts
		a.do(chromedp.RemoveAttribute(chromedp.CSS("#name"), "pattern"), chromedp.SendKeys(chromedp.CSS("#name"), "no spaces"))
		if st := a.submit(chromedp.Click(chromedp.CSS("#create-app"))); st != http.StatusBadRequest {
			t.Fatalf("bad name: %d", st)
		}
		if msg := a.text("#error"); !strings.Contains(msg, "name") {
			t.Fatalf("error shown: %q", msg)
		}
	})

	t.Run("another developer gets the not-found page for the app's URL", func(t *testing.T) {
		b := c.tab().with(t)
		b.signIn(base, bob)
		if st := b.open(base + "/ui/apps/shop"); st != http.StatusNotFound {
			t.Fatalf("bob opening alice's app: %d", st)
		}
		b.checkPage(http.StatusNotFound)
		if h := b.text("h1"); h != "Not found" {
			t.Fatalf("heading %q", h)
		}
	})

	t.Run("a state-changing request without the anti-forgery token is refused", func(t *testing.T) {
		a := a.with(t)
		a.open(base + "/ui/apps")
		status := a.eval(`fetch("/ui/apps", {method: "POST", body: new URLSearchParams({name: "forged"})}).then(r => r.status)`)
		if f, _ := status.(float64); f != http.StatusForbidden {
			t.Fatalf("POST without the token: %v", status)
		}
		withToken := a.eval(`fetch("/ui/apps", {method: "POST", body: new URLSearchParams({name: "forged-ok", csrf: document.querySelector('meta[name="csrf-token"]').content})}).then(r => r.status)`)
		if f, _ := withToken.(float64); f != http.StatusOK { // the redirect to the new app's page, followed
			t.Fatalf("POST with the token: %v", withToken)
		}
	})

	t.Run("a function is created and called from the Call panel", func(t *testing.T) {
		a := a.with(t)
		a.open(base + "/ui/apps/shop")
		a.submit(chromedp.Click(chromedp.CSS("#new-function")))
		a.checkPage(http.StatusOK)
		a.do(chromedp.SendKeys(chromedp.CSS("#path"), "/echo"), chromedp.SendKeys(chromedp.CSS("#image"), imgTestfn))
		if st := a.submit(chromedp.Click(chromedp.CSS("#save-function"))); st != http.StatusOK {
			t.Fatalf("create function: %d", st)
		}
		a.checkPage(http.StatusOK)
		a.do(chromedp.SetValue(chromedp.CSS("#call-method"), "POST"),
			chromedp.SendKeys(chromedp.CSS("#call-body"), `{"name":"Browser","stderr":"a line of log from the browser test"}`),
			chromedp.Click(chromedp.CSS("#call-submit")))
		a.waitText("#call-output", "Hello Browser!", time.Minute)
		if st := a.text("#call-status"); !strings.Contains(st, "200") {
			t.Fatalf("call status %q", st)
		}
		a.screenshot("function")
	})

	t.Run("the call's execution shows its log", func(t *testing.T) { // a sync call's output went to its caller
		a := a.with(t)
		if st := a.submit(chromedp.Click(chromedp.CSS("#call-execution"))); st != http.StatusOK {
			t.Fatalf("execution page: %d", st)
		}
		a.checkPage(http.StatusOK)
		a.waitText("#execution-status", "SUCCESS", 30*time.Second)
		a.waitText("#execution-log", "a line of log from the browser test", 10*time.Second)
		a.screenshot("execution")
	})

	t.Run("a running call is cancelled and CANCELLED appears without a reload", func(t *testing.T) {
		a := a.with(t)
		a.open(base + "/ui/apps/shop/new-function")
		a.do(chromedp.SendKeys(chromedp.CSS("#path"), "/slow"), chromedp.SendKeys(chromedp.CSS("#image"), imgTestfn),
			chromedp.SetValue(chromedp.CSS("#type"), "async"), chromedp.Clear(chromedp.CSS("#timeout")), chromedp.SendKeys(chromedp.CSS("#timeout"), "120"))
		if st := a.submit(chromedp.Click(chromedp.CSS("#save-function"))); st != http.StatusOK {
			t.Fatalf("create function: %d", st)
		}
		a.do(chromedp.SetValue(chromedp.CSS("#call-method"), "POST"),
			chromedp.SendKeys(chromedp.CSS("#call-body"), `{"sleep_ms":60000}`),
			chromedp.Click(chromedp.CSS("#call-submit")))
		a.waitText("#call-status", "202", 30*time.Second)
		a.submit(chromedp.Click(chromedp.CSS("#call-execution")))
		a.waitText("#execution-status", "RUNNING", time.Minute)
		a.eval(`window.gantryNotReloaded = true`)
		a.do(chromedp.Click(chromedp.CSS("#cancel")))
		a.waitText("#execution-status", "CANCELLED", 30*time.Second)
		if v := a.eval(`window.gantryNotReloaded === true`); v != true {
			t.Fatal("the page was reloaded to show CANCELLED")
		}
	})

	t.Run("an API is created and called at the URL it shows", func(t *testing.T) {
		a := a.with(t)
		a.open(base + "/ui/apis")
		a.submit(chromedp.Click(chromedp.CSS("#new-api")))
		a.checkPage(http.StatusOK)
		a.do(chromedp.SendKeys(chromedp.CSS("#api-name"), "shop-api"), chromedp.SendKeys(chromedp.CSS("#api-paths"), "/greet"),
			chromedp.SendKeys(chromedp.CSS("#api-app"), "shop"), chromedp.SendKeys(chromedp.CSS("#api-route"), "/echo"))
		if st := a.submit(chromedp.Click(chromedp.CSS("#save-api"))); st != http.StatusOK {
			t.Fatalf("create API: %d", st)
		}
		a.checkPage(http.StatusOK)
		u := strings.TrimSpace(a.text("#api-url"))
		if !strings.HasPrefix(u, "http://"+gateway) {
			t.Fatalf("the API's URL %q is not on the gateway %s", u, gateway)
		}
		if st, body := httpGet(t, u); st != http.StatusOK || body != "Hello World!" {
			t.Fatalf("GET %s: %d %q", u, st, body)
		}
		a.screenshot("api")
	})

	t.Run("the main pages pass the page checks", func(t *testing.T) {
		a := a.with(t)
		for _, p := range []struct{ path, shot string }{
			{"/ui/", "overview"}, {"/ui/apps", "apps"}, {"/ui/functions", ""}, {"/ui/executions", "executions"},
			{"/ui/apis", ""}, {"/ui/workflows", ""}, {"/ui/events", ""}, {"/ui/tokens", "tokens"},
		} {
			if st := a.open(base + p.path); st != http.StatusOK {
				t.Errorf("%s: %d", p.path, st)
			}
			a.checkPage(http.StatusOK)
			if p.shot != "" {
				a.screenshot(p.shot)
			}
		}
	})

	t.Run("times are shown in the browser's zone, the UTC value on hover", func(t *testing.T) {
		a := a.with(t)
		a.open(base + "/ui/executions")
		a.do(chromedp.WaitVisible(chromedp.CSS("time[datetime]")))
		got := a.eval(`(() => { const t = document.querySelector("time[datetime]");
			return [t.dataset.local === "1", t.title.includes("UTC"), t.textContent.includes("UTC")]; })()`)
		if l, _ := got.([]any); len(l) != 3 || l[0] != true || l[1] != true || l[2] != false {
			t.Fatalf("a time (localised, UTC on hover, shown without UTC): %v", got)
		}
	})

	t.Run("the main pages fit a phone's width", func(t *testing.T) {
		a := a.with(t)
		a.do(chromedp.EmulateViewport(390, 844))
		defer a.do(chromedp.EmulateViewport(1280, 860))
		for _, path := range []string{"/ui/", "/ui/apps", "/ui/apps/shop", "/ui/apps/shop/functions/echo", "/ui/executions", "/ui/apis", "/ui/tokens"} {
			a.open(base + path)
			if v := a.eval(`document.documentElement.scrollWidth <= window.innerWidth + 1`); v != true {
				w := a.eval(`[document.documentElement.scrollWidth, window.innerWidth]`)
				t.Errorf("%s is wider than a phone: %v", path, w)
			}
		}
	})

	t.Run("sign-out ends the session", func(t *testing.T) {
		a := a.with(t)
		a.submit(chromedp.Click(chromedp.CSS("#sign-out")))
		a.do(chromedp.WaitVisible(chromedp.CSS("#token")))
		if st := a.open(base + "/ui/apps"); st != http.StatusOK { // the sign-in page, after the redirect
			t.Fatalf("after sign-out: %d", st)
		}
		if !strings.HasPrefix(a.last.URL, base+"/ui/login") {
			t.Fatalf("after sign-out, /ui/apps shows %s", a.last.URL)
		}
	})
}
