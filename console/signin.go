package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/store"
)

type signInData struct {
	Next string
	OIDC bool // sign-in with the identity source is offered
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if c.auth == nil { // nothing to sign in to
		http.Redirect(w, r, Base, http.StatusSeeOther)
		return
	}
	if s, err := c.loadSession(r); err == nil && s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther) //nolint:gosec // G710: safeNext keeps it a console page
		return
	}
	c.page(w, r, http.StatusOK, "login", "Sign in", "", signInData{Next: safeNext(r.URL.Query().Get("next")), OIDC: c.oidc != nil}, nil)
}

// signIn exchanges a pasted API token for a session: the token never reaches a page or a
// cookie; the session acts as its identity until it expires or is revoked.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if c.auth == nil {
		http.Redirect(w, r, Base, http.StatusSeeOther)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	token := strings.TrimSpace(r.PostFormValue("token"))
	again := func(status int, msg string) {
		c.page(w, r, status, "login", "Sign in", "", signInData{Next: next, OIDC: c.oidc != nil},
			&apiError{Status: status, Message: msg, Fields: "token"})
	}
	if token == "" {
		again(http.StatusBadRequest, "paste an API token (gantry tokens create, or the admin.token file of a new server)")
		return
	}
	id, err := c.auth.Authenticate(r.Context(), "Bearer "+token)
	switch {
	case errors.Is(err, auth.ErrUnavailable):
		again(http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		again(http.StatusUnauthorized, "this token is not valid: "+err.Error())
		return
	}
	if _, err := c.openSession(w, r, id); errors.Is(err, store.ErrNotFound) {
		again(http.StatusUnauthorized, "this token was revoked") // between the check and the session
		return
	} else if err != nil {
		c.serverError(w, r, err)
		return
	}
	c.clearCookie(w, r, csrfCookie)
	http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // G710: safeNext keeps it a console page
}

// signOut ends the session here and on every node.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	s := visitor(r)
	if s.anonymous {
		http.Redirect(w, r, Base, http.StatusSeeOther)
		return
	}
	if err := c.sessions.DeleteSession(r.Context(), s.ID); err != nil {
		c.serverError(w, r, err)
		return
	}
	c.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, Base+"login", http.StatusSeeOther)
}
