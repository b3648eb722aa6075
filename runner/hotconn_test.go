package runner

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// TestHotFunctionStrayAnswerNeverReachesTheNextCall: an answer an http function writes on
// its connection after the one asked for is never read as the next call's answer: the next
// call goes to the same container over a new connection.
func TestHotFunctionStrayAnswerNeverReachesTheNextCall(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, nil)
	first, err := r.Run(context.Background(), testCall(rt, `{"name":"first","stray_ms":20}`))
	if err != nil || string(first.Body) != "Hello first!" {
		t.Fatalf("the call that leaves a stray answer behind: %v %+v", err, first)
	}
	time.Sleep(300 * time.Millisecond) // the stray answer is on the connection by now
	next, err := r.Run(context.Background(), testCall(rt, `{"name":"next"}`))
	if err != nil || string(next.Body) != "Hello next!" {
		t.Fatalf("the next call: %v %q, want its own answer", err, next.Body)
	}
	if next.Header.Get("X-Container-Id") != first.Header.Get("X-Container-Id") || next.Header.Get("X-Conn") == first.Header.Get("X-Conn") {
		t.Fatalf("the next call came from container %q over %q, want the same container (%q) over a new connection (not %q)",
			next.Header.Get("X-Container-Id"), next.Header.Get("X-Conn"), first.Header.Get("X-Container-Id"), first.Header.Get("X-Conn"))
	}
}

// TestHotConnectionIsKeptAlive: a clean connection carries the next call, even once the
// previous call's deadline has passed.
func TestHotConnectionIsKeptAlive(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, func(rt *Function) { rt.Timeout = time.Second })
	first, err := r.Run(context.Background(), testCall(rt, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the first call's deadline
	next, err := r.Run(context.Background(), testCall(rt, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if next.Header.Get("X-Conn") != first.Header.Get("X-Conn") || next.Header.Get("X-Conn") == "" {
		t.Fatalf("the next call came over %q, want the first call's connection %q", next.Header.Get("X-Conn"), first.Header.Get("X-Conn"))
	}
}

// TestStillAt: a connection to a hot container's address counts only while Docker shows
// that container running there.
func TestStillAt(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, Options{})
	rt := testRoute(FormatHTTP, func(rt *Function) { rt.App, rt.IdleTimeout = "still", time.Hour })
	if _, err := r.Run(context.Background(), testCall(rt, `{}`)); err != nil {
		t.Fatal(err)
	}
	addr, _ := hotAddr(t, r, "still", DefaultFunctionNetwork)
	id := containerOf(t, r, "still")
	ctx := context.Background()
	at := func(addr string) error {
		return r.stillAt(ctx, &hotContainer{id: id, addr: addr, network: DefaultFunctionNetwork, exited: make(chan struct{})})
	}
	if err := at(addr); err != nil {
		t.Fatalf("the container at its address: %v", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	if err := at(net.JoinHostPort(host, "8081")); err == nil || !strings.Contains(err.Error(), "no longer at its address") {
		t.Fatalf("another address: %v, want an error", err)
	}
	gone := &hotContainer{id: id, addr: addr, network: DefaultFunctionNetwork, exited: make(chan struct{})}
	close(gone.exited)
	if err := r.stillAt(ctx, gone); err == nil {
		t.Fatal("a container whose streams ended counts as still there")
	}
	if err := testDocker.ContainerKill(ctx, id, "KILL"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the killed container still counts as there", func() bool { return at(addr) != nil })
}

// containerOf is the ID of the one running container of the app.
func containerOf(t *testing.T, r *Runner, app string) string {
	t.Helper()
	list, err := testDocker.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", LabelInstance+"="+r.opts.Instance), filters.Arg("label", LabelApp+"="+app))})
	if err != nil || len(list) != 1 {
		t.Fatalf("containers of %s: %d, %v", app, len(list), err)
	}
	return list[0].ID
}
