package runner

import (
	"io"
	"strings"
	"testing"
)

func TestCappedBuffer(t *testing.T) {
	for _, tt := range []struct {
		in        string
		max       int
		want      string
		truncated bool
	}{
		{"", 4, "", false},
		{"abc", 4, "abc", false},
		{"abcd", 4, "abcd", false},
		{"abcde", 4, "abcd", true},
		{strings.Repeat("x", 100000), 70000, strings.Repeat("x", 70000), true},
	} {
		for _, how := range []string{"ReadFrom", "Write"} {
			c := newCappedBuffer(tt.max)
			var n int64
			if how == "ReadFrom" {
				n, _ = io.Copy(c, strings.NewReader(tt.in))
			} else {
				m, _ := io.Copy(struct{ io.Writer }{c}, strings.NewReader(tt.in))
				n = m
			}
			if string(c.Bytes()) != tt.want || c.truncated != tt.truncated || n != int64(len(tt.in)) {
				t.Errorf("%s %d bytes, max %d: kept %d, truncated %v, consumed %d", how, len(tt.in), tt.max, len(c.Bytes()), c.truncated, n)
			}
		}
	}
}
