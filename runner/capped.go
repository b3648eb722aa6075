package runner

import (
	"bytes"
	"errors"
	"io"
)

// cappedBuffer keeps the first max bytes written to it and counts the rest, so a
// function's output never grows Gantry's memory past the cap. Writes never fail: the
// container's stream is always drained.
type cappedBuffer struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func newCappedBuffer(max int) *cappedBuffer { return &cappedBuffer{max: max} }

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room < len(p) {
		c.truncated = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *cappedBuffer) Bytes() []byte { return c.buf.Bytes() }

// ReadFrom reads r to its end into the buffer, keeping the first max bytes and dropping
// the rest (through io.Discard's pooled buffer); io.Copy uses it instead of allocating
// a copy buffer per call.
func (c *cappedBuffer) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for c.buf.Len() < c.max {
		room := c.max - c.buf.Len()
		c.buf.Grow(min(room, 512))
		b := c.buf.AvailableBuffer()
		m, err := r.Read(b[:min(cap(b), room)])
		c.buf.Write(b[:m])
		n += int64(m)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	rest, err := io.Copy(io.Discard, r)
	if rest > 0 {
		c.truncated = true
	}
	return n + rest, err
}
