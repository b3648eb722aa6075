package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/gantry-dev/gantry/runner"
)

// as is a request header pair that calls with a developer's token.
func as(token string) []string { return []string{"Authorization", "Bearer " + token} }

// mustCallAs is mustCall with a token and headers.
func (s *server) mustCallAs(t *testing.T, token, method, path, body string, status int, header ...string) string {
	t.Helper()
	res, b := s.callWith(t, method, path, body, append(as(token), header...)...)
	if res.StatusCode != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, status)
	}
	return b
}

// hotContainerAddr is the function network address ($PORT) of the one running container of app.
func (s *server) hotContainerAddr(t *testing.T, app string) string {
	t.Helper()
	list, err := docker.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", runner.LabelInstance+"="+s.instance), filters.Arg("label", runner.LabelApp+"="+app))})
	if err != nil || len(list) != 1 {
		t.Fatalf("running containers of %s: %d %v", app, len(list), err)
	}
	info, err := docker.ContainerInspect(context.Background(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	ep := info.NetworkSettings.Networks[runner.DefaultFunctionNetwork]
	if ep == nil || ep.IPAddress == "" {
		t.Fatalf("the container of %s is not on %s: %v", app, runner.DefaultFunctionNetwork, info.NetworkSettings.Networks)
	}
	return net.JoinHostPort(ep.IPAddress, "8080")
}

// TestTenantsCannotReachEachOthersFunctions: two developers on one server. Alice's hot
// function holds a secret in its config and takes only callers with a token. Bob's
// functions, of every format, try to open a connection to Alice's container directly: none
// gets through, while each still reaches a server outside the function network.
func TestTenantsCannotReachEachOthersFunctions(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	alice, bob := createToken(t, s, "alice", "developer"), createToken(t, s, "bob", "developer")

	s.mustCallAs(t, alice, "POST", "/v1/apps", `{"app":{"name":"alice-app","config":{"SECRET":"alice-secret"}}}`, 201)
	s.mustCallAs(t, alice, "POST", "/v1/apps/alice-app/routes", `{"route":{"path":"/hot","image":"`+imgTestfn+`","format":"http","auth":"token","idle_timeout":3600}}`, 201)
	if b := s.mustCallAs(t, alice, "POST", "/r/alice-app/hot", `{"env":true,"env_keys":["SECRET"]}`, 200); !strings.Contains(b, "alice-secret") {
		t.Fatalf("alice's function: %s", b)
	}
	if res, b := s.call(t, "POST", "/r/alice-app/hot", `{"env":true,"env_keys":["SECRET"]}`); res.StatusCode != 401 {
		t.Fatalf("alice's function without a token: %d %s, want 401", res.StatusCode, b)
	}
	victim := s.hotContainerAddr(t, "alice-app")
	// No IPv6 address either, which would be a way around the IPv4 rules between containers.
	if b := s.mustCallAs(t, alice, "POST", "/r/alice-app/hot", `{"addrs":true}`, 200); strings.Contains(b, ":") {
		t.Fatalf("alice's container has an IPv6 address: %s", b)
	}

	fnNet, err := docker.NetworkInspect(context.Background(), runner.DefaultFunctionNetwork, network.InspectOptions{})
	if err != nil || len(fnNet.IPAM.Config) == 0 {
		t.Fatalf("the function network: %v %+v", err, fnNet.IPAM)
	}
	outside := serveOutside(t, fnNet.IPAM.Config[0].Gateway)

	s.mustCallAs(t, bob, "POST", "/v1/apps", `{"app":{"name":"bob-app"}}`, 201)
	for _, format := range []string{"default", "http", "json"} {
		t.Run("bob's "+format+" function cannot connect to alice's", func(t *testing.T) {
			// Alice's container idles for an hour (above): its address is not handed to Bob's.
			s.mustCallAs(t, bob, "POST", "/v1/apps/bob-app/routes", `{"route":{"path":"/`+format+`","image":"`+imgTestfn+`","format":"`+format+`"}}`, 201)
			b := s.mustCallAs(t, bob, "POST", "/r/bob-app/"+format, fmt.Sprintf(`{"connect":[%q,%q]}`, victim, outside), 200)
			var got map[string]string
			if err := json.Unmarshal([]byte(b), &got); err != nil {
				t.Fatalf("probe answered %s", b)
			}
			if !strings.HasPrefix(got[victim], "error:") {
				t.Errorf("bob's %s function reached alice's container at %s: %q", format, victim, got[victim])
			}
			if !strings.HasPrefix(got[outside], "HTTP HTTP/1.1 200") {
				t.Errorf("bob's %s function could not reach %s outside its network: %q", format, outside, got[outside])
			}
		})
	}
	if now := s.hotContainerAddr(t, "alice-app"); now != victim { // else a probe may have met a newer container there
		t.Fatalf("alice's container moved from %s to %s during the probes", victim, now)
	}
}

// serveOutside serves 200 on a free port of ip (an address of this host) until the test ends.
func serveOutside(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestRouteNetworks: a route's network is Gantry's function network ("bridge"), none, or a
// network an administrator registered for the app's owner; anything else is a 400 naming
// the field. A registered network that Docker no longer has makes calls 503, never 500.
func TestRouteNetworks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	team := fmt.Sprintf("gantry-e2e-team-%d", time.Now().UnixNano())
	created, err := docker.NetworkCreate(ctx, team, network.CreateOptions{Driver: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = docker.NetworkRemove(ctx, created.ID) })
	host, err := docker.NetworkInspect(ctx, "host", network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), "GANTRY_NETWORKS="+team+":alice", "GANTRY_ASYNC_ATTEMPTS=2", "GANTRY_ASYNC_BACKOFF=50ms")
	alice, bob := createToken(t, s, "alice", "developer"), createToken(t, s, "bob", "developer")
	s.mustCallAs(t, alice, "POST", "/v1/apps", `{"app":{"name":"alice-app"}}`, 201)
	s.mustCallAs(t, bob, "POST", "/v1/apps", `{"app":{"name":"bob-app"}}`, 201)
	s.mustCallAs(t, bob, "POST", "/v1/apps/bob-app/routes", `{"route":{"path":"/p","image":"`+imgTestfn+`"}}`, 201)

	for _, c := range []struct{ name, network string }{
		{"the host network", "host"},
		{"the host network in capitals", "HOST"},
		{"the host network by an ID prefix", host.ID[:12]},
		{"Docker's default bridge by its ID", mustNetworkID(t, "bridge")},
		{"Gantry's function network by its Docker name", runner.DefaultFunctionNetwork},
		{"a network that does not exist", "nonexistent"},
		{"a network registered for another owner", team},
	} {
		t.Run("bob may not use "+c.name, func(t *testing.T) {
			for _, req := range []struct{ method, path, body string }{
				{"POST", "/v1/apps/bob-app/routes", `{"route":{"path":"/n","image":"` + imgTestfn + `","network":"` + c.network + `"}}`},
				{"PUT", "/v1/apps/bob-app/routes/n", `{"route":{"image":"` + imgTestfn + `","network":"` + c.network + `"}}`},
				{"PATCH", "/v1/apps/bob-app/routes/p", `{"route":{"network":"` + c.network + `"}}`},
			} {
				b := s.mustCallAs(t, bob, req.method, req.path, req.body, 400)
				var e struct{ Error struct{ Fields string } }
				if err := json.Unmarshal([]byte(b), &e); err != nil || e.Error.Fields != "route.network" {
					t.Errorf("%s %s: %s, want the field route.network named", req.method, req.path, b)
				}
			}
		})
	}
	s.mustCallAs(t, bob, "POST", "/v1/apps/bob-app/routes", `{"route":{"path":"/isolated","image":"`+imgTestfn+`","network":"none"}}`, 201)

	// Alice may use the network registered for her, until Docker loses it.
	s.mustCallAs(t, alice, "POST", "/v1/apps/alice-app/routes", `{"route":{"path":"/team","image":"`+imgTestfn+`","network":"`+team+`"}}`, 201)
	s.mustCallAs(t, alice, "POST", "/r/alice-app/team", `{"name":"team"}`, 200)

	// Once the app is bob's, its route's network is not its owner's: calls are forbidden
	// (403, no Retry-After), and an async call fails at once, without retries.
	s.mustCall(t, "PATCH", "/v1/apps/alice-app", `{"app":{"owner":"bob"}}`, 200)
	res, b := s.call(t, "POST", "/r/alice-app/team", `{}`)
	if res.StatusCode != 403 || !strings.Contains(errorMessage(t, b), "network") || res.Header.Get("Retry-After") != "" {
		t.Fatalf("a call on a network the new owner may not use: %d %s %v, want 403 naming the network", res.StatusCode, b, res.Header)
	}
	if res, b = s.callWith(t, "POST", "/r/alice-app/team", `{}`, "Gantry-Invoke-Type", "async"); res.StatusCode != 403 {
		t.Fatalf("an async call on a network the new owner may not use: %d %s, want 403 before it is accepted", res.StatusCode, b)
	}
	s.mustCall(t, "PATCH", "/v1/apps/alice-app", `{"app":{"owner":"alice"}}`, 200)
	s.mustCallAs(t, alice, "POST", "/r/alice-app/team", `{"name":"team"}`, 200)

	if err := docker.NetworkRemove(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	res, b = s.call(t, "POST", "/r/alice-app/team", `{}`)
	if res.StatusCode != 503 || !strings.Contains(errorMessage(t, b), "network") || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a call on a network Docker lost: %d %s %v, want 503 naming the network", res.StatusCode, b, res.Header)
	}
	res, b = s.callWith(t, "POST", "/r/alice-app/team", `{}`, "Gantry-Invoke-Type", "async")
	if res.StatusCode != 202 {
		t.Fatalf("async call: %d %s", res.StatusCode, b)
	}
	id := res.Header.Get("Gantry-Call-Id")
	waitFor(t, 20*time.Second, "the async call on a lost network did not end", func() bool {
		return s.execution(t, id)["status"] == "FAILED"
	})
	if ex := s.execution(t, id); !strings.Contains(fmt.Sprint(ex["error"]), "network") {
		t.Fatalf("the async call's execution does not say the network is the problem: %v", ex)
	}
	if strings.Contains(s.logText(), "internal error") {
		t.Fatalf("the server logged an internal error: %s", s.logText())
	}
}

func mustNetworkID(t *testing.T, name string) string {
	t.Helper()
	n, err := docker.NetworkInspect(context.Background(), name, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}

// TestHeadersTooLargeForTheEnvironment: a default-format call whose headers would not fit
// in the container's environment is refused with 431 before anything runs or is recorded;
// hot formats, which get headers over HTTP or stdin, take them.
func TestHeadersTooLargeForTheEnvironment(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/cold","image":"`+imgTestfn+`"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/hot","image":"`+imgTestfn+`","format":"http"}}`, 201)
	big := strings.Repeat("h", 200<<10)

	res, b := s.callWith(t, "POST", "/r/a/cold", `{}`, "X-Big", big)
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(errorMessage(t, b), "headers") {
		t.Fatalf("a 200 KiB header on a default-format call: %d %s, want 431", res.StatusCode, b)
	}
	if res.Header.Get("Gantry-Call-Id") != "" || s.containers(t, runner.LabelApp+"=a") != 0 {
		t.Fatalf("the refused call got an execution or a container")
	}
	_, list := s.mustCall(t, "GET", "/v1/executions?app=a", "", 200)
	if strings.Contains(list, `"id"`) {
		t.Fatalf("the refused call was recorded: %s", list)
	}
	res, b = s.callWith(t, "POST", "/r/a/cold", `{"name":"small"}`, "X-Small", "ok")
	if res.StatusCode != 200 || b != "Hello small!" {
		t.Fatalf("an ordinary call after: %d %s", res.StatusCode, b)
	}
	res, b = s.callWith(t, "POST", "/r/a/hot", `{"name":"hot"}`, "X-Big", big)
	if res.StatusCode != 200 || b != "Hello hot!" {
		t.Fatalf("a 200 KiB header on an http-format call: %d %s", res.StatusCode, b)
	}
}

// TestPathParamsTooLongForTheEnvironment: the gateway binds path parameters apart from the
// short URL it passes on; a default-format call whose parameters would not fit in the
// container's environment is refused with 414 before anything runs.
func TestPathParamsTooLongForTheEnvironment(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	plain, _ := s.gatewayAddrs(t)
	s.mustCall(t, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCall(t, "POST", "/v1/apps/a/routes", `{"route":{"path":"/cold","image":"`+imgTestfn+`"}}`, 201)
	s.mustCall(t, "POST", "/v1/apis", `{"api":{"name":"p","function":{"app":"a","route":"/cold"},"hosts":["p.test"],"uris":["/p/:id"]}}`, 201)
	eventually(t, "the API", func() error {
		if res, raw := gatewayCall(t, plain, "POST", "p.test", "/p/1", `{"name":"one"}`); res.StatusCode != 200 || raw != "Hello one!" {
			return fmt.Errorf("%d %s", res.StatusCode, raw)
		}
		return nil
	})
	before := countExecutions(t, s, "a")
	res, raw := gatewayCall(t, plain, "POST", "p.test", "/p/"+strings.Repeat("p", 200<<10), `{}`)
	if res.StatusCode != http.StatusRequestURITooLong || !strings.Contains(errorMessage(t, raw), "FN_PARAM_") {
		t.Fatalf("a 200 KiB path parameter through the gateway: %d %.200s, want 414", res.StatusCode, raw)
	}
	if after := countExecutions(t, s, "a"); res.Header.Get("Gantry-Call-Id") != "" || after != before {
		t.Fatalf("the refused call was recorded: %d executions, then %d", before, after)
	}
}

// TestAsyncCallOnAnUnregisteredNetworkIsNotRetried: an async call accepted on a registered
// network, then run by a server that no longer registers it, fails once and for good — it
// is no failure of the function, which the route's max_retries would run again.
func TestAsyncCallOnAnUnregisteredNetworkIsNotRetried(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	team := fmt.Sprintf("gantry-e2e-gone-%d", time.Now().UnixNano())
	s := startServer(t, dir, "GANTRY_NETWORKS="+team+":alice", "GANTRY_ASYNC_WORKERS=0") // accepted, not run
	alice := createToken(t, s, "alice", "developer")
	s.mustCallAs(t, alice, "POST", "/v1/apps", `{"app":{"name":"a"}}`, 201)
	s.mustCallAs(t, alice, "POST", "/v1/apps/a/routes", `{"route":{"path":"/team","image":"`+imgTestfn+`","type":"async","network":"`+team+`","max_retries":2}}`, 201)
	res, b := s.callWith(t, "POST", "/r/a/team", `{}`, "Authorization", "Bearer "+alice)
	if res.StatusCode != 202 {
		t.Fatalf("async call: %d %s", res.StatusCode, b)
	}
	id := res.Header.Get("Gantry-Call-Id")
	s.stop(t)

	s2 := startServer(t, dir, "GANTRY_ASYNC_WORKERS=1", "GANTRY_ASYNC_BACKOFF=50ms")
	waitFor(t, 20*time.Second, "the call on an unregistered network did not end", func() bool {
		return s2.execution(t, id)["status"] == "FAILED"
	})
	time.Sleep(500 * time.Millisecond) // a retry, were there one, would have started by now
	ex := s2.execution(t, id)
	if ex["status"] != "FAILED" || fmt.Sprint(ex["attempts"]) != "1" || !strings.Contains(fmt.Sprint(ex["error"]), "network") {
		t.Fatalf("the call on an unregistered network: %v, want FAILED after 1 attempt, naming the network", ex)
	}
}
