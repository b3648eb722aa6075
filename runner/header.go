package runner

import (
	"net/http"
	"strings"
)

// hopHeaders are meaningful only for one connection and never forwarded.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// IsGantryHeader tells whether a request header is one Gantry sets for a function
// (Gantry-*): a caller's own never reaches the function.
func IsGantryHeader(name string) bool {
	return len(name) >= 7 && strings.EqualFold(name[:7], "Gantry-")
}

// ForwardHeader is a copy of h fit to pass on to a function: without the headers of one
// connection (hop-by-hop) and without Gantry-* ones.
func ForwardHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if !IsGantryHeader(k) {
			out[k] = v
		}
	}
	for _, k := range hopHeaders {
		out.Del(k)
	}
	return out
}
