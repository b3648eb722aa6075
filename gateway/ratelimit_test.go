package gateway

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// fire sends n GETs at once (8 at a time) and counts the answers by status; every 429
// must carry a Retry-After of at least 1 s.
func (e *env) fire(t *testing.T, c *http.Client, url string, header http.Header, n int) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
		jobs   = make(chan struct{})
	)
	for range 8 {
		wg.Go(func() {
			for range jobs {
				got := e.doWith(c, "GET", url, header)
				if got.status == http.StatusTooManyRequests {
					if s, err := strconv.Atoi(got.header.Get("Retry-After")); err != nil || s < 1 {
						t.Errorf("429 with Retry-After %q", got.header.Get("Retry-After"))
					}
				}
				mu.Lock()
				counts[got.status]++
				mu.Unlock()
			}
		})
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return counts
}

func TestRateLimitPerAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("limited", func(a *store.API) {
		a.Hosts, a.RateLimit = []string{"limited.test"}, &store.RateLimit{RPS: 20, Burst: 20, Per: store.RatePerAPI}
	}))
	counts := e.fire(t, e.plain, "http://limited.test/", nil, 100)
	if ok := counts[200]; ok < 20 || ok > 22 || counts[200]+counts[429] != 100 {
		t.Errorf("answers = %v, want about 20 accepted (rps 20, burst 20) and the rest 429", counts)
	}
}

// TestRateLimitRecovers: refused requests take no tokens, so the budget comes back at the
// configured rate.
func TestRateLimitRecovers(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("slow", func(a *store.API) {
		a.RateLimit = &store.RateLimit{RPS: 10, Burst: 1, Per: store.RatePerAPI}
	}))
	if got := e.do("GET", "http://slow.test/", nil); got.status != http.StatusOK {
		t.Fatalf("first request = %d", got.status)
	}
	for range 5 {
		if got := e.do("GET", "http://slow.test/", nil); got.status != http.StatusTooManyRequests {
			t.Fatalf("request beyond the burst = %d, want 429", got.status)
		}
	}
	time.Sleep(150 * time.Millisecond) // a token every 100 ms
	if got := e.do("GET", "http://slow.test/", nil); got.status != http.StatusOK {
		t.Errorf("request after the refill = %d, want 200", got.status)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	e := newEnv(t, nil)
	rl := &store.RateLimit{RPS: 0.1, Burst: 3, Per: store.RatePerClient}
	e.create(
		newAPI("users", func(a *store.API) {
			a.Hosts, a.RateLimit, a.Auth = []string{"users.test"}, rl, store.APIAuthBasic
			a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "pw"), basicUser(t, "bob", "pw")}
		}),
		newAPI("ips", func(a *store.API) { a.Hosts, a.RateLimit = []string{"ips.test"}, rl }),
	)
	for _, user := range []string{"ada", "bob"} {
		if counts := e.fire(t, e.plain, "http://users.test/", basicAuth(user, "pw"), 10); counts[200] != 3 || counts[429] != 7 {
			t.Errorf("user %s: answers = %v, want 3 accepted, 7 limited", user, counts)
		}
	}
	other := e.client(e.plainAddr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
	for _, c := range []*http.Client{e.plain, other} {
		if counts := e.fire(t, c, "http://ips.test/", nil, 10); counts[200] != 3 || counts[429] != 7 {
			t.Errorf("answers = %v, want 3 accepted, 7 limited per client address", counts)
		}
	}
}

func TestLimitersSurviveRebuilds(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("limited", func(a *store.API) {
		a.RateLimit = &store.RateLimit{RPS: 1, Burst: 2, Per: store.RatePerAPI}
	}))
	l := e.compiled("limited").limit
	e.create(newAPI("unrelated", func(a *store.API) { a.URIs = []string{"/unrelated"} }))
	if e.compiled("limited").limit != l {
		t.Fatal("an unrelated change replaced the limiter")
	}
	_, err := e.db.UpdateAPI(t.Context(), "limited", func(a *store.API) error { a.RateLimit.RPS = 2; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := e.g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.compiled("limited").limit; got == l || got.cfg.RPS != 2 {
		t.Error("a changed rate limit kept the old limiter")
	}
}

func TestClientLimitersBounded(t *testing.T) {
	l := newLimiter(store.RateLimit{RPS: 1, Burst: 1, Per: store.RatePerClient})
	first := l.client(clientKey{id: "10.0.0.1"})
	for i := range maxClients * 2 {
		l.client(clientKey{id: strconv.Itoa(i)})
	}
	if n := len(l.cur) + len(l.prev); n > maxClients {
		t.Errorf("%d client limiters kept, more than %d", n, maxClients)
	}
	if l.client(clientKey{id: "10.0.0.1"}) == first {
		t.Error("the least recently seen client was not forgotten")
	}
	recent := l.client(clientKey{id: "recent"})
	if l.client(clientKey{id: "recent"}) != recent || l.client(clientKey{user: true, id: "recent"}) == recent {
		t.Error("client limiters are not kept by user or address")
	}
}
