package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// jsonRequest and jsonResponse are the envelopes of the json format, one per line.
type jsonRequest struct {
	CallID       string              `json:"call_id"`
	Method       string              `json:"method"`
	URL          string              `json:"url"`
	Headers      map[string][]string `json:"headers"`
	Params       map[string]string   `json:"params,omitempty"`
	Deadline     string              `json:"deadline"`
	Body         string              `json:"body"`
	BodyEncoding string              `json:"body_encoding,omitempty"`
}

type jsonResponse struct {
	Status       int             `json:"status"`
	Headers      json.RawMessage `json:"headers"` // decoded once its size is checked
	Body         string          `json:"body"`
	BodyEncoding string          `json:"body_encoding"`
}

// callJSON writes the request envelope on the container's stdin and reads one response
// envelope line from its stdout.
func (r *Runner) callJSON(ctx context.Context, c *hotContainer, call *Call) (*Result, error) {
	env := jsonRequest{CallID: call.ID, Method: call.Method, URL: call.URL, Headers: call.Header, Params: call.Params,
		Deadline: call.Deadline.UTC().Format(time.RFC3339Nano)}
	if utf8.Valid(call.Body) {
		env.Body = string(call.Body)
	} else {
		env.Body, env.BodyEncoding = base64.StdEncoding.EncodeToString(call.Body), "base64"
	}
	line, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode request envelope: %w", err)
	}
	if c.stdout.Buffered() > 0 {
		return nil, &FunctionError{Reason: ReasonBadExit, Message: "function broke the json protocol: it wrote to stdout between calls"}
	}
	type answer struct {
		line []byte
		err  error
	}
	done := make(chan answer, 1)
	maxLine := 2*r.opts.MaxOutputBytes + r.opts.MaxResponseHeadBytes // a base64 body plus the head
	go func() {
		if _, err := c.hj.Conn.Write(append(line, '\n')); err != nil {
			done <- answer{err: fmt.Errorf("write request envelope: %w", err)}
			return
		}
		l, err := readLine(c.stdout, maxLine)
		done <- answer{l, err}
	}()
	timer := time.NewTimer(time.Until(call.Deadline))
	defer timer.Stop()
	var a answer
	select {
	case a = <-done:
	case <-timer.C:
		r.kill(c.id) // ends the reader above; the container is replaced
		return nil, errCallTimedOut
	case <-ctx.Done():
		r.kill(c.id)
		return nil, ctx.Err()
	}
	if a.err != nil {
		return nil, a.err
	}
	var out jsonResponse
	if err := json.Unmarshal(a.line, &out); err != nil {
		return nil, &FunctionError{Reason: ReasonBadExit, Message: fmt.Sprintf("function broke the json protocol: invalid response envelope: %v", err)}
	}
	// The headers are decoded only within the head's bounds, as those of the http format.
	if len(out.Headers) > r.opts.MaxResponseHeadBytes {
		return nil, r.headTooLarge()
	}
	var headers map[string][]string
	if len(out.Headers) > 0 {
		if err := json.Unmarshal(out.Headers, &headers); err != nil {
			return nil, &FunctionError{Reason: ReasonBadExit, Message: fmt.Sprintf("function broke the json protocol: invalid headers: %v", err)}
		}
	}
	if size, fields := headSize(headers); size > r.opts.MaxResponseHeadBytes || fields > MaxResponseHeaderFields {
		return nil, r.headTooLarge()
	}
	body := []byte(out.Body)
	if out.BodyEncoding == "base64" {
		if body, err = base64.StdEncoding.DecodeString(out.Body); err != nil {
			return nil, &FunctionError{Reason: ReasonBadExit, Message: "function broke the json protocol: body is not base64"}
		}
	}
	capped := newCappedBuffer(r.opts.MaxOutputBytes)
	_, _ = capped.Write(body)
	if out.Status == 0 {
		out.Status = http.StatusOK
	}
	if out.Status < 200 || out.Status > 599 {
		return nil, &FunctionError{Reason: ReasonBadExit, Message: fmt.Sprintf("function broke the json protocol: status %d", out.Status)}
	}
	return &Result{Status: out.Status, Header: answerHeader(headers), Body: capped.Bytes(), OutputTruncated: capped.truncated}, nil
}

// headSize is the size of headers as a response head carries them ("Name: value\r\n"),
// and their number of fields; a name without values counts as one empty field.
func headSize(h map[string][]string) (size, fields int) {
	for k, vs := range h {
		size, fields = size+len(k)+4, fields+max(len(vs), 1)
		for i, v := range vs {
			size += len(v) + min(i, 1)*(len(k)+4)
		}
	}
	return size, fields
}

// readLine reads up to and without the next '\n', failing on lines longer than max.
func readLine(rd *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := rd.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, &FunctionError{Reason: ReasonBadExit, Message: fmt.Sprintf("function broke the json protocol: response line longer than %d bytes", max)}
		}
		if err == nil {
			return bytes.TrimRight(line, "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("read response envelope: %w", err)
		}
	}
}
