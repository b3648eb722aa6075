//go:build !linux

package runner

// idleConnClean reports whether the idle connection of a hot container can carry the next
// request. Without a non-blocking peek, only what the reader holds is checked.
func idleConnClean(c *hotContainer) bool { return c.br.Buffered() == 0 }
