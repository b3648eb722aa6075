package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"

	"github.com/gantry-dev/gantry/auth"
	authops "github.com/gantry-dev/gantry/gen/client/auth"
	"github.com/gantry-dev/gantry/gen/models"
)

func (c *Console) tokenRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"tokens", c.listTokens)
	mux.HandleFunc("GET "+Base+"tokens/new", c.newToken)
	mux.HandleFunc("POST "+Base+"tokens", c.createToken)
	mux.HandleFunc("POST "+Base+"tokens/{id}/revoke", c.revokeToken)
}

type tokensData struct {
	Tokens  []*models.Token
	User    string // the filter (admins)
	Admin   bool
	Current string // the ID of the token of this session
	Pages   pageLinks
}

// tokenScan bounds the API pages read for one page of a user's tokens: the API lists all
// tokens to an admin, and the console filters them by user.
const tokenScan = 20

func (c *Console) listTokens(w http.ResponseWriter, r *http.Request) {
	s := visitor(r)
	data := tokensData{User: r.URL.Query().Get("user"), Admin: s.Role == auth.RoleAdmin, Current: s.TokenID}
	want := int64(50)
	if n := perPage(r); n != nil {
		want = *n
	}
	params := authops.NewListTokensParams().WithCursor(optional(r, "cursor")).WithPerPage(perPage(r))
	next := ""
	for i := 0; ; i++ {
		ok, err := c.api.Auth.ListTokensContext(as(r), params, nil)
		if err != nil {
			if e := errorOf(err); e.Status == http.StatusBadRequest {
				c.page(w, r, e.Status, "tokens", "Tokens", "tokens", data, e)
				return
			}
			c.fail(w, r, err)
			return
		}
		for _, t := range ok.Payload.Tokens {
			if data.User == "" || t.User == data.User {
				data.Tokens = append(data.Tokens, t)
			}
		}
		next = ok.Payload.NextCursor
		if data.User == "" || next == "" || int64(len(data.Tokens)) >= want || i+1 >= tokenScan {
			break
		}
		cursor := next
		params = params.WithCursor(&cursor)
	}
	data.Pages = pager(r, next)
	c.page(w, r, http.StatusOK, "tokens", "Tokens", "tokens", data, nil)
}

// tokenForm is the token form as typed.
type tokenForm struct {
	Name    string
	User    string // admins: whom the token acts as ("" the caller)
	Role    string
	Expires string // a duration (tokenExpiries), "" never
	Roles   []string
	Admin   bool
	Limit   time.Time // a developer's tokens expire with the credential it signed in with at the latest
}

// tokenExpiries are the choices of the expiry select.
var tokenExpiries = []struct{ Value, Label string }{
	{"24h", "in a day"}, {"168h", "in 7 days"}, {"720h", "in 30 days"}, {"2160h", "in 90 days"}, {"8760h", "in a year"}, {"", "never"},
}

func (c *Console) tokenForm(r *http.Request, f tokenForm) tokenForm {
	s := visitor(r)
	f.Admin = s.Role == auth.RoleAdmin
	f.Roles = []string{auth.RoleDeveloper}
	if f.Admin {
		f.Roles = []string{auth.RoleDeveloper, auth.RoleUser, auth.RoleAdmin}
	} else if s.CredentialExpiresAt != nil {
		f.Limit = *s.CredentialExpiresAt
	}
	return f
}

type tokenFormView struct {
	tokenForm
	Expiries any
}

func (c *Console) showTokenForm(w http.ResponseWriter, r *http.Request, status int, f tokenForm, e *apiError) {
	c.page(w, r, status, "token-new", "New token", "tokens", tokenFormView{tokenForm: c.tokenForm(r, f), Expiries: tokenExpiries}, e)
}

func (c *Console) newToken(w http.ResponseWriter, r *http.Request) {
	f := tokenForm{Role: auth.RoleDeveloper, Expires: "720h"}
	if visitor(r).Role != auth.RoleAdmin {
		f.Expires = "" // the credential's expiry at the latest
	}
	c.showTokenForm(w, r, http.StatusOK, f, nil)
}

func (c *Console) createToken(w http.ResponseWriter, r *http.Request) {
	f := tokenForm{
		Name: strings.TrimSpace(r.PostFormValue("name")), User: strings.TrimSpace(r.PostFormValue("user")),
		Role: r.PostFormValue("role"), Expires: r.PostFormValue("expires"),
	}
	m := &models.Token{Name: f.Name, User: f.User, Role: f.Role}
	var e *apiError
	if f.Expires != "" {
		d, err := time.ParseDuration(f.Expires)
		if err != nil || d <= 0 {
			e = &apiError{Status: http.StatusBadRequest, Fields: "token.expires_at", Message: "token.expires_at: choose when the token expires"}
		} else {
			at := strfmt.DateTime(c.now().Add(d).UTC())
			m.ExpiresAt = &at
		}
	}
	var created *models.Token
	if e == nil {
		ok, err := c.api.Auth.CreateTokenContext(as(r), authops.NewCreateTokenParams().WithBody(&models.TokenWrapper{Token: m}), nil)
		if e = errorOf(err); e == nil {
			created = ok.Payload.Token
		}
	}
	if e != nil {
		if e.Status < 500 && e.Status != http.StatusUnauthorized {
			c.showTokenForm(w, r, e.Status, f, e)
			return
		}
		c.fail(w, r, e)
		return
	}
	// The secret is in this response only: never stored, never in a URL or a cookie, and
	// the page is not cached (no-store, as every page).
	w.Header().Set("Pragma", "no-cache")
	c.page(w, r, http.StatusCreated, "token-created", "Token created", "tokens", created, nil)
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := c.api.Auth.RevokeTokenContext(as(r), authops.NewRevokeTokenParams().WithID(id), nil); err != nil {
		c.fail(w, r, err)
		return
	}
	// The token of this session (or the one that made it): the store ended the session too.
	if s, err := c.loadSession(r); err == nil && s == nil {
		c.clearCookie(w, r, sessionCookie)
		c.doneTo(w, r, Base+"login")
		return
	}
	target := Base + "tokens"
	if u := r.PostFormValue("user"); u != "" {
		target += "?user=" + url.QueryEscape(u)
	}
	c.doneTo(w, r, target)
}
