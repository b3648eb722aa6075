package console

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// figure reads the number a figure card shows.
func figure(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `">([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no #%s in\n%s", id, body)
	}
	return m[1]
}

func TestOverview(t *testing.T) {
	tc := newTestConsole(t, testOptions{})
	ctx := context.Background()
	for _, a := range []store.App{{Name: "a1", Owner: "alice"}, {Name: "a2", Owner: "alice"}, {Name: "b1", Owner: "bob"}} {
		if _, err := tc.store.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	uma := tc.makeToken("uma", "user", "")
	tc.tokens["uma"] = uma

	t.Run("each sees the figures of its own apps, and an admin all", func(t *testing.T) {
		for user, want := range map[string]string{"alice": "2", "bob": "1", "admin": "3"} {
			p := tc.signedIn(user).get("/ui/")
			if p.status != http.StatusOK {
				t.Fatalf("%s: %d\n%s", user, p.status, p.body)
			}
			if got := figure(t, p.body, "figure-apps"); got != want {
				t.Errorf("%s sees %s apps, want %s", user, got, want)
			}
			for _, id := range []string{"figure-functions", "figure-calls-per-minute", "figure-error-rate", "figure-queue-depth", "figure-oldest-task"} {
				figure(t, p.body, id)
			}
		}
	})
	t.Run("a developer without apps is told how to start", func(t *testing.T) {
		tc.tokens["dora"] = tc.makeToken("dora", "developer", "")
		p := tc.signedIn("dora").get("/ui/")
		if figure(t, p.body, "figure-apps") != "0" || !strings.Contains(p.body, "No apps yet") {
			t.Fatalf("empty state missing:\n%s", p.body)
		}
	})
	t.Run("the figures stream while the page is open", func(t *testing.T) {
		b := tc.signedIn("alice")
		p := b.get("/ui/")
		if !strings.Contains(p.body, `data-live="/ui/overview/stream?window=300"`) {
			t.Fatalf("no live region:\n%s", p.body)
		}
		res, err := b.c.Get(tc.srv.URL + "/ui/overview/stream?window=300")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		buf := make([]byte, 4096)
		n, _ := res.Body.Read(buf)
		if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" || !strings.Contains(string(buf[:n]), `data: `) || !strings.Contains(string(buf[:n]), `figure-apps`) {
			t.Fatalf("stream: %s\n%s", ct, buf[:n])
		}
	})
	t.Run("a window out of bounds is refused naming the field, not a 500", func(t *testing.T) {
		p := tc.signedIn("alice").get("/ui/?window=5")
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "window") {
			t.Fatalf("got %d\n%s", p.status, p.body)
		}
	})
	t.Run("an end user is sent to the workflows shared with it", func(t *testing.T) {
		p := tc.signedIn("uma").get("/ui/")
		if p.status != http.StatusOK || !strings.Contains(p.body, "workflows shared with you") || strings.Contains(p.body, "figure-apps") {
			t.Fatalf("got %d\n%s", p.status, p.body)
		}
	})
}
