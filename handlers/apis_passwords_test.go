package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// basicAPI is the body of an API with basic users u0..u(n-1), whose passwords start with prefix.
func basicAPI(name, host, prefix string, n int) string {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf(`{"username":"u%d","password":"%s-password-%d"}`, i, prefix, i)
	}
	return `{"api":{"name":"` + name + `","function":{"app":"a","route":"/f"},"uris":["/"],"hosts":["` + host +
		`"],"authentication":"basic","basic_users":[` + strings.Join(users, ",") + `]}}`
}

// fastHash hashes at bcrypt's least cost: real work, quickly.
func fastHash(password string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
}

// send serves a request in the background and sends its status to out (0 if it could not
// be made); for use from goroutines, where t.Fatal may not be called.
func (f *authFixture) send(token, method, path, body string, out chan<- int) {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	go func() {
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		out <- rec.Code
	}()
}

// TestAPIUsersCapped: an API has at most 20 basic users; more get 400 naming
// the field, before any password is hashed.
func TestAPIUsersCapped(t *testing.T) {
	var hashes atomic.Int32
	f := newAuthFixtureWith(t, func(d *Deps) {
		d.hashPassword = func(pw string) ([]byte, error) { hashes.Add(1); return fastHash(pw) }
	})
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"one user too many is refused on create", "POST", "/v1/apis", basicAPI("big", "big.example.com", "alice", store.MaxAPIUsers+1), 400},
		{"as many as allowed are stored", "POST", "/v1/apis", basicAPI("full", "full.example.com", "alice", store.MaxAPIUsers), 201},
		{"one user too many is refused on patch", "PATCH", "/v1/apis/full", basicAPI("full", "full.example.com", "alice", store.MaxAPIUsers+1), 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := hashes.Load()
			res := f.as(t, f.alice, tt.method, tt.path, tt.body)
			expect(t, res, tt.status)
			if tt.status != 400 {
				return
			}
			if fields, _ := get(res.body, "error", "fields").(string); !strings.Contains(fields, "basic_users") {
				t.Errorf("fields %q, want basic_users named", fields)
			}
			if n := hashes.Load() - before; n != 0 {
				t.Errorf("%d passwords hashed for a refused request", n)
			}
		})
	}
}

// TestPasswordHashingBounded: owners creating APIs with many users at once hash in the
// password pool: at most its slots at once, and one at a time per owner.
func TestPasswordHashingBounded(t *testing.T) {
	const slots = 2
	var (
		mu                  sync.Mutex
		running, maxRunning int
		perOwner            = map[string]int{}
		maxPerOwner         int
	)
	f := newAuthFixtureWith(t, func(d *Deps) {
		d.Passwords = auth.NewPasswordPool(auth.PasswordPoolOptions{Slots: slots})
		d.hashPassword = func(pw string) ([]byte, error) {
			owner, _, _ := strings.Cut(pw, "-")
			mu.Lock()
			running++
			perOwner[owner]++
			maxRunning, maxPerOwner = max(maxRunning, running), max(maxPerOwner, perOwner[owner])
			mu.Unlock()
			defer func() {
				mu.Lock()
				running--
				perOwner[owner]--
				mu.Unlock()
			}()
			return bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost+2)
		}
	})
	out := make(chan int, 6)
	owners := map[string]string{"alice": f.alice, "bob": f.bob, "admin": f.admin}
	for owner, token := range owners {
		for i := range 2 {
			name := fmt.Sprintf("%s%d", owner, i)
			f.send(token, "POST", "/v1/apis", basicAPI(name, name+".example.com", owner, 10), out)
		}
	}
	for range 6 {
		if status := <-out; status != http.StatusCreated {
			t.Errorf("create = %d, want 201", status)
		}
	}
	if maxRunning > slots || maxPerOwner > 1 {
		t.Errorf("%d passwords hashed at once, %d of one owner; want at most %d and 1", maxRunning, maxPerOwner, slots)
	}
}

// TestPasswordHashingOutsideStoreWrites: a PATCH hashes its passwords before its store
// write, so other writes (another owner's) do not wait for bcrypt.
func TestPasswordHashingOutsideStoreWrites(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	f := newAuthFixtureWith(t, func(d *Deps) {
		d.hashPassword = func(pw string) ([]byte, error) {
			if strings.HasPrefix(pw, "slow") {
				entered <- struct{}{}
				<-release
			}
			return fastHash(pw)
		}
	})
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", basicAPI("x", "x.example.com", "fast", 1)), 201)
	patched, created := make(chan int, 1), make(chan int, 1)
	f.send(f.alice, "PATCH", "/v1/apis/x", basicAPI("x", "x.example.com", "slow", 1), patched)
	<-entered
	f.send(f.bob, "POST", "/v1/apps", `{"app":{"name":"bobs"}}`, created)
	select {
	case status := <-created:
		if status != http.StatusCreated {
			t.Errorf("bob's app = %d, want 201", status)
		}
	case <-time.After(10 * time.Second): // generous: it takes milliseconds unless it waits for the hash
		t.Errorf("bob's write waited for alice's password hashing: it runs inside the store's write")
	}
	close(release)
	if status := <-patched; status != http.StatusOK {
		t.Errorf("patch = %d, want 200", status)
	}
}

// TestPatchKeepsPasswords: a PATCH that sends a user without a password, or no users,
// keeps the stored hash and hashes nothing.
func TestPatchKeepsPasswords(t *testing.T) {
	var hashes atomic.Int32
	f := newAuthFixtureWith(t, func(d *Deps) {
		d.hashPassword = func(pw string) ([]byte, error) { hashes.Add(1); return fastHash(pw) }
	})
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", basicAPI("x", "x.example.com", "alice", 2)), 201)
	stored, err := f.s.GetAPI(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, body string }{
		{"users without passwords", `{"api":{"basic_users":[{"username":"u0"},{"username":"u1"}]}}`},
		{"no users", `{"api":{"enabled":false}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := hashes.Load()
			expect(t, f.as(t, f.alice, "PATCH", "/v1/apis/x", tt.body), 200)
			after, err := f.s.GetAPI(t.Context(), "x")
			if err != nil {
				t.Fatal(err)
			}
			if n := hashes.Load() - before; n != 0 || string(after.BasicUsers[0].Hash) != string(stored.BasicUsers[0].Hash) {
				t.Errorf("%d passwords hashed, hash kept: %v; want none and the stored hash",
					n, string(after.BasicUsers[0].Hash) == string(stored.BasicUsers[0].Hash))
			}
		})
	}
}

// TestPasswordPoolFull: when the password pool has as many callers waiting as it takes,
// a further write with passwords answers 503 with Retry-After, without hashing.
func TestPasswordPoolFull(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{})
	var hashes atomic.Int32
	pool := auth.NewPasswordPool(auth.PasswordPoolOptions{Slots: 1, MaxWaiting: 1})
	f := newAuthFixtureWith(t, func(d *Deps) {
		d.Passwords = pool
		d.hashPassword = func(pw string) ([]byte, error) {
			hashes.Add(1)
			entered <- struct{}{}
			<-release
			return fastHash(pw)
		}
	})
	running, waiting := make(chan int, 1), make(chan int, 1)
	f.send(f.alice, "POST", "/v1/apis", basicAPI("a", "a.example.com", "alice", 1), running)
	<-entered
	f.send(f.bob, "POST", "/v1/apis", basicAPI("b", "b.example.com", "bob", 1), waiting)
	waitUntil(t, func() bool { return pool.Waiting() == 1 })
	res := f.as(t, f.admin, "POST", "/v1/apis", basicAPI("c", "c.example.com", "admin", 1))
	expect(t, res, http.StatusServiceUnavailable)
	if res.header.Get("Retry-After") == "" || hashes.Load() != 1 {
		t.Errorf("Retry-After %q after %d hashes; want one, and only the running hash", res.header.Get("Retry-After"), hashes.Load())
	}
	close(release)
	if a, b := <-running, <-waiting; a != http.StatusCreated || b != http.StatusCreated {
		t.Errorf("the running and the waiting create = %d, %d; want 201", a, b)
	}
	expect(t, f.as(t, f.admin, "POST", "/v1/apis", basicAPI("c", "c.example.com", "admin", 1)), http.StatusCreated)
}

// waitUntil polls cond (a state the test waits for, not an assertion) for up to 10 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the state waited for never came")
		}
	}
}
