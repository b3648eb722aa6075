package runner

import (
	"maps"
	"net/http"
	"sync"
	"time"
)

// Formats: how Gantry talks to a function (the values of a route's format).
const (
	// FormatDefault runs one container per call: the body on stdin, stdout is the answer.
	FormatDefault = "default"
	// FormatHTTP keeps hot containers that serve HTTP on $PORT.
	FormatHTTP = "http"
	// FormatJSON keeps hot containers that read and write one JSON envelope per line.
	FormatJSON = "json"
)

// Networks with a meaning of their own (the values of a route's network); any other name
// is a network an administrator registered (Options.Networks).
const (
	// NetworkBridge is Gantry's function network, where no container reaches another.
	NetworkBridge = "bridge"
	// NetworkNone is no network at all.
	NetworkNone = "none"
)

// Function is what the containers of one function are made from, assembled by the caller
// (the invocation service) from a route and its app. Hot containers are pooled per
// function (App and Path) and set of Secrets; a call of a newer version of the route, the
// app or the secrets drains the pool of an older one, since a container keeps what it was
// started with.
type Function struct {
	App   string // the app: labels, logs, FN_APP_NAME
	Path  string // the route's path: labels, logs, FN_PATH
	Image string
	// Format is FormatDefault, FormatHTTP or FormatJSON.
	Format    string
	MemoryMiB int64   // memory without swap
	CPUs      float64 // 0: no limit
	// Timeout bounds a call from the moment the function runs (preparing a container is
	// bounded by Options.StartTimeout).
	Timeout time.Duration
	// IdleTimeout is how long a hot container may wait for a call before it is stopped.
	IdleTimeout time.Duration
	// MaxConcurrency bounds the hot containers of the function (each serves one call at a time).
	MaxConcurrency int
	// Network is NetworkBridge, NetworkNone or a network registered in Options.Networks.
	Network string
	// Env is the function's configuration, as its containers see it, in layers (the
	// app's config, the route's, ...): a later layer's value wins. The layers are only
	// read, and merged only when a container starts, never for a call to a hot one. The
	// runner adds the FN_ variables of the function contract (and PORT), which win over it.
	Env []map[string]string
	// RouteVersion and AppVersion are when the function's route and its app's
	// configuration last changed: hot containers started with older ones are not reused.
	RouteVersion, AppVersion time.Time
	// Secrets name the secrets its containers get as files, SecretsTarget/<ref>/<key>
	// (values from Options.Secrets, read when a container starts): never in the
	// environment, labels, logs or errors.
	Secrets []string
	// SecretsVersion is when the newest of Secrets last changed: hot containers started
	// with an older one are not reused.
	SecretsVersion time.Time
	// ImageName is the image Gantry manages that the function runs ("@name", its route's
	// Image), "" for a route that names a Docker reference: Image is then the digest
	// (Docker image ID, "sha256:...") the name resolved to for this call, and ImageVersion
	// when that digest was built. Hot containers of an older ImageVersion are not reused,
	// and DrainImage rolls those of a name to its new digest.
	ImageName    string
	ImageVersion time.Time
}

// Config is the function's configuration: its Env layers merged.
func (f *Function) Config() map[string]string {
	n := 0
	for _, l := range f.Env {
		n += len(l)
	}
	env := make(map[string]string, n+10) // and the FN_ variables functionEnv adds, and their IronFunctions names
	for _, l := range f.Env {
		maps.Copy(env, l)
	}
	return env
}

// name is how logs and pools name a function: "app/path" without the double slash.
func (f *Function) name() string { return f.App + f.Path }

// Call is one function call on its way to a container.
type Call struct {
	ID       string
	Function Function
	Method   string
	URL      string // the request's path under /r/{app}, with its query: "/hello/world?x=1"
	Header   http.Header
	Params   map[string]string // the values of the route's path parameters
	Body     []byte
	Deadline time.Time
	// Done, if set, is called once with the outcome, before a hot container is released
	// to the next call (so that LateLog always comes after it).
	Done func(*Result, error)
	// LateLog, if set, receives what a hot container wrote after the call answered and
	// before its next call: Docker delivers stdout and stderr from separate pipes, so the
	// tail of a call's stderr may arrive after its response.
	LateLog func(log []byte, truncated bool)

	doneOnce sync.Once
}

// finish hands the outcome to Done, once.
func (c *Call) finish(res *Result, err error) {
	c.doneOnce.Do(func() {
		if c.Done != nil {
			c.Done(res, err)
		}
	})
}

// Result is what the function answered.
type Result struct {
	Status          int // HTTP status: the function's own for hot formats, 200 for the default format
	Header          http.Header
	Body            []byte
	OutputTruncated bool
	Log             []byte
	LogTruncated    bool
	ExitCode        *int
	Ran             bool // a container ran the call (not so when it was busy, or Docker failed)
	Hot             bool // served by a hot container
	// Image is the image of the container that ran the call (when Ran): the call's
	// Function.Image, or for a hot call that of the pool that served it, which may be a
	// newer digest of the function's ImageName than the one the call was resolved with.
	Image string
}
