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

// countingHashes is a fixture whose password hashing is counted (and fast).
func countingHashes(t *testing.T) (*authFixture, *atomic.Int32) {
	var hashes atomic.Int32
	f := newAuthFixtureWith(t, func(d *Deps) {
		d.hashPassword = func(pw string) ([]byte, error) { hashes.Add(1); return fastHash(pw) }
	})
	return f, &hashes
}

// TestAPIBasicUsersNull: a null among the basic users is invalid input (400 naming its
// place in the list), never a crash, and nothing is hashed for it.
func TestAPIBasicUsersNull(t *testing.T) {
	f, hashes := countingHashes(t)
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", basicAPI("x", "x.example.com", "alice", 1)), 201)
	withUsers := func(users string) string {
		return `{"api":{"name":"y","function":{"app":"a","route":"/f"},"uris":["/"],"hosts":["y.example.com"],` +
			`"authentication":"basic","basic_users":` + users + `}}`
	}
	const valid = `{"username":"u0","password":"a-good-password"}`
	for _, tt := range []struct {
		name, method, path, body, field string
	}{
		{"a create with only a null user is refused naming it", "POST", "/v1/apis", withUsers(`[null]`), "api.basic_users.0"},
		{"a create with a null user after a valid one is refused naming it", "POST", "/v1/apis", withUsers(`[` + valid + `,null]`), "api.basic_users.1"},
		{"a patch with a null user is refused naming it", "PATCH", "/v1/apis/x", `{"api":{"basic_users":[null]}}`, "api.basic_users.0"},
		{"a patch with a null user after a valid one is refused naming it", "PATCH", "/v1/apis/x", `{"api":{"basic_users":[` + valid + `,null]}}`, "api.basic_users.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := hashes.Load()
			res := f.as(t, f.alice, tt.method, tt.path, tt.body)
			expect(t, res, 400)
			if fields, _ := get(res.body, "error", "fields").(string); fields != tt.field {
				t.Errorf("fields %q, want %q", fields, tt.field)
			}
			if n := hashes.Load() - before; n != 0 {
				t.Errorf("%d passwords hashed for a refused request", n)
			}
		})
	}
}

// TestAPIWriteRefusedBeforeHashing: a write that is refused anyway (another owner's API,
// one that does not exist, an invalid body, a name taken) is refused before any of its
// passwords is hashed.
func TestAPIWriteRefusedBeforeHashing(t *testing.T) {
	f, hashes := countingHashes(t)
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", basicAPI("x", "x.example.com", "alice", 1)), 201)
	full := func(name, host string) string { return basicAPI(name, host, "bob", store.MaxAPIUsers) }
	withBad := func(body, old, bad string) string { return strings.Replace(body, old, bad, 1) }
	for _, tt := range []struct {
		name, token, method, path, body string
		status                          int
	}{
		{"another developer's patch of an API answers 404", f.bob, "PATCH", "/v1/apis/x", full("x", "x.example.com"), 404},
		{"a patch of an API that does not exist answers 404", f.alice, "PATCH", "/v1/apis/nope", full("nope", "nope.example.com"), 404},
		{"a patch with an invalid host answers 400", f.alice, "PATCH", "/v1/apis/x", full("x", "not..a.host"), 400},
		{"a patch to oidc without an identity source answers 400", f.alice, "PATCH", "/v1/apis/x",
			withBad(full("x", "x.example.com"), `"authentication":"basic"`, `"authentication":"oidc"`), 400},
		{"a create with an invalid uri answers 400", f.alice, "POST", "/v1/apis", withBad(full("y", "y.example.com"), `"uris":["/"]`, `"uris":["/a/"]`), 400},
		{"a create with a user twice answers 400", f.alice, "POST", "/v1/apis", withBad(full("y", "y.example.com"), `"username":"u1"`, `"username":"u0"`), 400},
		{"a create of a name taken answers 409", f.bob, "POST", "/v1/apis", full("x", "other.example.com"), 409},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := hashes.Load()
			expect(t, f.as(t, tt.token, tt.method, tt.path, tt.body), tt.status)
			if n := hashes.Load() - before; n != 0 {
				t.Errorf("%d passwords hashed for a request refused with %d", n, tt.status)
			}
		})
	}
}

// TestAPIUserWithoutPassword: a user sent without a password keeps its stored hash (no
// bcrypt run); a new user sent without one is refused, naming its place in the list.
func TestAPIUserWithoutPassword(t *testing.T) {
	f, hashes := countingHashes(t)
	expect(t, f.as(t, f.alice, "POST", "/v1/apis", basicAPI("x", "x.example.com", "alice", 2)), 201)
	stored, err := f.s.GetAPI(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		field                    string
		hashed                   int32
	}{
		{"a new user without a password on create is refused naming it", "POST", "/v1/apis",
			`{"api":{"name":"y","function":{"app":"a","route":"/f"},"uris":["/"],"hosts":["y.example.com"],"authentication":"basic",` +
				`"basic_users":[{"username":"u0","password":"a-good-password"},{"username":"u1"}]}}`, 400, "api.basic_users.1.password", 0},
		{"a new user without a password on patch is refused naming it", "PATCH", "/v1/apis/x",
			`{"api":{"basic_users":[{"username":"u0"},{"username":"u1"},{"username":"u2"}]}}`, 400, "api.basic_users.2.password", 0},
		{"stored users sent without passwords keep their hashes beside a new one", "PATCH", "/v1/apis/x",
			`{"api":{"basic_users":[{"username":"u1"},{"username":"u2","password":"a-good-password"},{"username":"u0"}]}}`, 200, "", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := hashes.Load()
			res := f.as(t, f.alice, tt.method, tt.path, tt.body)
			expect(t, res, tt.status)
			if fields, _ := get(res.body, "error", "fields").(string); fields != tt.field {
				t.Errorf("fields %q, want %q", fields, tt.field)
			}
			if n := hashes.Load() - before; n != tt.hashed {
				t.Errorf("%d passwords hashed, want %d", n, tt.hashed)
			}
		})
	}
	after, err := f.s.GetAPI(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]string{}
	for _, u := range after.BasicUsers {
		kept[u.Username] = string(u.Hash)
	}
	for _, u := range stored.BasicUsers {
		if kept[u.Username] != string(u.Hash) {
			t.Errorf("user %s: stored hash not kept", u.Username)
		}
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
