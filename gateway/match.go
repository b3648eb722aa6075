package gateway

import (
	"cmp"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"github.com/gantry-dev/gantry/store"
)

// Matching rules (compiled by table.go, run once per request without allocating):
//
//   - Path: a request path that is not canonical (an empty segment, "." or "..", once
//     decoded) is refused before matching (ErrBadPath); a trailing "/" is allowed. Segments
//     are cut in the path as the client escaped it and compared decoded, so "%2F" stays
//     inside its segment; the function sees the rest of the escaped path.
//   - Host: an exact host beats a wildcard, and a wildcard beats an API without hosts. A
//     wildcard "*.example.com" matches one or more labels below the domain
//     ("a.example.com", "a.b.example.com") but not "example.com" itself; the most specific
//     wildcard is tried first. When no API of a host tier matches the method and path,
//     the next tier is tried, but a host that some API claims (its most specific bucket) is
//     served by APIs of that bucket's owner only: another owner's wildcard or host-less
//     API never answers it. APIs without hosts are those of one owner (the store refuses a
//     second owner's; of older data, the owner of the oldest keeps them), so that a host
//     nobody claims is not answered by APIs of two owners either.
//   - Method: an API without methods takes any of the spec's (GET HEAD POST PUT PATCH
//     DELETE OPTIONS), no other; one that takes GET takes HEAD too. A CORS preflight
//     (OPTIONS with Access-Control-Request-Method) matches by the method it asks for.
//   - URI: every URI is a prefix at segment boundaries ("/shop" matches "/shop" and
//     "/shop/x" but not "/shopping"); a ":name" segment matches any one non-empty segment
//     and binds it (decoded). The longest URI wins (most segments; at the first difference a
//     literal beats a :param). The function sees the path below the URI ("/" when nothing is
//     left).

// methodSet is a set of HTTP methods as bits; the empty set means any method of the spec.
type methodSet uint8

const (
	mGET methodSet = 1 << iota
	mHEAD
	mPOST
	mPUT
	mPATCH
	mDELETE
	mOPTIONS
)

func methodBit(m string) methodSet {
	switch m {
	case http.MethodGet:
		return mGET
	case http.MethodHead:
		return mHEAD
	case http.MethodPost:
		return mPOST
	case http.MethodPut:
		return mPUT
	case http.MethodPatch:
		return mPATCH
	case http.MethodDelete:
		return mDELETE
	case http.MethodOptions:
		return mOPTIONS
	}
	return 0
}

func newMethodSet(methods []string) methodSet {
	var s methodSet
	for _, m := range methods {
		s |= methodBit(m)
	}
	if s&mGET != 0 {
		s |= mHEAD
	}
	return s
}

func (s methodSet) allows(m string) bool {
	b := methodBit(m)
	return b != 0 && (s == 0 || s&b != 0)
}

// isPreflight tells a CORS preflight from other OPTIONS requests (as rs/cors does).
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// matchMethod is the method a request is matched by.
func matchMethod(r *http.Request) string {
	if isPreflight(r) {
		return r.Header.Get("Access-Control-Request-Method")
	}
	return r.Method
}

// uriPattern is a compiled URI: its segments, literal or ":param".
type uriPattern struct {
	raw  string
	segs []uriSeg
}

type uriSeg struct {
	lit   string // the literal; "" for a param
	param string // the param's name, without ':'
}

// compileURI compiles a stored URI; its literal segments are compared decoded.
func compileURI(u string) uriPattern {
	p := uriPattern{raw: u}
	for seg := range strings.SplitSeq(strings.Trim(u, "/"), "/") {
		switch {
		case seg == "":
		case seg[0] == ':':
			p.segs = append(p.segs, uriSeg{param: seg[1:]})
		default:
			p.segs = append(p.segs, uriSeg{lit: unescape(seg)})
		}
	}
	return p
}

// match returns the length of the prefix of the escaped path that p matches, or -1.
func (p *uriPattern) match(path string) int {
	i := 0 // at the '/' before the next segment
	for _, s := range p.segs {
		if i >= len(path) || path[i] != '/' {
			return -1
		}
		j := segmentEnd(path, i)
		seg := path[i+1 : j]
		if s.param == "" && !segmentIs(seg, s.lit) || s.param != "" && seg == "" {
			return -1
		}
		i = j
	}
	if i < len(path) && path[i] != '/' {
		return -1
	}
	return i
}

// bind returns the params, decoded, of an escaped path that p matches; nil when p has none.
func (p *uriPattern) bind(path string) store.Params {
	var params store.Params
	i := 0
	for _, s := range p.segs {
		j := segmentEnd(path, i)
		if s.param != "" {
			if params == nil {
				params = store.Params{}
			}
			params[s.param] = unescape(path[i+1 : j])
		}
		i = j
	}
	return params
}

// segmentEnd is the end of the segment of path that starts after the '/' at i.
func segmentEnd(path string, i int) int {
	j := strings.IndexByte(path[i+1:], '/')
	if j < 0 {
		return len(path)
	}
	return j + i + 1
}

// segmentIs tells whether an escaped segment is lit once decoded (it allocates only for
// a segment that has escapes).
func segmentIs(seg, lit string) bool {
	if strings.IndexByte(seg, '%') < 0 {
		return seg == lit
	}
	return unescape(seg) == lit
}

// unescape decodes an escaped path or segment; s itself if it is not validly escaped.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	d, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return d
}

// below is what is left of path after a matched prefix of length n, "/" at least.
func below(path string, n int) string {
	if n >= len(path) {
		return "/"
	}
	return path[n:]
}

// requestPath is a request's path as the client escaped it; ok is false when the path,
// decoded, is not canonical.
func requestPath(r *http.Request) (escaped string, ok bool) {
	if r.URL.Path == "" { // an absolute-form target without a path
		return "/", true
	}
	return r.URL.EscapedPath(), canonical(r.URL.Path)
}

// canonical tells whether a decoded path starts with "/" and has no empty segment ("//"),
// "." or ".." segment; a trailing "/" is allowed.
func canonical(path string) bool {
	switch {
	case path == "/":
		return true
	case path == "" || path[0] != '/':
		return false
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(path[1:], "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// comparePatterns orders patterns by precedence: more segments first, then a literal
// before a :param at the first segment where they differ, then by text.
func comparePatterns(a, b *uriPattern) int {
	if c := cmp.Compare(len(b.segs), len(a.segs)); c != 0 {
		return c
	}
	for i := range a.segs {
		al, bl := a.segs[i].param == "", b.segs[i].param == ""
		if al != bl {
			if al {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a.raw, b.raw)
}

// hostname is a request's Host without port, brackets or trailing dot, in lower case.
func hostname(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i:], ']') < 0 {
		h = h[:i]
	}
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// wildcardDomains yields the domains whose wildcard covers host, most specific first:
// "a.b.example.com" → "b.example.com", "example.com", "com".
func wildcardDomains(host string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := strings.IndexByte(host, '.'); i >= 0; {
			host = host[i+1:]
			if !yield(host) {
				return
			}
			i = strings.IndexByte(host, '.')
		}
	}
}
