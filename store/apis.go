package store

import (
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// API authentication kinds.
const (
	APIAuthPublic = "public"
	APIAuthBasic  = "basic"
	APIAuthOIDC   = "oidc"
)

// Gateway protocols and rate-limit scopes.
const (
	ProtocolHTTP  = "http"
	ProtocolHTTPS = "https"
	RatePerAPI    = "api"
	RatePerClient = "client"
)

// API bounds (mirrored in swagger/swagger.yml).
const (
	DefaultAPIMaxBody = 1 << 20
	MaxAPIMaxBody     = 100 << 20
	// MaxAPIUsers bounds an API's basic users: each password sent costs a bcrypt hash.
	MaxAPIUsers = 20
	maxAPIHosts = 64
	maxAPIURIs  = 64
)

// API exposes one function (an app's route) on the gateway, on hosts and paths of its own.
type API struct {
	Name  string `json:"name"`
	Owner string `json:"owner,omitempty"`
	// The function: a route of an app, by its registered path. It may not exist (yet).
	App   string `json:"app"`
	Route string `json:"route"`

	Hosts     []string `json:"hosts,omitempty"`   // exact, or "*.example.com"; none: any host
	Methods   []string `json:"methods,omitempty"` // none: any
	URIs      []string `json:"uris"`              // prefixes or ":param" patterns
	Protocols []string `json:"protocols"`         // http, https
	HTTPSOnly bool     `json:"https_only,omitempty"`

	TLSCert string `json:"tls_cert,omitempty"` // PEM chain
	// TLSKeySecret names the secret that holds the certificate's private key:
	// TLSKeySecretName(Name), of kind SecretKindTLSKey, written before the API that refers
	// to it. The store never holds a new key in clear.
	TLSKeySecret string `json:"tls_key_secret,omitempty"`
	// TLSKey is the private key (PEM) in clear, as records written before keys moved to the
	// secret store hold it: read, never written by Gantry any more, and moved to the secret
	// store at start-up (its one writer is that migration, which clears it).
	TLSKey string `json:"tls_key,omitempty"`

	Auth         string      `json:"auth"` // APIAuthPublic, APIAuthBasic or APIAuthOIDC
	BasicUsers   []BasicUser `json:"basic_users,omitempty"`
	OIDCIssuer   string      `json:"oidc_issuer,omitempty"` // "" : the server's
	OIDCAudience string      `json:"oidc_audience,omitempty"`

	CORS      APICORS    `json:"cors"`
	RateLimit *RateLimit `json:"rate_limit,omitempty"`

	Timeout      int64 `json:"timeout,omitempty"` // seconds; 0: the route's
	MaxBodyBytes int64 `json:"max_body_bytes"`
	Enabled      bool  `json:"enabled"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// BasicUser is a user of basic authentication; only a bcrypt hash of the password is kept.
type BasicUser struct {
	Username string `json:"username"`
	Hash     []byte `json:"hash"`
}

// APICORS is an API's CORS policy; no origins means no CORS.
type APICORS struct {
	Origins []string `json:"origins,omitempty"`
	Methods []string `json:"methods,omitempty"`
	Headers []string `json:"headers,omitempty"`
}

// RateLimit is a token bucket: RPS on average, Burst at once, per API or per client.
type RateLimit struct {
	RPS   float64 `json:"rps"`
	Burst int64   `json:"burst"`
	Per   string  `json:"per"`
}

var (
	hostRE       = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	uriSegmentRE = regexp.MustCompile(`^(:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9._~!$&'()+,;=@-]+)$`)
	apiMethods   = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// ApplyDefaults fills the fields left at their zero value with the documented defaults;
// a new API is enabled and takes the default body limit (the caller sets both).
func (a *API) ApplyDefaults() {
	if len(a.Protocols) == 0 {
		a.Protocols = []string{ProtocolHTTP, ProtocolHTTPS}
	}
	if a.Auth == "" {
		a.Auth = APIAuthPublic
	}
	if a.RateLimit != nil {
		if a.RateLimit.Per == "" {
			a.RateLimit.Per = RatePerAPI
		}
		if a.RateLimit.Burst == 0 {
			a.RateLimit.Burst = max(1, int64(a.RateLimit.RPS))
		}
	}
	for i, h := range a.Hosts {
		a.Hosts[i] = strings.ToLower(strings.TrimSuffix(h, "."))
	}
	for i, m := range a.Methods {
		a.Methods[i] = strings.ToUpper(m)
	}
}

// Validate checks every field of an API whose defaults have been applied.
func (a *API) Validate() error {
	switch {
	case !appNameRE.MatchString(a.Name):
		return Invalid("name", "API name %q must match %s", a.Name, appNameRE)
	case len(a.Owner) > maxOwnerLen:
		return Invalid("owner", "owner is at most %d characters", maxOwnerLen)
	case !appNameRE.MatchString(a.App):
		return Invalid("function.app", "app name %q must match %s", a.App, appNameRE)
	}
	if err := ValidatePath(a.Route); err != nil {
		return Invalid("function.route", "%s", err.(*ValidationError).Message)
	}
	if len(a.Hosts) > maxAPIHosts {
		return Invalid("hosts", "at most %d hosts", maxAPIHosts)
	}
	for _, h := range a.Hosts {
		if len(h) > 253 || !hostRE.MatchString(h) {
			return Invalid("hosts", "%q is not a hostname (a wildcard is only a leading \"*.\")", h)
		}
		if rest, ok := strings.CutPrefix(h, "*."); ok && !strings.Contains(rest, ".") {
			return Invalid("hosts", "wildcard %q is too wide: name a domain below a top-level one (*.example.com)", h)
		}
	}
	for _, m := range a.Methods {
		if !slices.Contains(apiMethods, m) {
			return Invalid("methods", "method %q must be one of %s", m, strings.Join(apiMethods, ", "))
		}
	}
	if len(a.URIs) == 0 || len(a.URIs) > maxAPIURIs {
		return Invalid("uris", "an API needs 1 to %d uris", maxAPIURIs)
	}
	for _, u := range a.URIs {
		if err := validateURI(u); err != nil {
			return err
		}
	}
	for _, p := range a.Protocols {
		if p != ProtocolHTTP && p != ProtocolHTTPS {
			return Invalid("protocols", "protocol %q must be http or https", p)
		}
	}
	switch {
	case a.HTTPSOnly && !slices.Contains(a.Protocols, ProtocolHTTPS):
		return Invalid("https_only", "https_only needs the https protocol")
	case (a.TLSCert == "") != (a.TLSKey == "" && a.TLSKeySecret == ""):
		return Invalid("tls", "a certificate and its key go together")
	case a.TLSKey != "" && a.TLSKeySecret != "":
		return Invalid("tls", "an API's key is either in its record (written before keys moved to the secret store) or in the secret store, not both")
	case a.TLSKeySecret != "" && a.TLSKeySecret != TLSKeySecretName(a.Name):
		return Invalid("tls", "an API's key is the secret %q, not %q", TLSKeySecretName(a.Name), a.TLSKeySecret)
	case a.TLSCert != "" && slices.ContainsFunc(a.Hosts, isIPHost):
		return Invalid("tls", "an API with an IP address host cannot have its own certificate: clients send no server name (SNI) for an IP address, so it is served on the gateway's default certificate")
	case a.Auth != APIAuthPublic && a.Auth != APIAuthBasic && a.Auth != APIAuthOIDC:
		return Invalid("authentication", "authentication %q must be public, basic or oidc", a.Auth)
	case a.OIDCIssuer != "" && !isHTTPURL(a.OIDCIssuer):
		return Invalid("oidc.issuer", "issuer %q must be an absolute http(s) URL", a.OIDCIssuer)
	case a.Auth == APIAuthBasic && len(a.BasicUsers) == 0:
		return Invalid("basic_users", "basic authentication needs at least one user")
	case len(a.BasicUsers) > MaxAPIUsers:
		return Invalid("basic_users", "at most %d users", MaxAPIUsers)
	case a.Timeout < 0 || a.Timeout > MaxTimeout:
		return Invalid("timeout", "timeout must be between 1 and %d seconds (0: the route's)", MaxTimeout)
	case a.MaxBodyBytes < 0 || a.MaxBodyBytes > MaxAPIMaxBody:
		return Invalid("max_body_bytes", "max_body_bytes must be between 0 and %d", MaxAPIMaxBody)
	}
	seen := map[string]bool{}
	for _, u := range a.BasicUsers {
		if u.Username == "" || strings.Contains(u.Username, ":") || seen[u.Username] || len(u.Hash) == 0 {
			return Invalid("basic_users", "user %q: usernames must be unique, without ':', and have a password", u.Username)
		}
		seen[u.Username] = true
	}
	if rl := a.RateLimit; rl != nil {
		switch {
		case rl.RPS <= 0 || rl.RPS > 1e6:
			return Invalid("rate_limit.rps", "rps must be above 0 and at most 1000000")
		case rl.Burst < 1 || rl.Burst > 1e6:
			return Invalid("rate_limit.burst", "burst must be between 1 and 1000000")
		case rl.Per != RatePerAPI && rl.Per != RatePerClient:
			return Invalid("rate_limit.per", "per must be api or client")
		}
	}
	return nil
}

// TLSKeyAPI is the API whose TLS key the secret name holds (the inverse of
// TLSKeySecretName); false for the name of another kind of secret.
func TLSKeyAPI(secret string) (string, bool) {
	api, ok := strings.CutPrefix(secret, TLSKeySecretName(""))
	return api, ok && api != ""
}

// isIPHost tells whether a host is an IP address rather than a name.
func isIPHost(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

func validateURI(u string) error {
	if !strings.HasPrefix(u, "/") || len(u) > maxPathLen {
		return Invalid("uris", "uri %q must start with / and be at most %d characters", u, maxPathLen)
	}
	names := map[string]bool{}
	for _, seg := range splitPath(u) {
		if !uriSegmentRE.MatchString(seg) {
			return Invalid("uris", "uri %q: segment %q is neither a literal nor a :param", u, seg)
		}
		if seg[0] == ':' {
			if names[seg] {
				return Invalid("uris", "uri %q names %s twice", u, seg)
			}
			names[seg] = true
		}
	}
	if u != "/" && strings.HasSuffix(u, "/") || strings.Contains(u, "//") {
		return Invalid("uris", "uri %q has an empty segment or a trailing /", u)
	}
	return nil
}

// overlaps tells whether a and b would answer the same request with the same URI, which
// longest-match cannot decide between: the same host entry (or both for any host), a
// common method and a URI of the same shape.
func (a *API) overlaps(b *API) bool {
	sameHosts := len(a.Hosts) == 0 && len(b.Hosts) == 0 || len(a.Hosts) > 0 && len(b.Hosts) > 0 && anyCommon(a.Hosts, b.Hosts)
	return sameHosts && anyCommon(a.Methods, b.Methods) && anyCommon(uriShapes(a.URIs), uriShapes(b.URIs))
}

// hostClaimedBy returns a host of a that b's hosts equal or cover with a wildcard, or that
// covers one of b's: a name two owners cannot share.
func (a *API) hostClaimedBy(b *API) (string, bool) {
	for _, x := range a.Hosts {
		for _, y := range b.Hosts {
			if covers(x, y) || covers(y, x) {
				return x, true
			}
		}
	}
	return "", false
}

// covers tells whether host pattern p matches every name pattern q matches (or q itself).
func covers(p, q string) bool {
	if p == q {
		return true
	}
	domain, ok := strings.CutPrefix(p, "*.")
	return ok && strings.HasSuffix(q, "."+domain)
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}

// anyCommon: empty lists mean "any", which meets everything.
func anyCommon(x, y []string) bool {
	if len(x) == 0 || len(y) == 0 {
		return true
	}
	for _, v := range x {
		if slices.Contains(y, v) {
			return true
		}
	}
	return false
}

func uriShapes(uris []string) []string {
	out := make([]string, len(uris))
	for i, u := range uris {
		out[i] = RouteShape(u)
	}
	return out
}

// APIConflict tells why a may not be stored beside other, an API stored before it (nil if
// it may). Hostnames belong to one owner, so nobody serves pages in another's origin. For
// the same reason APIs without hosts, which answer any host nobody claims, belong to one
// owner at a time: the first to have one, until it has none left. Two APIs of one owner
// may not answer the same requests either (longest match could not choose). Another
// owner's API is never named. Backends call it, inside the write, with every other API.
func APIConflict(a, other *API) error {
	if other.Name == a.Name {
		return nil
	}
	if other.Owner != a.Owner {
		if len(a.Hosts) == 0 && len(other.Hosts) == 0 {
			return Errorf(ErrConflict, "another owner's APIs answer any host (those without hosts): name the hosts this API answers")
		}
		if host, clash := a.hostClaimedBy(other); clash {
			return Errorf(ErrConflict, "host %q is taken: another owner's API serves it", host)
		}
		if a.overlaps(other) {
			return Errorf(ErrConflict, "another owner's API already answers the same hosts, methods and uris")
		}
		return nil
	}
	if a.overlaps(other) {
		return Errorf(ErrConflict, "API %q already answers the same hosts, methods and uris", other.Name)
	}
	return nil
}

// APIFilter narrows a list of APIs.
type APIFilter struct {
	Owner string
}
