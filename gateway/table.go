package gateway

import (
	"crypto/tls"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rs/cors"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// api is an enabled API compiled for serving: everything a request needs, precomputed.
type api struct {
	name, owner string
	app, route  string // the function
	methods     methodSet
	http, https bool // the protocols it is served on
	httpsOnly   bool // plain HTTP GET and HEAD are redirected to https

	users     map[string][]byte // basic: username → bcrypt hash
	oidc      *auth.OIDC        // oidc: the verifier of its issuer and audience
	challenge string            // the WWW-Authenticate challenge of a failed authentication
	cors      *cors.Cors        // nil: no CORS policy (preflights get no CORS headers)
	limit     *limiter          // nil: no rate limit
	timeout   time.Duration     // 0: the route's
	maxBody   int64
	stats     *apiMetrics

	serve handler // the pipeline after matching (pipeline.go)
}

// entry is one URI of an API in a host bucket of the table.
type entry struct {
	api *api
	uri uriPattern
}

// table is the routing table: APIs by host tier, each bucket sorted by URI precedence,
// and the TLS certificates by host. It is never modified once built.
type table struct {
	exact map[string][]*entry // host → entries
	wild  map[string][]*entry // "example.com" (for "*.example.com") → entries
	any   []*entry            // APIs without hosts
	certs certTable
}

// match finds the entry that serves host, method and path, and the length of the path
// prefix its URI matched (see the rules in match.go).
func (t *table) match(host, method, path string) (*entry, int) {
	if e, n := firstMatch(t.exact[host], method, path); e != nil {
		return e, n
	}
	for domain := range wildcardDomains(host) {
		if e, n := firstMatch(t.wild[domain], method, path); e != nil {
			return e, n
		}
	}
	return firstMatch(t.any, method, path)
}

func firstMatch(entries []*entry, method, path string) (*entry, int) {
	for _, e := range entries {
		if !e.api.methods.allows(method) {
			continue
		}
		if n := e.uri.match(path); n >= 0 {
			return e, n
		}
	}
	return nil, -1
}

// build compiles the stored APIs into a table. An API that cannot be compiled (a broken
// certificate, an unusable OIDC setting) is left out and logged; the others are served.
// State kept across builds (rate limiters, OIDC verifiers, metrics) is reused for APIs
// whose settings did not change and dropped for the others. Called under buildMu.
func (g *Gateway) build(apis []store.API) *table {
	t := &table{exact: map[string][]*entry{}, wild: map[string][]*entry{}, certs: newCertTable()}
	limiters := map[string]*limiter{}
	verifiers := map[oidcKey]*auth.OIDC{}
	stored := map[string]bool{}
	for i := range apis {
		s := &apis[i]
		stored[s.Name] = true
		if !s.Enabled {
			continue
		}
		a, cert, err := g.compile(s, limiters, verifiers)
		if err != nil {
			g.log.Error("gateway: API not served", "api", s.Name, "err", err)
			continue
		}
		if s.Owner == "" {
			g.log.Warn("gateway: API has no owner; its calls fail as a missing function", "api", s.Name)
		}
		t.add(a, s)
		if cert != nil && len(s.Hosts) == 0 {
			g.log.Warn("gateway: API has a certificate but no hosts: SNI never chooses it", "api", s.Name)
		}
		if cert != nil {
			for _, h := range s.Hosts {
				if other := t.certs.add(h, cert, s.Name); other != "" {
					g.log.Warn("gateway: two APIs bring a certificate for one host; the first is used",
						"host", h, "used", other, "ignored", s.Name)
				}
			}
		}
	}
	for _, bucket := range t.buckets() {
		slices.SortStableFunc(bucket, func(a, b *entry) int { return comparePatterns(&a.uri, &b.uri) })
	}
	for name := range g.apiStats {
		if !stored[name] {
			g.metrics.forget(name)
			delete(g.apiStats, name)
		}
	}
	g.limiters, g.verifiers = limiters, verifiers
	return t
}

// compile makes the serving form of one enabled API and parses its certificate.
func (g *Gateway) compile(s *store.API, limiters map[string]*limiter, verifiers map[oidcKey]*auth.OIDC) (*api, *tls.Certificate, error) {
	a := &api{
		name: s.Name, owner: s.Owner, app: s.App, route: s.Route,
		methods:   newMethodSet(s.Methods),
		http:      slices.Contains(s.Protocols, store.ProtocolHTTP),
		https:     slices.Contains(s.Protocols, store.ProtocolHTTPS),
		httpsOnly: s.HTTPSOnly,
		timeout:   time.Duration(s.Timeout) * time.Second,
		maxBody:   s.MaxBodyBytes,
		cors:      newCORS(s),
	}
	var cert *tls.Certificate
	if s.TLSCert != "" {
		c, err := tls.X509KeyPair([]byte(s.TLSCert), []byte(s.TLSKey))
		if err != nil {
			return nil, nil, fmt.Errorf("TLS certificate: %w", err)
		}
		cert = &c
	}
	switch s.Auth {
	case store.APIAuthPublic:
	case store.APIAuthBasic:
		a.users = make(map[string][]byte, len(s.BasicUsers))
		for _, u := range s.BasicUsers {
			a.users[u.Username] = u.Hash
		}
		a.challenge = fmt.Sprintf("Basic realm=%q", s.Name)
	case store.APIAuthOIDC:
		v, err := g.verifier(s, verifiers)
		if err != nil {
			return nil, nil, err
		}
		a.oidc = v
		a.challenge = fmt.Sprintf("Bearer realm=%q", s.Name)
	default:
		return nil, nil, fmt.Errorf("unknown authentication %q", s.Auth)
	}
	if s.RateLimit != nil {
		a.limit = g.limiters[s.Name]
		if a.limit == nil || a.limit.cfg != *s.RateLimit {
			a.limit = newLimiter(*s.RateLimit)
		}
		limiters[s.Name] = a.limit
	}
	if a.stats = g.apiStats[s.Name]; a.stats == nil {
		a.stats = g.metrics.forAPI(s.Name)
		g.apiStats[s.Name] = a.stats
	}
	a.serve = g.pipeline(a)
	return a, cert, nil
}

// add files a's URIs under its hosts' tiers.
func (t *table) add(a *api, s *store.API) {
	for _, u := range s.URIs {
		e := &entry{api: a, uri: compileURI(u)}
		if len(s.Hosts) == 0 {
			t.any = append(t.any, e)
		}
		for _, h := range s.Hosts {
			if domain, ok := cutWildcard(h); ok {
				t.wild[domain] = append(t.wild[domain], e)
			} else {
				t.exact[h] = append(t.exact[h], e)
			}
		}
	}
}

func (t *table) buckets() [][]*entry {
	out := slices.Collect(maps.Values(t.exact))
	out = append(out, slices.Collect(maps.Values(t.wild))...)
	return append(out, t.any)
}

// cutWildcard returns the domain of a wildcard host ("*.example.com" → "example.com").
func cutWildcard(host string) (string, bool) {
	if len(host) > 2 && host[0] == '*' && host[1] == '.' {
		return host[2:], true
	}
	return "", false
}
