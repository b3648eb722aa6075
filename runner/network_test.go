package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

func TestNetworkAllowed(t *testing.T) {
	n := newNetworks(DefaultFunctionNetwork, map[string][]string{"shared": nil, "team-a": {"alice", "oidc:carol"}})
	tests := []struct {
		name, owner, network string
		ok                   bool
	}{
		{"Gantry's function network is for everyone", "bob", NetworkBridge, true},
		{"no network is for everyone", "bob", NetworkNone, true},
		{"a network registered for every owner is for everyone", "bob", "shared", true},
		{"a network registered for owners is for them", "oidc:carol", "team-a", true},
		{"a network registered for owners is not for others", "bob", "team-a", false},
		{"the host network is refused", "alice", "host", false},
		{"names are exact: HOST is not a registered network", "alice", "HOST", false},
		{"a network no administrator registered is refused", "alice", "backend", false},
		{"Gantry's own network by its Docker name is refused", "alice", DefaultFunctionNetwork, false},
		{"an ID prefix of a registered network is refused", "alice", "shar", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := n.allowed(tt.owner, tt.network)
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, ErrNetworkNotAllowed) {
				t.Fatalf("allowed(%q, %q) = %v, want ok=%v", tt.owner, tt.network, err, tt.ok)
			}
		})
	}
}

// probe runs a function of the format that tries to reach each address, and returns what
// each attempt gave ("HTTP ...", "connected" or "error: ...").
func probe(t *testing.T, r *Runner, rt Function, addrs ...string) map[string]string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"connect": addrs})
	res, err := r.Run(context.Background(), testCall(rt, string(body)))
	if err != nil {
		t.Fatalf("probe of %s (%s): %v", rt.Path, rt.Format, err)
	}
	got := map[string]string{}
	if err := json.Unmarshal(res.Body, &got); err != nil {
		t.Fatalf("probe answered %q: %v", res.Body, err)
	}
	return got
}

// hotAddr is the address of the one hot container of the route's app, and its network's gateway.
func hotAddr(t *testing.T, r *Runner, app, dockerNetwork string) (addr, gateway string) {
	t.Helper()
	info, err := testDocker.ContainerInspect(context.Background(), containerOf(t, r, app))
	if err != nil {
		t.Fatal(err)
	}
	ep := info.NetworkSettings.Networks[dockerNetwork]
	if ep == nil || ep.IPAddress == "" {
		t.Fatalf("container of %s is not on %s: %v", app, dockerNetwork, info.NetworkSettings.Networks)
	}
	return net.JoinHostPort(ep.IPAddress, "8080"), ep.Gateway
}

// TestNoFunctionReachesAnotherContainer: a hot container of one app is reachable from the
// host (Gantry calls it) but not from any function of another app, whatever its format;
// functions still reach the outside of their network (here: a server on the host).
func TestNoFunctionReachesAnotherContainer(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	// Idle for as long as routes allow: the subtests may wait their turn behind the package's
	// other tests, and a container stopped meanwhile would hand its address to the next one.
	victim := testRoute(FormatHTTP, func(rt *Function) { rt.App, rt.IdleTimeout = "victim", time.Hour })
	if res, err := r.Run(context.Background(), testCall(victim, `{"name":"victim"}`)); err != nil || string(res.Body) != "Hello victim!" {
		t.Fatalf("victim: %v %v", res, err)
	}
	addr, gateway := hotAddr(t, r, "victim", DefaultFunctionNetwork)
	// The host reaches the container: Gantry's own path to it.
	if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err != nil {
		t.Fatalf("the host cannot reach the hot container at %s: %v", addr, err)
	} else {
		conn.Close()
	}
	// A server outside the function network, on the host.
	outside := serveOn(t, net.JoinHostPort(gateway, "0"))

	for _, format := range []string{FormatDefault, FormatHTTP, FormatJSON} {
		t.Run("a function of the "+format+" format cannot connect, but reaches the outside", func(t *testing.T) {
			t.Parallel()
			attacker := testRoute(format, func(rt *Function) {
				rt.App, rt.Path, rt.IdleTimeout = "attacker-"+format, "/"+format, time.Hour
			})
			got := probe(t, r, attacker, addr, outside)
			// Docker hands a freed address to the next container: had the victim's gone, the
			// probe could have reached its own server there. Say so rather than blame isolation.
			if now, _ := hotAddr(t, r, "victim", DefaultFunctionNetwork); now != addr {
				t.Fatalf("the victim's container moved from %s to %s during the probe", addr, now)
			}
			if format != FormatDefault {
				if own, _ := hotAddr(t, r, attacker.App, DefaultFunctionNetwork); own == addr {
					t.Fatalf("the %s function's container has the victim's address %s", format, addr)
				}
			}
			if !strings.HasPrefix(got[addr], "error:") {
				t.Errorf("the %s function reached the victim's container at %s: %q", format, addr, got[addr])
			}
			if !strings.HasPrefix(got[outside], "HTTP HTTP/1.1 200") {
				t.Errorf("the %s function could not reach %s outside its network: %q", format, outside, got[outside])
			}
		})
	}
}

// TestProbeSeesAnOpenNetwork shows the probe above can fail: on a network an administrator
// registered with inter-container communication on, a function reaches another's container.
func TestProbeSeesAnOpenNetwork(t *testing.T) {
	t.Parallel()
	needDocker(t)
	name := fmt.Sprintf("gantry-test-open-%d", time.Now().UnixNano())
	created, err := testDocker.NetworkCreate(context.Background(), name, network.CreateOptions{Driver: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, Options{Networks: map[string][]string{name: nil}})
	t.Cleanup(func() {
		r.Close(context.Background())
		_ = testDocker.NetworkRemove(context.Background(), created.ID)
	})
	victim := testRoute(FormatHTTP, func(rt *Function) { rt.App, rt.Network, rt.IdleTimeout = "victim", name, time.Hour })
	if _, err := r.Run(context.Background(), testCall(victim, "")); err != nil {
		t.Fatal(err)
	}
	addr, _ := hotAddr(t, r, "victim", name)
	attacker := testRoute(FormatDefault, func(rt *Function) { rt.App, rt.Network = "attacker", name })
	if got := probe(t, r, attacker, addr); !strings.HasPrefix(got[addr], "HTTP HTTP/1.1 200") {
		t.Fatalf("on an open network the probe did not reach %s: %q", addr, got[addr])
	}
}

// serveOn serves 200 "outside" on addr until the test ends, and returns its address.
func serveOn(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("outside")) }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestNetworksThatCannotServe: calls on a network that is missing, or a function network
// that is not isolated, fail with ErrNetworkUnavailable (503) before any container runs;
// a registered network that appears later is picked up.
func TestNetworksThatCannotServe(t *testing.T) {
	t.Parallel()
	needDocker(t)
	ctx := context.Background()
	stamp := time.Now().UnixNano()

	t.Run("a registered network missing in Docker", func(t *testing.T) {
		t.Parallel()
		name := fmt.Sprintf("gantry-test-later-%d", stamp)
		r := newTestRunner(t, Options{Networks: map[string][]string{name: nil}})
		rt := testRoute(FormatDefault, func(rt *Function) { rt.Network = name })
		if _, err := r.Run(ctx, testCall(rt, "")); !errors.Is(err, ErrNetworkUnavailable) {
			t.Fatalf("call on a missing network: %v, want ErrNetworkUnavailable", err)
		}
		created, err := testDocker.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge"})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := r.Run(ctx, testCall(rt, "")); err != nil || string(res.Body) != "Hello World!" {
			t.Fatalf("call once the network exists: %v %v", res, err)
		}
		if err := testDocker.NetworkRemove(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(ctx, testCall(rt, "")); !errors.Is(err, ErrNetworkUnavailable) {
			t.Fatalf("call after the network went: %v, want ErrNetworkUnavailable", err)
		}
	})
	t.Run("a function network with inter-container communication on", func(t *testing.T) {
		t.Parallel()
		name := fmt.Sprintf("gantry-test-icc-%d", stamp)
		created, err := testDocker.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = testDocker.NetworkRemove(ctx, created.ID) })
		r := newTestRunner(t, Options{FunctionNetwork: name})
		_, err = r.Run(ctx, testCall(testRoute(FormatDefault, nil), ""))
		if !errors.Is(err, ErrNetworkUnavailable) || !strings.Contains(err.Error(), iccOption+"=false") {
			t.Fatalf("call on a function network with ICC on: %v, want ErrNetworkUnavailable naming %s", err, iccOption)
		}
	})
	t.Run("a function network with IPv6, which enable_icc does not filter", func(t *testing.T) {
		t.Parallel()
		name := fmt.Sprintf("gantry-test-ipv6-%d", stamp)
		ipv6 := true
		created, err := testDocker.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", EnableIPv6: &ipv6,
			Options: map[string]string{iccOption: "false"},
			IPAM:    &network.IPAM{Config: []network.IPAMConfig{{Subnet: fmt.Sprintf("fd42:%x:%x::/64", stamp&0xffff, (stamp>>16)&0xffff)}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = testDocker.NetworkRemove(ctx, created.ID) })
		r := newTestRunner(t, Options{FunctionNetwork: name})
		_, err = r.Run(ctx, testCall(testRoute(FormatDefault, nil), ""))
		if !errors.Is(err, ErrNetworkUnavailable) || !strings.Contains(err.Error(), "IPv4-only") {
			t.Fatalf("call on a function network with IPv6: %v, want ErrNetworkUnavailable", err)
		}
	})
	t.Run("Gantry processes starting together settle on one function network", func(t *testing.T) {
		t.Parallel()
		name := fmt.Sprintf("gantry-test-together-%d", stamp)
		t.Cleanup(func() { // name and name-first
			list, _ := testDocker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
			for _, n := range list {
				_ = testDocker.NetworkRemove(ctx, n.ID)
			}
		})
		runners := make([]*Runner, 6)
		for i := range runners {
			runners[i] = newTestRunner(t, Options{FunctionNetwork: name + "-first"}) // New makes this one
			runners[i].nets = newNetworks(name, nil)                                 // and this one is made below, all at once
		}
		ids := make([]string, len(runners))
		errs := make([]error, len(runners))
		var wg sync.WaitGroup
		for i, r := range runners {
			wg.Go(func() { ids[i], errs[i] = r.networkMode(ctx, NetworkBridge) })
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("runner %d uses network %q (%v); runner 0 uses %q", i, ids[i], errs[i], ids[0])
			}
		}
		list, err := testDocker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range list {
			if n.Name == name && n.ID != ids[0] {
				t.Errorf("a second network %s (%s) was left beside the one in use", name, short(n.ID))
			}
		}
	})
}

// TestSharedOpenNetworksAreWarnedOf: at start-up the runner warns of each registered network
// more than one owner may use while its containers reach each other, and of no other.
func TestSharedOpenNetworksAreWarnedOf(t *testing.T) {
	t.Parallel()
	if testDocker == nil {
		t.Skip("no Docker")
	}
	ctx := context.Background()
	stamp := time.Now().UnixNano()
	name := func(kind string) string { return fmt.Sprintf("gantry-test-%s-%d", kind, stamp) }
	yes := true
	networks := []struct {
		kind   string
		owners []string
		create network.CreateOptions
		warned bool
	}{
		{"open-all", nil, network.CreateOptions{}, true},
		{"open-two", []string{"alice", "bob"}, network.CreateOptions{}, true},
		{"open-one", []string{"alice"}, network.CreateOptions{}, false},
		{"isolated-all", nil, network.CreateOptions{Options: map[string]string{iccOption: "false"}}, false},
		{"isolated-zero", nil, network.CreateOptions{Options: map[string]string{iccOption: "0"}}, false}, // Docker reads a boolean
		{"isolated-ipv6", nil, network.CreateOptions{Options: map[string]string{iccOption: "false"}, EnableIPv6: &yes,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: fmt.Sprintf("fd43:%x:%x::/64", stamp&0xffff, (stamp>>16)&0xffff)}}}}, true},
		{"missing", nil, network.CreateOptions{}, false},
	}
	registered := map[string][]string{}
	for _, n := range networks {
		registered[name(n.kind)] = n.owners
		if n.kind == "missing" {
			continue
		}
		n.create.Driver = "bridge"
		created, err := testDocker.NetworkCreate(ctx, name(n.kind), n.create)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = testDocker.NetworkRemove(ctx, created.ID) })
	}
	var logged strings.Builder
	var mu sync.Mutex
	r, err := New(ctx, testDocker, Options{
		Instance: fmt.Sprintf("test-warn-%d", stamp), Labels: map[string]string{testLabel: testLabelValue},
		Log: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)), Networks: registered,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(ctx) })
	mu.Lock()
	out := logged.String()
	mu.Unlock()
	for _, n := range networks {
		if strings.Contains(out, "network="+name(n.kind)+" ") != n.warned {
			t.Errorf("warned of %s: %v, want %v; log:\n%s", n.kind, !n.warned, n.warned, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestDockerNotFoundErrorsAreClassified: Docker's "not found" on creating a container names
// what is missing; an image whose name says "network" is still a missing image.
func TestDockerNotFoundErrorsAreClassified(t *testing.T) {
	tests := []struct {
		name, msg string
		want      error
	}{
		{"a missing image", "No such image: acme/probe:latest", ErrImageNotFound},
		{"a missing image named for networks", "No such image: acme/network-probe:latest", ErrImageNotFound},
		{"a missing network", "network gantry-team not found", ErrNetworkUnavailable},
		{"a missing network, said otherwise", "No such network: gantry-team", ErrNetworkUnavailable},
	}
	r := &Runner{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.dockerError("create container", errdefs.ErrNotFound.WithMessage(tt.msg)); !errors.Is(err, tt.want) {
				t.Fatalf("dockerError(%q) = %v, want %v", tt.msg, err, tt.want)
			}
		})
	}
}
