package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// apiWithUsers is the body of an API on host with n basic users.
func apiWithUsers(name, host string, n int) string {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf(`{"username":"u%d","password":"%s-password-%d"}`, i, name, i)
	}
	return `{"api":{"name":"` + name + `","function":{"app":"a","route":"/f"},"uris":["/"],"hosts":["` + host +
		`"],"authentication":"basic","basic_users":[` + strings.Join(users, ",") + `]}}`
}

// TestAPIPasswordHashingBounded: an API takes at most 20 basic users (400 naming the field),
// and while big creates hash their passwords (real bcrypt, in the server's pool), the server
// keeps answering: /v1/version and another store write stay fast.
func TestAPIPasswordHashingBounded(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	res, body := s.call(t, "POST", "/v1/apis", apiWithUsers("big", "big.test", 21))
	var e struct {
		Error struct{ Message, Fields string } `json:"error"`
	}
	if res.StatusCode != 400 || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error.Fields, "basic_users") {
		t.Fatalf("21 users: %d %s, want 400 naming basic_users", res.StatusCode, body)
	}

	const creates = 3
	done := make(chan int, creates)
	for i := range creates {
		req, _ := http.NewRequest("POST", "http://"+s.addr+"/v1/apis", strings.NewReader(apiWithUsers(fmt.Sprintf("full%d", i), fmt.Sprintf("full%d.test", i), 20)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.token)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			res.Body.Close()
			done <- res.StatusCode
		}()
	}
	const bound = time.Second // generous: milliseconds when nothing starves the server
	var slowest time.Duration
	samples, finished := 0, 0
	for finished < creates {
		select {
		case status := <-done:
			finished++
			if status != 201 {
				t.Errorf("create with 20 users = %d, want 201", status)
			}
			continue
		default:
		}
		began := time.Now()
		s.mustCall(t, "GET", "/v1/version", "", 200)
		if samples%10 == 0 { // a store write too, of another resource
			s.mustCall(t, "POST", "/v1/apps", fmt.Sprintf(`{"app":{"name":"app%d"}}`, samples), 201)
		}
		slowest = max(slowest, time.Since(began))
		samples++
		time.Sleep(20 * time.Millisecond) // pacing between samples, not an assertion
	}
	t.Logf("%d samples while %d creates hashed %d passwords; slowest %s", samples, creates, creates*20, slowest)
	if samples < 5 || slowest > bound {
		t.Errorf("%d samples, slowest %s; want several, each under %s", samples, slowest, bound)
	}
}
