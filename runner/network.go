package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// Function networks.
//
// A route's network is one of three kinds:
//   - "bridge" (the default): the function network Gantry manages, a Docker bridge network
//     with inter-container communication turned off. Containers on it reach the outside
//     and the host, Gantry on the host reaches them, but no container reaches another —
//     neither another tenant's nor one of its own app.
//   - "none": no network at all (not for the http format, which Gantry reaches over it).
//   - a network an administrator registered (Options.Networks), for the owners it names.
//
// Docker's own default bridge, the host network and any other network are not accepted.
const (
	// DefaultFunctionNetwork is the name of the network Gantry creates for functions.
	DefaultFunctionNetwork = "gantry-functions"
	// iccOption turns inter-container communication on a bridge network on or off.
	iccOption = "com.docker.network.bridge.enable_icc"
	// lockWait bounds the wait for another process creating the function network.
	lockWait = 10 * time.Second
)

// ErrNetworkNotAllowed: a route names a network its app's owner may not use (400 when a
// route is written, 403 when a call finds it so; an async call is not retried).
var ErrNetworkNotAllowed = errors.New("network not allowed")

// ErrNetworkUnavailable: the route's network is not there in Docker, or is not set up as
// Gantry needs (503: a problem on the Docker side, not the caller's).
var ErrNetworkUnavailable = errors.New("network unavailable")

// networks resolves the networks routes name to the Docker networks containers join.
type networks struct {
	managed    string              // Docker name of the function network
	registered map[string][]string // name → owners who may use it (none listed: everyone)

	mu       sync.RWMutex
	resolved map[string]string // route network name → Docker network ID, once checked
	resolve  chan struct{}     // holds a token while a network is looked up or created in Docker
}

func newNetworks(managed string, registered map[string][]string) *networks {
	return &networks{managed: managed, registered: registered, resolved: map[string]string{}, resolve: make(chan struct{}, 1)}
}

// allowed reports whether an app of owner may run its functions on the route network name.
func (n *networks) allowed(owner, name string) error {
	switch name {
	case NetworkBridge, NetworkNone:
		return nil
	}
	owners, ok := n.registered[name]
	if !ok {
		return fmt.Errorf("%w: %q is not a network for functions: use %q (Gantry's isolated function network), %q, or a network an administrator registered", ErrNetworkNotAllowed, name, NetworkBridge, NetworkNone)
	}
	if len(owners) > 0 && !slices.Contains(owners, owner) {
		return fmt.Errorf("%w: network %q is registered for other owners", ErrNetworkNotAllowed, name)
	}
	return nil
}

// warnSharedNetworks warns of each registered network that more than one owner may use
// while its containers reach each other: a tenant's function could reach another's there.
func (r *Runner) warnSharedNetworks(ctx context.Context) {
	for name, owners := range r.nets.registered {
		if len(owners) == 1 {
			continue
		}
		info, err := r.docker.NetworkInspect(ctx, name, network.InspectOptions{})
		if err != nil || info.Name != name || isolated(info.Options, info.EnableIPv6) {
			continue // missing (calls say so) or isolated
		}
		who := "every owner"
		if len(owners) > 1 {
			who = strings.Join(owners, ", ")
		}
		r.log.Warn("a registered network is shared while its containers reach each other: the functions of one owner can call another's containers directly; register it for one owner, or create it with "+iccOption+"=false",
			"network", name, "owners", who)
	}
}

// isolated reports whether a bridge network's containers cannot reach each other:
// inter-container communication off (Docker reads the option as a boolean), and no IPv6,
// which that option does not filter.
func isolated(options map[string]string, ipv6 bool) bool {
	icc, err := strconv.ParseBool(options[iccOption])
	return err == nil && !icc && !ipv6
}

// dockerName is the name of the Docker network behind a route network: the name Docker
// keys a container's network settings by.
func (n *networks) dockerName(name string) string {
	if name == NetworkBridge {
		return n.managed
	}
	return name
}

// NetworkAllowed reports whether an app of owner may use the route network name: nil, or
// an error wrapping ErrNetworkNotAllowed that says why.
func (r *Runner) NetworkAllowed(owner, name string) error { return r.nets.allowed(owner, name) }

// networkMode is what a container of the route joins: "none", or the ID of the Docker
// network behind its route network, checked (and for the function network, created) the
// first time it is needed. Docker is given the ID, never a name it might resolve to another
// network by prefix.
func (r *Runner) networkMode(ctx context.Context, name string) (string, error) {
	if name == NetworkNone {
		return NetworkNone, nil
	}
	n := r.nets
	if _, ok := n.registered[name]; !ok && name != NetworkBridge {
		// Callers check the owner first; this holds for calls recorded before a network
		// was unregistered (async tasks keep their route as it was).
		return "", n.allowed("", name)
	}
	if id, ok := n.cached(name); ok {
		return id, nil
	}
	select { // one lookup at a time; calls on networks already resolved never wait for it
	case n.resolve <- struct{}{}:
		defer func() { <-n.resolve }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if id, ok := n.cached(name); ok {
		return id, nil
	}
	var (
		id  string
		err error
	)
	if name == NetworkBridge {
		id, err = r.ensureFunctionNetwork(ctx)
	} else {
		id, err = r.inspectNetwork(ctx, name)
	}
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	n.resolved[name] = id
	n.mu.Unlock()
	return id, nil
}

// cached returns the Docker network ID of a route network resolved before.
func (n *networks) cached(name string) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	id, ok := n.resolved[name]
	return id, ok
}

// forgetNetwork drops what is known of a route network, after Docker said it is gone.
func (r *Runner) forgetNetwork(name string) {
	r.nets.mu.Lock()
	delete(r.nets.resolved, name)
	r.nets.mu.Unlock()
}

// inspectNetwork finds a registered network by its exact name.
func (r *Runner) inspectNetwork(ctx context.Context, name string) (string, error) {
	info, err := r.docker.NetworkInspect(ctx, name, network.InspectOptions{})
	switch {
	case errdefs.IsNotFound(err) || err == nil && info.Name != name: // found by an ID prefix: not ours
		return "", fmt.Errorf("%w: Docker network %q does not exist", ErrNetworkUnavailable, name)
	case err != nil:
		return "", r.dockerError("inspect network "+name, err)
	case info.Driver == "host" || info.Driver == "null":
		return "", fmt.Errorf("%w: Docker network %q uses the %s driver, which functions may not join", ErrNetworkUnavailable, name, info.Driver)
	}
	return info.ID, nil
}

// ensureFunctionNetwork creates Gantry's function network unless it exists, and checks
// that an existing one is a bridge with inter-container communication off: a network of
// that name made by someone else would otherwise silently let functions reach each other.
//
// Docker's own check against a second network of the same name races, and Docker starts no
// container on a network whose name is ambiguous. So Gantry processes sharing a Docker host
// create the network under a file lock, and a copy made anyway (by a Gantry on another host
// of a remote daemon) is removed in favour of the oldest.
func (r *Runner) ensureFunctionNetwork(ctx context.Context) (string, error) {
	name := r.nets.managed
	found, err := r.functionNetwork(ctx)
	if err != nil || found != nil {
		return r.checkFunctionNetwork(found, err)
	}
	// The lock only spares Docker duplicates that would be removed anyway: a process that
	// holds it too long delays the creation by lockWait at most.
	lockCtx, cancel := context.WithTimeout(ctx, lockWait)
	unlock, err := lockFile(lockCtx, filepath.Join(os.TempDir(), "gantry-network-"+name+".lock"))
	cancel()
	if err != nil {
		r.log.Warn("create the function network without a lock", "err", err)
	}
	defer unlock()
	if found, err = r.functionNetwork(ctx); err != nil || found != nil { // made while we waited
		return r.checkFunctionNetwork(found, err)
	}
	ipv6 := false // enable_icc filters IPv4 only: an IPv6 address would reach every container
	created, err := r.docker.NetworkCreate(ctx, name, network.CreateOptions{
		Driver:     "bridge",
		EnableIPv6: &ipv6,
		Options:    map[string]string{iccOption: "false"},
		Labels:     map[string]string{LabelManaged: "true"},
	})
	if err != nil && !errdefs.IsConflict(err) { // a conflict: another Gantry made it meanwhile
		return "", r.dockerError("create network "+name, err)
	}
	if found, err = r.functionNetwork(ctx); found != nil && found.ID == created.ID {
		r.log.Info("created the function network", "network", name, "id", short(created.ID))
	}
	if err == nil && found == nil {
		err = fmt.Errorf("%w: Docker network %q was created but is not listed", ErrNetworkUnavailable, name)
	}
	return r.checkFunctionNetwork(found, err)
}

// functionNetwork finds the function network by its exact name, nil when there is none.
// Of several copies the oldest is kept and the others are removed.
func (r *Runner) functionNetwork(ctx context.Context) (*network.Summary, error) {
	list, err := r.docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", r.nets.managed))})
	if err != nil {
		return nil, r.dockerError("list networks", err)
	}
	list = slices.DeleteFunc(list, func(n network.Summary) bool { return n.Name != r.nets.managed }) // the filter matches parts of names
	if len(list) == 0 {
		return nil, nil
	}
	slices.SortFunc(list, func(a, b network.Summary) int { return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID)) })
	for _, n := range list[1:] {
		if err := r.docker.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("remove a second copy of the function network", "id", short(n.ID), "err", err)
		}
	}
	return &list[0], nil
}

func (r *Runner) checkFunctionNetwork(n *network.Summary, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if n.Driver != "bridge" || !isolated(n.Options, n.EnableIPv6) {
		return "", fmt.Errorf("%w: Docker network %q exists but is not an IPv4-only bridge with %s=false; remove it and Gantry will create it", ErrNetworkUnavailable, n.Name, iccOption)
	}
	return n.ID, nil
}
