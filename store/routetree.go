package store

import "strings"

// Params are the values of a matched route's ":name" and "*name" placeholders.
type Params map[string]string

// routeTree resolves request paths to the routes of one app. Matching walks one node
// per path segment, so it costs O(segments), whatever the number of routes. At every
// segment a literal beats ":param", which beats "*rest" (most specific wins); the walk
// backtracks when a more specific branch dead-ends deeper down.
type routeTree struct {
	root node
}

type node struct {
	static    map[string]*node
	param     *node  // child for a ":name" segment
	paramName string // name of that placeholder
	rest      *Route // route ending in "*name", matching one or more segments
	restName  string
	route     *Route // route that ends at this node
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// insert adds or replaces the route at r.Path, which ValidatePath accepted.
func (t *routeTree) insert(r Route) {
	n := &t.root
	for _, seg := range splitPath(r.Path) {
		switch seg[0] {
		case '*':
			n.rest, n.restName = &r, seg[1:]
			return
		case ':':
			if n.param == nil {
				n.param = &node{}
			}
			n.paramName = seg[1:]
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

// remove deletes the route with exactly this path; empty branches are left for reuse.
func (t *routeTree) remove(path string) {
	n := &t.root
	for _, seg := range splitPath(path) {
		switch seg[0] {
		case '*':
			n.rest, n.restName = nil, ""
			return
		case ':':
			n = n.param
		default:
			n = n.static[seg]
		}
		if n == nil {
			return
		}
	}
	n.route = nil
}

// match finds the most specific route for a request path.
func (t *routeTree) match(path string) (*Route, Params) {
	segs := splitPath(path)
	var params Params
	r := t.root.match(segs, &params)
	return r, params
}

func (n *node) match(segs []string, params *Params) *Route {
	if len(segs) == 0 {
		return n.route
	}
	if child := n.static[segs[0]]; child != nil {
		if r := child.match(segs[1:], params); r != nil {
			return r
		}
	}
	if n.param != nil {
		if r := n.param.match(segs[1:], params); r != nil {
			setParam(params, n.paramName, segs[0])
			return r
		}
	}
	if n.rest != nil {
		setParam(params, n.restName, strings.Join(segs, "/"))
		return n.rest
	}
	return nil
}

func setParam(params *Params, name, value string) {
	if *params == nil {
		*params = Params{}
	}
	(*params)[name] = value
}
