package runner

import (
	"errors"
	"syscall"
)

// idleConnClean reports whether the idle connection of a hot container can carry the next
// request: nothing unread is waiting on it (a function that wrote past its last answer, or a
// late second answer, would otherwise be read as the next call's), and the function has not
// closed it. It peeks at the socket without blocking or consuming, whatever deadline the
// last call left on the connection. Bytes that arrive after the peek are not seen.
func idleConnClean(c *hotContainer) bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil {
		return true
	}
	clean := false
	var buf [1]byte
	err := c.raw.Control(func(fd uintptr) {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read (EAGAIN) is a clean idle connection; a byte is stray output; no
		// byte and no error is the function's close; any other error, a broken connection.
		clean = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
	})
	return err == nil && clean
}
