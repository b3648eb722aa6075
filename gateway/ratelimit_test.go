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

// TestRateLimitPerAPI: the limiters' clock stands still (env.clock), so exactly the burst
// is accepted however long the requests take.
func TestRateLimitPerAPI(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("limited", func(a *store.API) {
		a.Hosts, a.RateLimit = []string{"limited.test"}, &store.RateLimit{RPS: 20, Burst: 20, Per: store.RatePerAPI}
	}))
	counts := e.fire(t, e.plain, "http://limited.test/", nil, 100)
	if counts[200] != 20 || counts[429] != 80 {
		t.Errorf("answers = %v, want 20 accepted (burst 20, no time passing) and 80 limited", counts)
	}
	// 10.5 tokens at 20 a second: not exactly 10, which float rounding in the bucket may
	// leave a hair short.
	e.clock.advance(525 * time.Millisecond)
	if counts := e.fire(t, e.plain, "http://limited.test/", nil, 20); counts[200] != 10 || counts[429] != 10 {
		t.Errorf("half a second later: answers = %v, want 10 accepted and 10 limited", counts)
	}
}

// TestRetryAfterCapped: a slow budget announces at most maxRetryAfter.
func TestRetryAfterCapped(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("rare", func(a *store.API) {
		a.RateLimit = &store.RateLimit{RPS: 0.0001, Burst: 1, Per: store.RatePerAPI} // a token every 10000 s
	}))
	if got := e.do("GET", "http://rare.test/", nil); got.status != http.StatusOK {
		t.Fatalf("first request = %d", got.status)
	}
	got := e.do("GET", "http://rare.test/", nil)
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") != "3600" {
		t.Errorf("= %d Retry-After %q, want 429 and 3600", got.status, got.header.Get("Retry-After"))
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
	e.clock.advance(110 * time.Millisecond) // a token every 100 ms (and a margin for float rounding)
	if got := e.do("GET", "http://slow.test/", nil); got.status != http.StatusOK {
		t.Errorf("request after the refill = %d, want 200", got.status)
	}
	if got := e.do("GET", "http://slow.test/", nil); got.status != http.StatusTooManyRequests {
		t.Errorf("second request after the refill = %d, want 429", got.status)
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
	cb := l.clients
	first := cb.get(clientKey{id: "10.0.0.1"})
	for i := range maxClients * 2 {
		cb.get(clientKey{id: strconv.Itoa(i)})
	}
	if n := len(cb.cur) + len(cb.prev); n > maxClients {
		t.Errorf("%d client limiters kept, more than %d", n, maxClients)
	}
	if cb.get(clientKey{id: "10.0.0.1"}) == first {
		t.Error("the least recently seen client was not forgotten")
	}
	recent := cb.get(clientKey{id: "recent"})
	if cb.get(clientKey{id: "recent"}) != recent || cb.get(clientKey{user: true, id: "recent"}) == recent {
		t.Error("client limiters are not kept by user or address")
	}
}
