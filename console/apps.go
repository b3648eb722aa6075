package console

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/models"
)

// The app pages:
//
//	GET  /ui/apps                    the list (?owner= filter)
//	GET  /ui/apps/new                the form of a new app
//	POST /ui/apps                    create it
//	GET  /ui/apps/{app}              the app: its config (edit form) and its functions
//	POST /ui/apps/{app}/save         save the config (PATCH of the API)
//	POST /ui/apps/{app}/delete       delete it (409 while it has functions, shown inline)
//
// The function pages of an app are in functions.go.
func (c *Console) appRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"apps", c.listApps)
	mux.HandleFunc("GET "+Base+"apps/new", c.newApp)
	mux.HandleFunc("POST "+Base+"apps", c.createApp)
	mux.HandleFunc("GET "+Base+"apps/{app}", c.showApp)
	mux.HandleFunc("POST "+Base+"apps/{app}/save", c.saveApp)
	mux.HandleFunc("POST "+Base+"apps/{app}/delete", c.deleteApp)
}

type appsData struct {
	Apps  []*models.App
	Owner string
	Pages pageLinks
}

func (c *Console) listApps(w http.ResponseWriter, r *http.Request) {
	ok, err := c.api.Apps.ListAppsContext(as(r), apps.NewListAppsParams().
		WithOwner(optional(r, "owner")).WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest { // a bad filter in the URL
			c.page(w, r, e.Status, "apps", "Apps", "apps", appsData{Owner: r.URL.Query().Get("owner")}, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "apps", "Apps", "apps", appsData{
		Apps: ok.Payload.Apps, Owner: r.URL.Query().Get("owner"), Pages: pager(r, ok.Payload.NextCursor),
	}, nil)
}

type appForm struct {
	Name   string
	Config string // KEY=VALUE lines
}

func (c *Console) newApp(w http.ResponseWriter, r *http.Request) {
	c.page(w, r, http.StatusOK, "app-new", "New app", "apps", appForm{}, nil)
}

func (c *Console) createApp(w http.ResponseWriter, r *http.Request) {
	form := appForm{Name: strings.TrimSpace(r.PostFormValue("name")), Config: r.PostFormValue("config")}
	config, err := parseConfig(form.Config, "app.config")
	if err == nil {
		_, err = c.api.Apps.CreateAppContext(as(r), apps.NewCreateAppParams().
			WithBody(&models.AppWrapper{App: &models.App{Name: form.Name, Config: config}}), nil)
	}
	if err != nil {
		if e := errorOf(err); formError(e) {
			c.page(w, r, e.Status, "app-new", "New app", "apps", form, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"apps/"+pathSegment(form.Name), http.StatusSeeOther)
}

// formError tells whether an error of the API is the user's to correct in the form (shown
// inline, the form kept) rather than a page of its own.
func formError(e *apiError) bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusUnauthorized && e.Status != http.StatusNotFound
}

// appData is the app page.
type appData struct {
	App       *models.App
	Form      appForm // the config form, as typed when it is shown again
	Functions []*models.Route
	Pages     pageLinks
	Deleting  bool // Err is the delete's
	Saved     bool
}

func (c *Console) loadApp(r *http.Request, name string) (*appData, error) {
	got, err := c.api.Apps.GetAppContext(as(r), apps.NewGetAppParams().WithApp(name), nil)
	if err != nil {
		return nil, err
	}
	list, err := c.api.Routes.ListRoutesContext(as(r), routes.NewListRoutesParams().WithApp(name).
		WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
	if err != nil {
		return nil, err
	}
	a := got.Payload.App
	return &appData{App: a, Form: appForm{Name: a.Name, Config: formatConfig(a.Config)},
		Functions: list.Payload.Routes, Pages: pager(r, list.Payload.NextCursor)}, nil
}

func (c *Console) showApp(w http.ResponseWriter, r *http.Request) {
	d, err := c.loadApp(r, r.PathValue("app"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Saved = r.URL.Query().Get("saved") == "1"
	c.page(w, r, http.StatusOK, "app", "App "+d.App.Name, "apps", d, nil)
}

// saveApp writes the config typed in the app page: PATCH merges config keys, so a key the
// user removed is sent as "" (which removes it).
func (c *Console) saveApp(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	typed := r.PostFormValue("config")
	d, err := c.loadApp(r, name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	config, err := parseConfig(typed, "app.config")
	if err == nil {
		_, err = c.api.Apps.PatchAppContext(as(r), apps.NewPatchAppParams().WithApp(name).
			WithBody(&models.AppWrapper{App: &models.App{Name: name, Config: configPatch(d.App.Config, config)}}), nil)
	}
	if err != nil {
		if e := errorOf(err); formError(e) {
			d.Form.Config = typed
			c.page(w, r, e.Status, "app", "App "+name, "apps", d, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"apps/"+pathSegment(name)+"?saved=1", http.StatusSeeOther) //nolint:gosec // G710: a console path, its segment escaped
}

// deleteApp deletes an app. The API refuses (409) while the app has functions: the message
// is shown on the app page (in #delete-result for htmx).
func (c *Console) deleteApp(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	_, err := c.api.Apps.DeleteAppContext(as(r), apps.NewDeleteAppParams().WithApp(name), nil)
	if err != nil {
		e := errorOf(err)
		if !formError(e) {
			c.fail(w, r, err)
			return
		}
		if isHTMX(r) {
			c.fragment(w, r, e.Status, "app", "delete-result", nil, e)
			return
		}
		d, lerr := c.loadApp(r, name)
		if lerr != nil {
			c.fail(w, r, lerr)
			return
		}
		d.Deleting = true
		c.page(w, r, e.Status, "app", "App "+name, "apps", d, e)
		return
	}
	redirect(w, r, Base+"apps")
}

// isHTMX tells whether the request is htmx's (the page stays; a fragment answers).
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// redirect sends the browser to url after a POST: 303, or HX-Redirect for htmx.
func redirect(w http.ResponseWriter, r *http.Request, url string) {
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", url)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}

// parseConfig reads KEY=VALUE lines (blank lines and # comments skipped) into a config; a
// bad line is a 400 naming field.
func parseConfig(text, field string) (models.Config, error) {
	config := models.Config{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, &apiError{Status: http.StatusBadRequest, Fields: field,
				Message: fmt.Sprintf("config line %d is not KEY=VALUE", i+1)}
		}
		config[strings.TrimSpace(k)] = v
	}
	if len(config) == 0 {
		return nil, nil
	}
	return config, nil
}

// formatConfig writes a config as KEY=VALUE lines, sorted.
func formatConfig(config models.Config) string {
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, config[k])
	}
	return b.String()
}

// configPatch is the config of a PATCH that turns old into typed: the keys removed are
// sent as "" (removed by the API). Nil when there is nothing to send.
func configPatch(old, typed models.Config) models.Config {
	out := models.Config{}
	for k := range old {
		if _, ok := typed[k]; !ok {
			out[k] = ""
		}
	}
	for k, v := range typed {
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// pathSegment escapes one segment of a console URL (an app's name).
func pathSegment(s string) string { return url.PathEscape(s) }
