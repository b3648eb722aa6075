package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/gen/client"
	"github.com/gantry-dev/gantry/gen/models"
)

// inProcess is an http.RoundTripper that serves each request with the API's own handler,
// in this process: the console calls the management API (and /r/) as any client does,
// without a network hop. Responses are buffered; the console never reads a stream through it.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = remoteAddr(req.Context()) // the browser's, for the audit log
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)),
		StatusCode:    rec.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

// recorder is the http.ResponseWriter of an in-process request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func (r *recorder) Flush() {}

// newAPIClient returns the generated client of the management API, served by h in process.
func newAPIClient(h http.Handler) *client.Gantry {
	rt := httptransport.New("console", client.DefaultBasePath, []string{"http"})
	rt.Transport = inProcess{h: h}
	return client.New(rt, strfmt.Default)
}

// as returns the context of an API call made for the request's session: the API takes the
// session's identity (checked by the console) in place of credentials.
func as(r *http.Request) context.Context {
	return auth.Vouch(context.WithValue(r.Context(), remoteKey{}, r.RemoteAddr), visitor(r).identity())
}

type remoteKey struct{}

// remoteAddr is the address of the browser a request of the console is made for (as),
// which the API's audit log records; the loopback when there is none.
func remoteAddr(ctx context.Context) string {
	if a, ok := ctx.Value(remoteKey{}).(string); ok && a != "" {
		return a
	}
	return "127.0.0.1:0"
}

// apiError is an error of the API as the console shows it: its status, message and the
// field it names, if any.
type apiError struct {
	Status  int
	Message string
	Fields  string
}

func (e *apiError) Error() string { return e.Message }

// errorOf reads an error of the generated client: an answer the spec declares carries the
// API's Error model; any other status is taken as it is.
func errorOf(err error) *apiError {
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	out := &apiError{Status: http.StatusInternalServerError, Message: "the console could not reach the API: " + err.Error()}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		out.Status = coded.Code()
		out.Message = http.StatusText(out.Status)
	}
	var carrier interface{ GetPayload() *models.Error }
	if errors.As(err, &carrier) {
		if p := carrier.GetPayload(); p != nil && p.Error != nil {
			out.Fields = p.Error.Fields
			if p.Error.Message != nil {
				out.Message = *p.Error.Message
			}
		}
	}
	var rtErr *runtime.APIError
	if errors.As(err, &rtErr) {
		out.Status = rtErr.Code
		out.Message = fmt.Sprintf("the API answered %d %s", rtErr.Code, http.StatusText(rtErr.Code))
		if resp, ok := rtErr.Response.(runtime.ClientResponse); ok {
			out.Message = fmt.Sprintf("the API answered %d %s", resp.Code(), resp.Message())
		}
	}
	return out
}
