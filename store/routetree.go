package store

import (
	"maps"
	"strings"
	"time"
)

// Params are the values of a matched route's ":name" and "*name" placeholders.
type Params map[string]string

// routeTree resolves request paths to the routes of one app. Matching walks one node
// per path segment, so it costs O(segments), whatever the number of routes. At every
// segment a literal beats ":param", which beats "*rest" (most specific wins); the walk
// backtracks when a more specific branch dead-ends deeper down.
//
// Nodes know the shape of a path, not its placeholder names: "/x/:id" and "/x/:name"
// have the same shape, so only one of them may exist (see shape), and a match binds
// the names of the route it found.
type routeTree struct {
	root       node
	config     map[string]string // the app's config, read by every call of the app
	owner      string            // the app's owner, read by every access check
	appID      string            // the app's ID, recorded on its executions
	appVersion time.Time         // when the app (its config) last changed
}

type node struct {
	static map[string]*node
	param  *node  // child for a ":name" segment
	rest   *Route // route ending in "*name", matching one or more segments
	route  *Route // route that ends at this node
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// RouteShape is a route path without its placeholder names: "/x/:/*". Two routes with the
// same shape would match the same requests, so an app may have only one of them.
func RouteShape(path string) string {
	segs := splitPath(path)
	for i, s := range segs {
		if s[0] == ':' || s[0] == '*' {
			segs[i] = s[:1]
		}
	}
	return "/" + strings.Join(segs, "/")
}

// insert adds or replaces the route of r.Path's shape. The tree keeps its own copy of
// the route's maps, so callers' later changes never reach it.
func (t *routeTree) insert(r Route) {
	r.Config, r.Headers = maps.Clone(r.Config), maps.Clone(r.Headers)
	n := &t.root
	for _, seg := range splitPath(r.Path) {
		switch seg[0] {
		case '*':
			n.rest = &r
			return
		case ':':
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		default:
			if n.static == nil {
				n.static = map[string]*node{}
			}
			child := n.static[seg]
			if child == nil {
				child = &node{}
				n.static[seg] = child
			}
			n = child
		}
	}
	n.route = &r
}

// slot returns where the route of path's shape is kept, or nil if the tree has no such branch.
func (t *routeTree) slot(path string) **Route {
	n := &t.root
	for _, seg := range splitPath(path) {
		switch seg[0] {
		case '*':
			return &n.rest
		case ':':
			n = n.param
		default:
			n = n.static[seg]
		}
		if n == nil {
			return nil
		}
	}
	return &n.route
}

// find returns the route with path's shape (whatever its placeholder names), or nil.
func (t *routeTree) find(path string) *Route {
	if s := t.slot(path); s != nil {
		return *s
	}
	return nil
}

// remove deletes the route with exactly this path; empty branches are left for reuse.
func (t *routeTree) remove(path string) {
	if s := t.slot(path); s != nil && *s != nil && (*s).Path == path {
		*s = nil
	}
}

// match finds the most specific route for a request path and binds its placeholders.
func (t *routeTree) match(path string) (*Route, Params) {
	var visits int
	return t.matchCounting(path, &visits)
}

// matchCounting is match that counts the nodes it visits (tests show it is O(segments)).
func (t *routeTree) matchCounting(path string, visits *int) (*Route, Params) {
	segs := splitPath(path)
	r := t.root.match(segs, visits)
	if r == nil {
		return nil, nil
	}
	return r, bindParams(r.Path, segs)
}

func (n *node) match(segs []string, visits *int) *Route {
	*visits++
	if len(segs) == 0 {
		return n.route
	}
	if child := n.static[segs[0]]; child != nil {
		if r := child.match(segs[1:], visits); r != nil {
			return r
		}
	}
	if n.param != nil {
		if r := n.param.match(segs[1:], visits); r != nil {
			return r
		}
	}
	return n.rest
}

// bindParams reads the placeholder values of a request's segments against the route path.
func bindParams(routePath string, segs []string) Params {
	var params Params
	for i, s := range splitPath(routePath) {
		if s[0] != ':' && s[0] != '*' {
			continue
		}
		if params == nil {
			params = Params{}
		}
		if s[0] == '*' {
			params[s[1:]] = strings.Join(segs[i:], "/")
		} else {
			params[s[1:]] = segs[i]
		}
	}
	return params
}

// count is how many routes end at or under n.
func (n *node) count() int {
	c := 0
	if n.route != nil {
		c++
	}
	if n.rest != nil {
		c++
	}
	if n.param != nil {
		c += n.param.count()
	}
	for _, child := range n.static {
		c += child.count()
	}
	return c
}
