package gateway

import (
	"errors"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/store"
)

// call is one request on its way through an API's pipeline.
type call struct {
	w      statusWriter
	r      *http.Request
	https  bool         // it came in on the HTTPS listener
	api    *api         // the matched API
	params store.Params // bound by the API's URI, decoded
	path   string       // the path below the URI as the client escaped it: what the function sees
	user   string       // the authenticated client, if any
}

// handler is one step of the pipeline; a middleware wraps the steps after it.
type handler func(c *call)
type middleware func(next handler) handler

// chain runs steps in order, then last.
func chain(last handler, steps ...middleware) handler {
	h := last
	for i := len(steps) - 1; i >= 0; i-- {
		h = steps[i](h)
	}
	return h
}

// pipeline is an API's pipeline after matching: protocol, CORS, authentication, rate
// limit, then the call (with the forwarding headers). Steps an API does not need are left out.
func (g *Gateway) pipeline(a *api) handler {
	steps := []middleware{g.checkProtocol, withCORS(a.cors)}
	switch {
	case a.users != nil:
		steps = append(steps, g.authenticate(g.basicUser))
	case a.oidc != nil:
		steps = append(steps, g.authenticate(g.oidcUser))
	}
	if a.limit != nil {
		steps = append(steps, g.limitRate)
	}
	return chain(g.invoke, steps...)
}

// serve matches a request to an API and runs its pipeline, then records the outcome. A
// path that is not canonical is refused before matching; a request over TLS whose host the
// connection's certificate was not chosen for is refused after it (421).
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, https bool) {
	start := time.Now()
	c := &call{w: statusWriter{ResponseWriter: w}, r: r, https: https}
	host := hostname(r.Host)
	tb := g.table.Load()
	if path, ok := requestPath(r); !ok {
		g.fail(c, ErrBadPath)
	} else if e, n := tb.match(host, matchMethod(r), path); r.TLS != nil && tb.misdirected(r.TLS.ServerName, host, e) {
		g.fail(c, ErrMisdirected)
	} else if e != nil {
		c.api, c.params, c.path = e.api, e.uri.bind(path), below(path, n)
		e.api.serve(c)
	} else {
		g.fail(c, ErrNoAPI)
	}
	g.observe(c, host, time.Since(start))
}

// fail answers c with err through the one error mapping.
func (g *Gateway) fail(c *call, err error) { g.o.writeError(&c.w, err) }

// checkProtocol keeps each API on its protocols: an https request to an API without https
// finds no API; a plain one to an https-only API is redirected (GET, HEAD) or refused.
func (g *Gateway) checkProtocol(next handler) handler {
	return func(c *call) {
		a := c.api
		switch {
		case c.https && !a.https:
			g.fail(c, ErrNoAPI)
		case !c.https && a.httpsOnly && (c.r.Method == http.MethodGet || c.r.Method == http.MethodHead):
			g.redirect(c)
		case !c.https && (a.httpsOnly || !a.http):
			g.fail(c, ErrHTTPSRequired)
		default:
			next(c)
		}
	}
}

// redirect sends a plain request to the same host, path and query over https (308).
func (g *Gateway) redirect(c *call) {
	host := hostname(c.r.Host)
	if strings.IndexByte(host, ':') >= 0 { // IPv6
		host = "[" + host + "]"
	}
	if p := g.o.HTTPSPort; p != 0 && p != 443 {
		host += ":" + strconv.Itoa(p)
	}
	c.w.Header().Set("Location", "https://"+host+c.r.URL.RequestURI())
	c.w.WriteHeader(http.StatusPermanentRedirect)
}

// denyCORS answers the preflights of APIs without a CORS policy: successfully, with no
// CORS headers, so the browser does not send the request.
var denyCORS = cors.New(cors.Options{AllowOriginFunc: func(string) bool { return false }})

// corsHeaders are the request headers every CORS policy allows, as the spec says.
var corsHeaders = []string{"Authorization", "Content-Type"}

// newCORS is the CORS policy of an API; nil without origins. Its methods default to the
// API's methods, else to rs/cors' default (GET, POST, HEAD); its headers are corsHeaders
// and the API's.
func newCORS(s *store.API) *cors.Cors {
	if len(s.CORS.Origins) == 0 {
		return nil
	}
	methods := s.CORS.Methods
	if len(methods) == 0 {
		methods = s.Methods
	}
	return cors.New(cors.Options{AllowedOrigins: s.CORS.Origins, AllowedMethods: methods,
		AllowedHeaders: slices.Concat(corsHeaders, s.CORS.Headers)})
}

// withCORS answers preflights (always successfully, without credentials or the function)
// and adds the CORS headers of the policy p to the other requests.
func withCORS(p *cors.Cors) middleware {
	return func(next handler) handler {
		return func(c *call) {
			switch {
			case isPreflight(c.r) && p == nil:
				denyCORS.HandlerFunc(&c.w, c.r)
			case isPreflight(c.r):
				p.HandlerFunc(&c.w, c.r)
			case p != nil:
				p.HandlerFunc(&c.w, c.r)
				next(c)
			default:
				next(c)
			}
		}
	}
}

// authenticate runs a credential check; the gateway's credential never reaches the function.
func (g *Gateway) authenticate(check func(c *call) (string, error)) middleware {
	return func(next handler) handler {
		return func(c *call) {
			user, err := check(c)
			if err != nil {
				g.fail(c, err)
				return
			}
			c.user = user
			c.r.Header.Del("Authorization")
			next(c)
		}
	}
}

// invoke runs the API's function through the invocation service, if it belongs to the
// API's owner; a function that does not (or does not exist) is reported as missing. The
// call is read (its body at most the API's max_body_bytes, and never more than the
// server's bound), resolved, admitted here (the route's auth, as on /r/), then run (at
// most the API's timeout) and answered. The function sees the path below the URI as the
// client escaped it (RawPath), and the request's headers as forwarded leaves them.
func (g *Gateway) invoke(c *call) {
	a := c.api
	if owner, err := g.o.Store.AppOwner(a.app); err != nil || a.owner == "" || owner != a.owner {
		g.fail(c, ErrFunctionMissing)
		return
	}
	forwarded(c)
	fn, err := g.o.Calls.Prepare(&c.w, c.r, invoke.Request{
		App: a.app, Route: a.route, Owner: a.owner, Params: c.params, Path: unescape(c.path), RawPath: c.path,
		Query: c.r.URL.RawQuery, Header: c.r.Header,
	}, invoke.Limits{MaxBody: a.maxBody, Timeout: a.timeout})
	if err == nil {
		err = g.admit.Admit(c.r.Context(), fn)
	}
	if errors.Is(err, store.ErrNotFound) {
		// The gateway's callers are not told the names behind an API; its owner finds them in the log.
		g.log.Info("gateway call of a missing function", "app", a.app, "route", a.route)
		err = ErrFunctionMissing
	}
	if err != nil {
		g.fail(c, err)
		return
	}
	g.o.Calls.Serve(&c.w, c.r, fn)
}

// forwarded makes the request's headers fit to forward: no header a client may not choose
// (Gantry-*: the call's type, priority, params), and the gateway's own account of where the
// request came from. The gateway is the edge: client-sent forwarding headers are replaced.
func forwarded(c *call) {
	h := c.r.Header
	maps.DeleteFunc(h, func(k string, _ []string) bool { return invoke.IsGantryHeader(k) })
	h.Del("Forwarded")
	h.Del("X-Real-Ip")
	h.Set("X-Forwarded-For", clientIP(c.r))
	h.Set("X-Forwarded-Host", c.r.Host)
	proto := "http"
	if c.https {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
}

// clientIP is the address the request came from (proxy headers are not trusted).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientID is the client the per-client limits (failed passwords, bcrypt turns, per-client
// rate limits) know a request by: an IPv4 address, or an IPv6 address's /64. A host is
// usually given a whole /64, so keyed by its addresses it would have 2^64 budgets and
// could churn the limiters' tables; an IPv4 address mapped into IPv6 is the IPv4 client.
func clientID(r *http.Request) string {
	host := clientIP(r)
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	prefix, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return host
	}
	return prefix.String()
}

// statusWriter remembers the status of the response it writes.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streamed answers through.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
