package store

import (
	"regexp"
	"strings"
	"time"
)

// Route types.
const (
	TypeSync  = "sync"
	TypeAsync = "async"
)

// Route formats: how Gantry talks to the function.
const (
	FormatDefault = "default"
	FormatHTTP    = "http"
	FormatJSON    = "json"
)

// Route auth: who may call a route at /r/.
const (
	AuthNone  = "none"  // anyone who reaches the server
	AuthToken = "token" // callers with a valid Gantry or OIDC token
)

// Networks with a meaning of their own; any other name is a user-defined Docker network.
const (
	NetworkBridge = "bridge"
	NetworkNone   = "none"
)

// Route defaults and bounds (mirrored in swagger/swagger.yml).
const (
	DefaultMemoryMiB      = 128
	MinMemoryMiB          = 8
	MaxMemoryMiB          = 8192
	DefaultTimeout        = 30
	MaxTimeout            = 300
	DefaultIdleTimeout    = 30
	MaxIdleTimeout        = 3600
	DefaultMaxConcurrency = 1
	MaxMaxConcurrency     = 100
	MaxCPUs               = 64
	MaxMaxRetries         = 10
	maxPathLen            = 1024
	maxHeaders            = 64
	maxConfigKeys         = 256
	// MaxConfigBytes caps a config (keys and values): it becomes the environment of the
	// function's containers, where Linux takes no string over 128 KiB.
	MaxConfigBytes = 32 << 10
	maxOwnerLen    = 255
)

// Route binds a path of an app to a Docker image and the limits it runs with.
type Route struct {
	App            string              `json:"app"`
	Path           string              `json:"path"`
	Image          string              `json:"image"`
	Type           string              `json:"type"`
	Format         string              `json:"format"`
	MemoryMiB      int64               `json:"memory"`
	CPUs           float64             `json:"cpus,omitempty"`
	Timeout        int64               `json:"timeout"`      // seconds
	IdleTimeout    int64               `json:"idle_timeout"` // seconds
	MaxConcurrency int64               `json:"max_concurrency"`
	MaxRetries     int64               `json:"max_retries,omitempty"`
	Network        string              `json:"network"`
	Auth           string              `json:"auth,omitempty"` // AuthNone ("" when stored before it existed) or AuthToken
	Headers        map[string][]string `json:"headers,omitempty"`
	Config         map[string]string   `json:"config,omitempty"`
	// Secrets are the secrets the function's containers get as files under
	// /run/secrets/<name>/<key>: function secret names and "ssh:<user>".
	Secrets   []string  `json:"secrets,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ApplyDefaults fills the fields left at their zero value with the documented defaults.
func (r *Route) ApplyDefaults() {
	if r.Type == "" {
		r.Type = TypeSync
	}
	if r.Format == "" {
		r.Format = FormatDefault
	}
	if r.MemoryMiB == 0 {
		r.MemoryMiB = DefaultMemoryMiB
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultTimeout
	}
	if r.IdleTimeout == 0 {
		r.IdleTimeout = DefaultIdleTimeout
	}
	if r.MaxConcurrency == 0 {
		r.MaxConcurrency = DefaultMaxConcurrency
	}
	if r.Network == "" {
		r.Network = NetworkBridge
	}
	if r.Auth == "" {
		r.Auth = AuthNone
	}
}

// Validate checks every field of a route whose defaults have been applied.
func (r *Route) Validate() error {
	if !appNameRE.MatchString(r.App) {
		return Invalid("app", "app name %q must match %s", r.App, appNameRE)
	}
	if err := ValidatePath(r.Path); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(r.Image) == "":
		return Invalid("image", "image is required")
	case len(r.Image) > 512 || strings.ContainsAny(r.Image, " \t\r\n"):
		return Invalid("image", "image %q is not a valid image reference", r.Image)
	case r.Type != TypeSync && r.Type != TypeAsync:
		return Invalid("type", "type %q must be %q or %q", r.Type, TypeSync, TypeAsync)
	case r.Format != FormatDefault && r.Format != FormatHTTP && r.Format != FormatJSON:
		return Invalid("format", "format %q must be one of %q, %q, %q", r.Format, FormatDefault, FormatHTTP, FormatJSON)
	case r.MemoryMiB < MinMemoryMiB || r.MemoryMiB > MaxMemoryMiB:
		return Invalid("memory", "memory must be between %d and %d MiB", MinMemoryMiB, MaxMemoryMiB)
	case r.CPUs < 0 || r.CPUs > MaxCPUs:
		return Invalid("cpus", "cpus must be between 0 and %d", MaxCPUs)
	case r.Timeout < 1 || r.Timeout > MaxTimeout:
		return Invalid("timeout", "timeout must be between 1 and %d seconds", MaxTimeout)
	case r.IdleTimeout < 1 || r.IdleTimeout > MaxIdleTimeout:
		return Invalid("idle_timeout", "idle_timeout must be between 1 and %d seconds", MaxIdleTimeout)
	case r.MaxConcurrency < 1 || r.MaxConcurrency > MaxMaxConcurrency:
		return Invalid("max_concurrency", "max_concurrency must be between 1 and %d", MaxMaxConcurrency)
	case r.MaxRetries < 0 || r.MaxRetries > MaxMaxRetries:
		return Invalid("max_retries", "max_retries must be between 0 and %d", MaxMaxRetries)
	case !networkRE.MatchString(r.Network) || r.Network == "host" || strings.HasPrefix(r.Network, "container:"):
		return Invalid("network", "network %q must be bridge, none or the name of a user-defined network", r.Network)
	case r.Auth != AuthNone && r.Auth != AuthToken:
		return Invalid("auth", "auth %q must be %q or %q", r.Auth, AuthNone, AuthToken)
	case r.Network == NetworkNone && r.Format == FormatHTTP:
		return Invalid("network", "the http format needs a network: Gantry reaches the function over it")
	}
	if err := ValidateSecretRefs("secrets", r.Secrets, false); err != nil {
		return err
	}
	if len(r.Headers) > maxHeaders {
		return Invalid("headers", "at most %d headers", maxHeaders)
	}
	for name, values := range r.Headers {
		if !headerNameRE.MatchString(name) {
			return Invalid("headers", "%q is not a valid header name", name)
		}
		for _, v := range values {
			if strings.ContainsFunc(v, isControl) {
				return Invalid("headers", "the value of header %q has control characters", name)
			}
		}
	}
	return validateConfig("config", r.Config)
}

var (
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	configKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	segmentRE    = regexp.MustCompile(`^[A-Za-z0-9._~!$&'()+,;=@-]+$`)
	paramNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	networkRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$`)
)

// ValidatePath checks a route path: it starts with "/", has no empty segments and no
// trailing "/" (except the root "/"), ":name" segments match one segment and a "*name"
// segment, only last, matches the rest of the path.
func ValidatePath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return Invalid("path", "route path %q must start with /", p)
	}
	if len(p) > maxPathLen {
		return Invalid("path", "route path is longer than %d characters", maxPathLen)
	}
	if p == "/" {
		return nil
	}
	segs := strings.Split(p[1:], "/")
	params := map[string]bool{}
	for i, s := range segs {
		switch {
		case s == "":
			return Invalid("path", "route path %q has an empty segment", p)
		case s == "." || s == "..":
			return Invalid("path", "route path %q: segments . and .. are not allowed", p)
		case s[0] == ':' || s[0] == '*':
			name := s[1:]
			if !paramNameRE.MatchString(name) {
				return Invalid("path", "route path %q: placeholder %q needs a name matching %s", p, s, paramNameRE)
			}
			if s[0] == '*' && i != len(segs)-1 {
				return Invalid("path", "route path %q: %q must be the last segment", p, s)
			}
			if params[name] {
				return Invalid("path", "route path %q uses the placeholder name %q twice", p, name)
			}
			params[name] = true
		case !segmentRE.MatchString(s):
			return Invalid("path", "route path %q: segment %q has characters outside %s", p, s, segmentRE)
		}
	}
	return nil
}
