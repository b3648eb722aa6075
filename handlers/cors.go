package handlers

import (
	"net/http"

	"github.com/rs/cors"
)

// withCORS lets browsers on the configured origins call the API (a web UI): preflights are
// answered here, before authentication, as browsers send them without credentials. Gantry
// takes bearer tokens that the UI sets itself, never cookies or other ambient credentials,
// so Access-Control-Allow-Credentials is never sent (the Fetch standard forbids it with "*"
// anyway): a page cannot make a browser spend credentials it holds for Gantry.
func (a *API) withCORS(next http.Handler) http.Handler {
	if len(a.corsOrigins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: a.corsOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Gantry-Invoke-Type", "Gantry-Priority"},
		ExposedHeaders: []string{"Gantry-Call-Id", "Gantry-Route", "Retry-After", "WWW-Authenticate", "Location"},
		MaxAge:         600,
	}).Handler(next)
}
