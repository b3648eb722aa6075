package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// TestClientID: the limits know an IPv4 client by its address and an IPv6 client by its
// /64 (a host's usual share, which it may spread its requests over); an IPv4 address
// mapped into IPv6 is the IPv4 client.
func TestClientID(t *testing.T) {
	for _, tt := range []struct {
		name, remote, want string
	}{
		{"an IPv4 client is its address", "203.0.113.7:1234", "203.0.113.7"},
		{"an IPv6 client is its /64", "[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"another address of the same /64 is the same client", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:80", "2001:db8:1:2::/64"},
		{"an address of the next /64 is another client", "[2001:db8:1:3::1]:80", "2001:db8:1:3::/64"},
		{"an IPv4-mapped IPv6 address is the IPv4 client", "[::ffff:203.0.113.7]:80", "203.0.113.7"},
		{"an IPv6 address with a zone is its /64", "[fe80::1%eth0]:80", "fe80::/64"},
		{"the IPv6 loopback is its /64", "[::1]:80", "::/64"},
		{"an address without a port is read as well", "198.51.100.1", "198.51.100.1"},
		{"an unreadable address is kept as it is", "pipe", "pipe"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientID(&http.Request{RemoteAddr: tt.remote}); got != tt.want {
				t.Errorf("clientID(%q) = %q, want %q", tt.remote, got, tt.want)
			}
		})
	}
}

// serveFrom serves a request to the gateway as if it came from remote (an address the
// loopback listeners cannot have).
func (e *env) serveFrom(remote, url string, header http.Header) int {
	req := httptest.NewRequestWithContext(e.t.Context(), "GET", url, nil)
	req.RemoteAddr = remote
	copyHeader(req.Header, header)
	rec := httptest.NewRecorder()
	e.g.Handler().ServeHTTP(rec, req)
	return rec.Code
}

// TestBasicAuthFailureLimitPerIPv6Prefix: wrong passwords sent from many addresses of one
// IPv6 /64 share one failure budget (a host has the whole /64), so spreading them over
// the prefix gets no more bcrypt checks; another /64 has its own budget.
func TestBasicAuthFailureLimitPerIPv6Prefix(t *testing.T) {
	e := newEnv(t, nil)
	e.create(newAPI("members", func(a *store.API) {
		a.Hosts, a.Auth = []string{"members.test"}, store.APIAuthBasic
		a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "secret")}
	}))
	const url = "http://members.test/"
	wrong := basicAuth("ada", "wrong")
	for _, tt := range []struct {
		name     string
		remotes  []string
		want     map[int]int
		checking int32
	}{
		{"addresses of one /64 spend one budget", spread("2001:db8:0:1:", 50), map[int]int{401: failureBurst, 429: 50 - failureBurst}, failureBurst},
		{"another /64 has its own budget", []string{"[2001:db8:0:2::1]:1"}, map[int]int{401: 1}, 1},
		{"an IPv4 address mapped into IPv6 spends the IPv4 client's budget", append(repeat("[::ffff:192.0.2.1]:1", failureBurst), "192.0.2.1:1"),
			map[int]int{401: failureBurst, 429: 1}, failureBurst},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checks := e.checks.Load()
			got := map[int]int{}
			for _, remote := range tt.remotes {
				got[e.serveFrom(remote, url, wrong)]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || e.checks.Load()-checks != tt.checking {
				t.Errorf("answers %v after %d bcrypt checks, want %v after %d", got, e.checks.Load()-checks, tt.want, tt.checking)
			}
		})
	}
}

// spread is n remote addresses of the /64 whose first four groups are prefix
// ("2001:db8:0:1:"), with ports.
func spread(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("[%s%x::%x]:1", prefix, i+1, i+1)
	}
	return out
}

// repeat is n requests from one remote address.
func repeat(remote string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = remote
	}
	return out
}

// TestBasicAuthPoolFull: when the password pool has as many callers waiting as it takes,
// a further check is refused at once (503 through the error mapping) without bcrypt, and
// the pool serves again once they are done.
func TestBasicAuthPoolFull(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{})
	pool := auth.NewPasswordPool(auth.PasswordPoolOptions{Slots: 1, MaxWaiting: 1})
	e := newEnv(t, func(e *env, o *Options) {
		o.Passwords = pool
		o.checkPassword = func(hash []byte, password string) bool {
			e.checks.Add(1)
			entered <- struct{}{}
			<-release
			return auth.CheckPassword(hash, password)
		}
	})
	e.create(newAPI("members", func(a *store.API) {
		a.Hosts, a.Auth = []string{"members.test"}, store.APIAuthBasic
		a.BasicUsers = []store.BasicUser{basicUser(t, "ada", "secret")}
	}))
	const url = "http://members.test/"
	answers := make(chan int, 2)
	go func() { answers <- e.serveFrom("192.0.2.1:1", url, basicAuth("ada", "wrong")) }()
	<-entered
	go func() { answers <- e.serveFrom("192.0.2.2:1", url, basicAuth("ada", "wrong")) }()
	eventually(t, 10*time.Second, func() error {
		if n := pool.Waiting(); n != 1 {
			return fmt.Errorf("%d waiting", n)
		}
		return nil
	})
	if status := e.serveFrom("192.0.2.3:1", url, basicAuth("ada", "secret")); status != http.StatusServiceUnavailable || e.checks.Load() != 1 {
		t.Errorf("a check beyond the waiting cap = %d after %d checks, want 503 after only the running one", status, e.checks.Load())
	}
	close(release)
	for range 2 {
		if status := <-answers; status != http.StatusUnauthorized {
			t.Errorf("a running or waiting check = %d, want 401", status)
		}
	}
	if status := e.serveFrom("192.0.2.3:1", url, basicAuth("ada", "secret")); status != http.StatusOK {
		t.Errorf("once the pool is free, the refused client's check = %d, want 200", status)
	}
}
