package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/models"
)

func (c *Console) appRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"apps", c.listApps)
	mux.HandleFunc("GET "+Base+"apps/new", c.newApp)
	mux.HandleFunc("POST "+Base+"apps", c.createApp)
}

type appsData struct {
	Apps  []*models.App
	Owner string
	Pages pageLinks
}

func (c *Console) listApps(w http.ResponseWriter, r *http.Request) {
	ok, err := c.api.Apps.ListApps(apps.NewListAppsParams().WithContext(as(r)).
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
	config, err := parseConfig(form.Config)
	if err == nil {
		_, err = c.api.Apps.CreateApp(apps.NewCreateAppParams().WithContext(as(r)).
			WithBody(&models.AppWrapper{App: &models.App{Name: form.Name, Config: config}}), nil)
	}
	if err != nil {
		if e := errorOf(err); e.Status < 500 && e.Status != http.StatusUnauthorized {
			c.page(w, r, e.Status, "app-new", "New app", "apps", form, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"apps/"+form.Name, http.StatusSeeOther)
}

// parseConfig reads KEY=VALUE lines (blank lines and # comments skipped) into a config.
func parseConfig(text string) (models.Config, error) {
	config := models.Config{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, &apiError{Status: http.StatusBadRequest, Fields: "config",
				Message: fmt.Sprintf("config line %d is not KEY=VALUE", i+1)}
		}
		config[strings.TrimSpace(k)] = v
	}
	if len(config) == 0 {
		return nil, nil
	}
	return config, nil
}
