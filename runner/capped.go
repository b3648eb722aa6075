package runner

import "bytes"

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

func (c *cappedBuffer) Reset() {
	c.buf.Reset()
	c.truncated = false
}
