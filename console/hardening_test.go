package console

import (
	"bufio"
	"bytes"
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/store"
)

// TestStreamsEndWithTheSession: a live region's stream ends when its session does (signed
// out, revoked, expired), rather than go on showing the owner's figures.
func TestStreamsEndWithTheSession(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	if _, err := tc.store.CreateApp(context.Background(), store.App{Name: "a1", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	b := tc.signedIn("alice")
	csrf := b.csrfFrom("/ui/")
	res, err := b.c.Get(tc.srv.URL + "/ui/overview/stream?window=300")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	ended := make(chan string, 1)
	go func() {
		var got strings.Builder
		rd := bufio.NewReader(res.Body)
		for {
			l, err := rd.ReadString('\n')
			got.WriteString(l)
			if err != nil || strings.HasPrefix(l, "event: end") {
				ended <- got.String()
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	if p := b.postForm("/ui/logout", url.Values{}, csrf); p.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.status)
	}
	if _, err := tc.store.CreateApp(context.Background(), store.App{Name: "a2", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ended:
		if !strings.Contains(got, "event: end") || strings.Contains(got, `id="figure-apps">2<`) {
			t.Fatalf("the stream after sign-out:\n%s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream goes on after sign-out")
	}
}

// TestStreamDataHasNoCarriageReturn: a CR in what a region shows (a log's progress bar)
// never ends an event's data line early.
func TestStreamDataHasNoCarriageReturn(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	app, err := tc.store.CreateApp(context.Background(), store.App{Name: "shop", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	ex := store.Execution{ID: tc.store.NewID(), App: "shop", AppID: app.ID, Route: "/hello", Type: store.TypeAsync, Status: store.StatusSuccess,
		CreatedAt: now, StartedAt: now, CompletedAt: now.Add(time.Millisecond)}
	tc.store.RecordExecution(ex, []byte("50%\revent: end\rretry: 999999999\rdone\n"))
	if err := tc.store.FlushExecutions(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := tc.signedIn("alice").get("/ui/executions/" + ex.ID + "/stream")
	if !strings.Contains(p.body, "50%&#13;event: end&#13;retry") {
		t.Fatalf("the log is not in the stream as HTML:\n%s", p.body)
	}
	for l := range strings.SplitSeq(p.body, "\n") {
		if strings.Contains(l, "\r") {
			t.Fatalf("a CR in the stream: %q", l)
		}
	}
}

// TestWhenWithoutATime: a missing time renders as nothing, never a failed page.
func TestWhenWithoutATime(t *testing.T) {
	tmpl := template.Must(template.New("").Funcs(funcs).Parse(`[{{when .}}]`))
	var nilDT *strfmt.DateTime
	var nilTime *time.Time
	for _, v := range []any{nilDT, nilTime, nil, time.Time{}} {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, v); err != nil || buf.String() != "[]" {
			t.Errorf("%T: %q %v", v, buf.String(), err)
		}
	}
	var buf bytes.Buffer
	dt := strfmt.DateTime(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	if err := tmpl.Execute(&buf, &dt); err != nil || !strings.Contains(buf.String(), `datetime="2026-12-05T10:00:00Z"`) {
		t.Errorf("a time: %q %v", buf.String(), err)
	}
}

// TestFormsBehindATLSProxy: behind a proxy that terminates TLS and says so, the browser's
// https Origin is this console's, and cookies are Secure.
func TestFormsBehindATLSProxy(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	b := tc.browser()
	csrf := b.csrfFrom("/ui/login")
	form := url.Values{"token": {tc.tokens["alice"]}, "next": {"/ui/"}, "csrf": {csrf}}
	post := func(proto string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, tc.srv.URL+"/ui/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://"+strings.TrimPrefix(tc.srv.URL, "http://"))
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(""); res.StatusCode != http.StatusForbidden {
		t.Fatalf("an https Origin on plain HTTP without a proxy's word: %d", res.StatusCode)
	}
	res := post("https")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("behind a TLS proxy: %d", res.StatusCode)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == sessionCookie && !ck.Secure {
			t.Fatalf("session cookie not Secure behind a TLS proxy: %+v", ck)
		}
	}
}

// TestAuditNamesTheBrowser: the API's audit log records the browser's address for what
// is done in the console, not the loopback.
func TestAuditNamesTheBrowser(t *testing.T) {
	var audit bytes.Buffer
	tc := newTestConsole(t, testOptions{deps: func(d *handlers.Deps) {
		d.Audit = slog.New(slog.NewJSONHandler(&audit, nil))
	}})
	b := tc.signedIn("alice")
	if p := b.postForm("/ui/apps", url.Values{"name": {"audited"}}, b.csrfFrom("/ui/apps/new")); p.status != http.StatusSeeOther {
		t.Fatalf("create app: %d\n%s", p.status, p.body)
	}
	if !strings.Contains(audit.String(), `"127.0.0.1:`) || strings.Contains(audit.String(), `"127.0.0.1:0"`) {
		t.Fatalf("audit log:\n%s", audit.String())
	}
}
