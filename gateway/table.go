package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

// api is a stored API compiled for serving: everything a request needs, precomputed. An
// API that is disabled or cannot be compiled is in the table too, refusing its requests.
type api struct {
	name, owner string
	created     time.Time // when it was stored: the oldest API of a bucket names its owner
	app, route  string    // the function
	methods     methodSet
	http, https bool // the protocols it is served on
	httpsOnly   bool // plain HTTP GET and HEAD are redirected to https

	users     map[string][]byte // basic: username → bcrypt hash
	oidc      *auth.OIDC        // oidc: the verifier of its issuer and audience
	challenge string            // the WWW-Authenticate challenge of a failed authentication
	cors      *cors.Cors        // nil: no CORS policy (preflights get no CORS headers)
	failures  *clientBuckets    // basic: the failed authentication budgets of its clients
	limit     *limiter          // nil: no rate limit
	timeout   time.Duration     // 0: the route's
	maxBody   int64
	stats     *apiMetrics

	refusal error   // nil: served; else every request gets it (ErrNoAPI, ErrAPIUnavailable)
	serve   handler // the pipeline after matching (pipeline.go)
}

// entry is one URI of an API in a host bucket of the table.
type entry struct {
	api *api
	uri uriPattern
}

// bucket is the entries of one host (or of one wildcard's domain, or of no host), sorted
// by URI precedence, and the owner of their APIs: the owner of the host.
type bucket struct {
	entries []*entry
	owner   string // the owner of its oldest API
	oldest  *api
	// shared: APIs of several owners are in it (which the store refuses). A host bucket then
	// answers with its own APIs only, none of another tier; the bucket of no host keeps
	// only its owner's APIs.
	shared bool
}

func (b *bucket) add(e *entry) {
	if len(b.entries) > 0 && e.api.owner != b.entries[0].api.owner {
		b.shared = true
	}
	if b.oldest == nil || olderThan(e.api, b.oldest) {
		b.oldest, b.owner = e.api, e.api.owner
	}
	b.entries = append(b.entries, e)
}

// olderThan orders APIs by when they were stored, then by name.
func olderThan(a, b *api) bool {
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return a.name < b.name
}

// admits tells whether a, an API of a less specific tier, may answer the host of b.
func (b *bucket) admits(a *api) bool { return !b.shared && a.owner == b.owner }

// table is the routing table: APIs by host tier, each bucket sorted by URI precedence,
// and the TLS certificates by host. It is never modified once built.
type table struct {
	exact map[string]*bucket // host → its bucket
	wild  map[string]*bucket // "example.com" (for "*.example.com") → its bucket
	any   bucket             // APIs without hosts, of one owner (see sort)
	certs certTable
}

func newTable() *table {
	return &table{exact: map[string]*bucket{}, wild: map[string]*bucket{}, certs: newCertTable()}
}

// match finds the entry that serves host, method and (escaped) path, and the length of the
// path prefix its URI matched (see the rules in match.go). The most specific bucket of the
// host claims it: less specific tiers answer it only with APIs of the same owner.
func (t *table) match(host, method, path string) (*entry, int) {
	claim := t.exact[host]
	if claim != nil {
		if e, n := firstMatch(claim.entries, method, path, nil); e != nil {
			return e, n
		}
	}
	for domain := range wildcardDomains(host) {
		b := t.wild[domain]
		if b == nil {
			continue
		}
		gate := claim
		if claim == nil {
			claim = b
		}
		if e, n := firstMatch(b.entries, method, path, gate); e != nil {
			return e, n
		}
	}
	return firstMatch(t.any.entries, method, path, claim)
}

// firstMatch is the first of entries that matches method and path and, with a claim,
// that the claim admits.
func firstMatch(entries []*entry, method, path string, claim *bucket) (*entry, int) {
	for _, e := range entries {
		if claim != nil && !claim.admits(e.api) || !e.api.methods.allows(method) {
			continue
		}
		if n := e.uri.match(path); n >= 0 {
			return e, n
		}
	}
	return nil, -1
}

// add files a's URIs under its hosts' tiers.
func (t *table) add(a *api, s *store.API) {
	for _, u := range s.URIs {
		e := &entry{api: a, uri: compileURI(u)}
		if len(s.Hosts) == 0 {
			t.any.add(e)
		}
		for _, h := range s.Hosts {
			tier, key := t.exact, h
			if domain, ok := strings.CutPrefix(h, "*."); ok {
				tier, key = t.wild, domain
			}
			b := tier[key]
			if b == nil {
				b = &bucket{}
				tier[key] = b
			}
			b.add(e)
		}
	}
}

// sort orders every bucket by URI precedence, once every API is added. APIs without hosts
// answer any host nobody claims: only those of one owner are kept, the owner of the oldest,
// so that no host is answered by APIs of two owners (the store refuses a second owner's).
func (t *table) sort() {
	t.any.entries = slices.DeleteFunc(t.any.entries, func(e *entry) bool { return e.api.owner != t.any.owner })
	for _, entries := range t.buckets() {
		slices.SortStableFunc(entries, func(a, b *entry) int { return comparePatterns(&a.uri, &b.uri) })
	}
}

// buckets are the entries of every bucket, the host-less ones last.
func (t *table) buckets() [][]*entry {
	var out [][]*entry
	for _, b := range slices.Concat(slices.Collect(maps.Values(t.exact)), slices.Collect(maps.Values(t.wild))) {
		out = append(out, b.entries)
	}
	return append(out, t.any.entries)
}

// buildState is what one build keeps of the state that lives across builds: the next
// Gateway.limiters, failures and verifiers.
type buildState struct {
	limiters  map[string]*limiter
	failures  map[string]*clientBuckets
	verifiers map[oidcKey]*auth.OIDC
}

// build compiles the stored APIs into a table, with their certificates made by loadCerts.
// An API that is disabled, or that cannot be compiled (a broken certificate or a missing
// key, an unusable OIDC setting), stays in the table refusing its requests (ErrNoAPI,
// ErrAPIUnavailable), so that they never fall through to a shorter URI or another tier;
// the problem is logged once. State kept across builds (rate and
// failure limiters, OIDC verifiers, metrics) is reused for APIs whose settings did not
// change and dropped for the others. Called under buildMu.
func (g *Gateway) build(apis []store.API, certs map[string]certResult) *table {
	t := newTable()
	st := &buildState{limiters: map[string]*limiter{}, failures: map[string]*clientBuckets{}, verifiers: map[oidcKey]*auth.OIDC{}}
	stored := map[string]bool{}
	for i := range apis {
		s := &apis[i]
		stored[s.Name] = true
		a, cert := g.serving(s, st, certs[s.Name])
		t.add(a, s)
		g.addCert(t, s, cert)
	}
	t.sort()
	g.reportSharedHosts(t)
	g.forgetDeleted(stored)
	g.limiters, g.failures, g.verifiers = st.limiters, st.failures, st.verifiers
	return t
}

// serving is the table's form of a stored API: compiled, or refusing its requests, and its
// certificate (c, made by loadCerts) if it is served.
func (g *Gateway) serving(s *store.API, st *buildState, c certResult) (*api, *tls.Certificate) {
	if !s.Enabled {
		return g.refusing(s, ErrNoAPI), nil
	}
	if s.Owner == "" {
		g.problems.report(slog.LevelWarn, "gateway: API has no owner; its calls fail as a missing function", "api", s.Name)
	}
	err := c.err
	var a *api
	if err == nil {
		a, err = g.compile(s, st)
	}
	if err != nil {
		g.problems.report(slog.LevelError, "gateway: API not served: its requests are refused (503)",
			"api", s.Name, "owner", s.Owner, "err", err)
		return g.refusing(s, ErrAPIUnavailable), nil
	}
	return a, c.cert
}

// refusing is an API that answers every request it matches with err.
func (g *Gateway) refusing(s *store.API, err error) *api {
	a := &api{name: s.Name, owner: s.Owner, created: s.CreatedAt, methods: newMethodSet(s.Methods), stats: g.statsOf(s.Name), refusal: err}
	a.serve = func(c *call) { g.fail(c, err) }
	return a
}

// compile makes the serving form of one enabled API.
func (g *Gateway) compile(s *store.API, st *buildState) (*api, error) {
	a := &api{
		name: s.Name, owner: s.Owner, created: s.CreatedAt, app: s.App, route: s.Route,
		methods:   newMethodSet(s.Methods),
		http:      slices.Contains(s.Protocols, store.ProtocolHTTP),
		https:     slices.Contains(s.Protocols, store.ProtocolHTTPS),
		httpsOnly: s.HTTPSOnly,
		timeout:   time.Duration(s.Timeout) * time.Second,
		maxBody:   s.MaxBodyBytes,
		cors:      newCORS(s),
	}
	switch s.Auth {
	case store.APIAuthPublic:
	case store.APIAuthBasic:
		a.users = make(map[string][]byte, len(s.BasicUsers))
		for _, u := range s.BasicUsers {
			a.users[u.Username] = u.Hash
		}
		a.challenge = fmt.Sprintf("Basic realm=%q", s.Name)
		if a.failures = g.failures[s.Name]; a.failures == nil {
			a.failures = newFailureBuckets()
		}
		st.failures[s.Name] = a.failures
	case store.APIAuthOIDC:
		v, err := g.verifier(s, st.verifiers)
		if err != nil {
			return nil, err
		}
		a.oidc = v
		a.challenge = fmt.Sprintf("Bearer realm=%q", s.Name)
	default:
		return nil, fmt.Errorf("unknown authentication %q", s.Auth)
	}
	if s.RateLimit != nil {
		a.limit = g.limiters[s.Name]
		if a.limit == nil || a.limit.cfg != *s.RateLimit {
			a.limit = newLimiter(*s.RateLimit)
		}
		st.limiters[s.Name] = a.limit
	}
	a.stats = g.statsOf(s.Name)
	a.serve = g.pipeline(a)
	return a, nil
}

// addCert files a served API's certificate under the hosts it is valid for.
func (g *Gateway) addCert(t *table, s *store.API, cert *tls.Certificate) {
	if cert == nil {
		return
	}
	if len(s.Hosts) == 0 {
		g.problems.report(slog.LevelWarn, "gateway: API has a certificate but no hosts: SNI never chooses it", "api", s.Name)
	}
	c := &apiCert{Certificate: cert, owner: s.Owner}
	for _, h := range s.Hosts {
		if isIP(h) { // clients send no SNI for an IP address: the certificate is never chosen for it
			g.problems.report(slog.LevelWarn, "gateway: API has a certificate and an IP address host, which is served on the default certificate",
				"api", s.Name, "host", h)
			continue
		}
		if _, wild := strings.CutPrefix(h, "*."); !wild && !validFor(cert.Leaf, h) {
			g.problems.report(slog.LevelWarn, "gateway: API's certificate is not valid for its host: SNI does not choose it there",
				"api", s.Name, "host", h)
			continue
		}
		t.certs.add(h, c)
	}
}

// reportSharedHosts logs the hosts that APIs of several owners claim, and APIs without
// hosts of several owners.
func (g *Gateway) reportSharedHosts(t *table) {
	if t.any.shared {
		g.problems.report(slog.LevelWarn, "gateway: APIs of several owners have no hosts: only those of the owner of the oldest answer",
			"owner", t.any.owner)
	}
	for _, tier := range []struct {
		buckets map[string]*bucket
		prefix  string
	}{{t.exact, ""}, {t.wild, "*."}} {
		for key, b := range tier.buckets {
			if b.shared {
				g.problems.report(slog.LevelWarn, "gateway: APIs of several owners claim a host: no API of another tier answers it",
					"host", tier.prefix+key)
			}
		}
	}
}

// statsOf returns the metrics of an API, kept across builds.
func (g *Gateway) statsOf(name string) *apiMetrics {
	m := g.apiStats[name]
	if m == nil {
		m = g.metrics.forAPI(name)
		g.apiStats[name] = m
	}
	return m
}

// forgetDeleted drops the metrics of the APIs no longer stored.
func (g *Gateway) forgetDeleted(stored map[string]bool) {
	for name := range g.apiStats {
		if !stored[name] {
			g.metrics.forget(name)
			delete(g.apiStats, name)
		}
	}
}

// problemLog logs the configuration problems that table builds find, each once while it
// lasts: a problem the previous build found already is not logged again.
type problemLog struct {
	log       *slog.Logger
	prev, cur map[string]bool
}

func newProblemLog(log *slog.Logger) *problemLog {
	return &problemLog{log: log, prev: map[string]bool{}, cur: map[string]bool{}}
}

// newBuild starts the problems of a new build.
func (p *problemLog) newBuild() {
	p.prev, p.cur = p.cur, map[string]bool{}
}

// report logs a problem unless the previous build found it too.
func (p *problemLog) report(level slog.Level, msg string, args ...any) {
	key := msg + fmt.Sprintf("%q", args)
	p.cur[key] = true
	if !p.prev[key] {
		p.log.Log(context.Background(), level, msg, args...)
	}
}
