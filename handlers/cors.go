package handlers

import (
	"net/http"
	"slices"

	"github.com/rs/cors"
)

// withCORS lets browsers on the configured origins call the API (a web UI): preflights are
// answered here, before authentication, as browsers send them without credentials. Gantry
// takes bearer tokens, not cookies, so credentials (Access-Control-Allow-Credentials) are
// allowed only for origins listed by name, never with "*", as the Fetch standard requires.
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
		// Credentials are not needed for bearer tokens; allowing them with a wildcard
		// would let any site use a browser's ambient credentials.
		AllowCredentials: !slices.Contains(a.corsOrigins, "*"),
	}).Handler(next)
}
