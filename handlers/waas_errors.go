package handlers

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	waasmodels "github.com/gantry-dev/gantry/gen/waas/models"
	"github.com/gantry-dev/gantry/httperr"
)

// fail answers an operation of the /waas surface with err: the one mapping (httperr.From)
// picks the status and headers, writeWaaSError the body.
func (s *WaaS) fail(err error) middleware.Responder {
	e := s.a.httpError(err)
	return middleware.ResponderFunc(func(w http.ResponseWriter, _ runtime.Producer) { writeWaaSError(w, e) })
}

// writeWaaSError answers e in the hpcwaas-api error shape,
// {"errors":[{"id":"not_found","status":404,"title":"Not Found","detail":"..."}]}: the
// status a number, the id the status text in snake case (upstream's ids), the detail the
// message, led by the field at fault when the message does not name it. Its headers
// (Retry-After, Allow, WWW-Authenticate) are kept; a 401 also offers Basic, which this
// surface takes.
func writeWaaSError(w http.ResponseWriter, e *httperr.Error) {
	for k, v := range e.Header {
		w.Header()[k] = v
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `Basic realm="gantry"`)
	}
	w.Header().Set("Content-Type", runtime.JSONMime)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(waasErrors(e))
}

func waasErrors(e *httperr.Error) *waasmodels.Errors {
	title := http.StatusText(e.Status)
	id := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(title, "-", "_"), " ", "_"))
	if title == "" {
		title, id = "Error", "error"
	}
	detail := e.Message
	if e.Fields != "" && !strings.Contains(detail, e.Fields) {
		detail = e.Fields + ": " + detail
	}
	status := int32(e.Status) // #nosec G115 -- an HTTP status
	return &waasmodels.Errors{Errors: []*waasmodels.Error{{ID: &id, Status: &status, Title: &title, Detail: &detail}}}
}
