package console

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/gen/client/apis"
	"github.com/gantry-dev/gantry/gen/models"
)

func (c *Console) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"apis", c.listAPIs)
	mux.HandleFunc("GET "+Base+"apis/new", c.newAPI)
	mux.HandleFunc("POST "+Base+"apis", c.createAPI)
	mux.HandleFunc("GET "+Base+"apis/{api}", c.showAPI)
	mux.HandleFunc("GET "+Base+"apis/{api}/edit", c.editAPI)
	mux.HandleFunc("POST "+Base+"apis/{api}", c.saveAPI)
	mux.HandleFunc("POST "+Base+"apis/{api}/delete", c.deleteAPI)
}

type apisData struct {
	APIs  []*models.API
	Owner string
	Pages pageLinks
}

func (c *Console) listAPIs(w http.ResponseWriter, r *http.Request) {
	ok, err := c.api.Apis.ListApisContext(as(r), apis.NewListApisParams().
		WithOwner(optional(r, "owner")).WithCursor(optional(r, "cursor")).WithPerPage(perPage(r)), nil)
	if err != nil {
		if e := errorOf(err); e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden { // a bad filter in the URL
			c.page(w, r, e.Status, "apis", "APIs", "apis", apisData{Owner: r.URL.Query().Get("owner")}, e)
			return
		}
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "apis", "APIs", "apis", apisData{
		APIs: ok.Payload.Apis, Owner: r.URL.Query().Get("owner"), Pages: pager(r, ok.Payload.NextCursor),
	}, nil)
}

// apiForm is the API form as typed: lists one item a line (methods and protocols also
// separated by spaces or commas), numbers as text.
type apiForm struct {
	Edit         bool // an existing API: the name is fixed
	Name         string
	Hosts        string
	Paths        string
	Methods      string
	App          string
	Route        string
	Auth         string // public, basic, oidc
	BasicUsers   string // user:password lines; a user without a password keeps its own (edit)
	OIDCIssuer   string
	OIDCAudience string
	Protocols    string // "" both, "http", "https"
	HTTPSOnly    bool
	Enabled      bool
	Timeout      string // seconds
	MaxBody      string // bytes
	RPS          string
	Burst        string
	Per          string // api, client
	CORSOrigins  string
}

func readAPIForm(r *http.Request) apiForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return apiForm{
		Name: v("name"), Hosts: v("hosts"), Paths: v("paths"), Methods: v("methods"), App: v("app"), Route: v("route"),
		Auth: v("auth"), BasicUsers: v("basic_users"), OIDCIssuer: v("oidc_issuer"), OIDCAudience: v("oidc_audience"),
		Protocols: v("protocols"), HTTPSOnly: r.PostFormValue("https_only") != "", Enabled: r.PostFormValue("enabled") != "",
		Timeout: v("timeout"), MaxBody: v("max_body_bytes"), RPS: v("rps"), Burst: v("burst"), Per: v("per"),
		CORSOrigins: v("cors_origins"),
	}
}

// formOfAPI fills the edit form with an API (passwords are never returned: the users only).
func formOfAPI(a *models.API) apiForm {
	f := apiForm{
		Edit: true, Name: a.Name, Hosts: strings.Join(a.Hosts, "\n"), Paths: strings.Join(a.Uris, "\n"),
		Methods: strings.Join(a.Methods, " "), Auth: a.Authentication, HTTPSOnly: a.HTTPSOnly != nil && *a.HTTPSOnly,
		Enabled: a.Enabled == nil || *a.Enabled,
	}
	if a.Function != nil {
		f.App, f.Route = strOf(a.Function.App), strOf(a.Function.Route)
	}
	var users []string
	for _, u := range a.BasicUsers {
		if u != nil {
			users = append(users, strOf(u.Username))
		}
	}
	f.BasicUsers = strings.Join(users, "\n")
	if a.Oidc != nil {
		f.OIDCIssuer, f.OIDCAudience = a.Oidc.Issuer, a.Oidc.Audience
	}
	if len(a.Protocols) == 1 {
		f.Protocols = a.Protocols[0]
	}
	if a.Timeout != nil {
		f.Timeout = strconv.FormatInt(*a.Timeout, 10)
	}
	if a.MaxBodyBytes != nil {
		f.MaxBody = strconv.FormatInt(*a.MaxBodyBytes, 10)
	}
	if rl := a.RateLimit; rl != nil && rl.Rps != nil {
		f.RPS = strconv.FormatFloat(*rl.Rps, 'f', -1, 64)
		if rl.Burst > 0 {
			f.Burst = strconv.FormatInt(rl.Burst, 10)
		}
		f.Per = rl.Per
	}
	if a.Cors != nil {
		f.CORSOrigins = strings.Join(a.Cors.Origins, "\n")
	}
	return f
}

func strOf(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// apiLines splits a list typed one item a line (or separated by sep characters).
func apiLines(s, sep string) []string {
	var out []string
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || strings.ContainsRune(sep, r) }) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// model is the API the form describes. On edit, every list is sent (empty clears it), and
// the CORS methods and headers of cur are kept (the form has the origins only).
func (f apiForm) model(cur *models.API) (*models.API, *apiError) {
	edit := cur != nil
	list := func(s, sep string) []string {
		l := apiLines(s, sep)
		if l == nil && edit {
			return []string{}
		}
		return l
	}
	bad := func(field, msg string) *apiError {
		return &apiError{Status: http.StatusBadRequest, Fields: field, Message: field + " " + msg}
	}
	m := &models.API{
		Hosts: list(f.Hosts, ""), Uris: list(f.Paths, ""), Methods: list(strings.ToUpper(f.Methods), " ,"),
		Authentication: f.Auth,
	}
	if !edit {
		m.Name = f.Name
	}
	if f.App != "" || f.Route != "" {
		app, route := f.App, f.Route
		m.Function = &models.APIFunction{App: &app, Route: &route}
	}
	switch f.Protocols {
	case "":
		if edit {
			m.Protocols = []string{"http", "https"}
		}
	default:
		m.Protocols = []string{f.Protocols}
	}
	httpsOnly, enabled := f.HTTPSOnly, f.Enabled
	m.HTTPSOnly, m.Enabled = &httpsOnly, &enabled
	if f.Auth == "basic" || f.BasicUsers != "" || edit {
		m.BasicUsers = []*models.APIBasicUser{}
		for _, l := range apiLines(f.BasicUsers, "") {
			name, password, _ := strings.Cut(l, ":")
			name = strings.TrimSpace(name)
			m.BasicUsers = append(m.BasicUsers, &models.APIBasicUser{Username: &name, Password: password})
		}
		if !edit && len(m.BasicUsers) == 0 {
			m.BasicUsers = nil
		}
	}
	if f.OIDCIssuer != "" || f.OIDCAudience != "" {
		m.Oidc = &models.APIOIDC{Issuer: f.OIDCIssuer, Audience: f.OIDCAudience}
	}
	if f.Timeout != "" {
		n, err := strconv.ParseInt(f.Timeout, 10, 64)
		if err != nil {
			return nil, bad("api.timeout", "is a number of seconds")
		}
		m.Timeout = &n
	}
	if f.MaxBody != "" {
		n, err := strconv.ParseInt(f.MaxBody, 10, 64)
		if err != nil {
			return nil, bad("api.max_body_bytes", "is a number of bytes")
		}
		m.MaxBodyBytes = &n
	}
	switch {
	case f.RPS != "":
		rps, err := strconv.ParseFloat(f.RPS, 64)
		if err != nil {
			return nil, bad("api.rate_limit.rps", "is a number of requests per second")
		}
		m.RateLimit = &models.APIRateLimit{Rps: &rps, Per: f.Per}
		if f.Burst != "" {
			if m.RateLimit.Burst, err = strconv.ParseInt(f.Burst, 10, 64); err != nil {
				return nil, bad("api.rate_limit.burst", "is a number of requests")
			}
		}
	case edit && cur.RateLimit != nil: // the limit removed
		zero := 0.0
		m.RateLimit = &models.APIRateLimit{Rps: &zero}
	}
	if origins := apiLines(f.CORSOrigins, " ,"); origins != nil || (edit && cur.Cors != nil) {
		m.Cors = &models.APICORS{Origins: origins}
		if edit && cur.Cors != nil {
			m.Cors.Methods, m.Cors.Headers = cur.Cors.Methods, cur.Cors.Headers
		}
		if m.Cors.Origins == nil {
			m.Cors.Origins = []string{}
		}
	}
	return m, nil
}

func (c *Console) newAPI(w http.ResponseWriter, r *http.Request) {
	c.page(w, r, http.StatusOK, "api-form", "New API", "apis", apiForm{Auth: "public", Enabled: true}, nil)
}

func (c *Console) createAPI(w http.ResponseWriter, r *http.Request) {
	form := readAPIForm(r)
	m, e := form.model(nil)
	if e == nil {
		_, err := c.api.Apis.CreateAPIContext(as(r), apis.NewCreateAPIParams().WithBody(&models.APIWrapper{API: m}), nil)
		e = errorOf(err)
	}
	if e != nil {
		if e.Status < 500 && e.Status != http.StatusUnauthorized || e.Status == http.StatusServiceUnavailable {
			c.page(w, r, e.Status, "api-form", "New API", "apis", form, e)
			return
		}
		c.fail(w, r, e)
		return
	}
	http.Redirect(w, r, Base+"apis/"+url.PathEscape(form.Name), http.StatusSeeOther)
}

// apiView is an API's page: the API and how to call it.
type apiView struct {
	API  *models.API
	Call apiCall
}

// apiCall is how to call an API through the gateway.
type apiCall struct {
	GatewayOff bool
	URL        string // the URL to call
	Try        string // a curl command that reaches this server's gateway, when the URL's host is not it
	Note       string
}

// callOf builds the URL to call an API: its first host (the gateway's when it has none, or
// only wildcards) on the gateway's port, and its first path.
func callOf(gateway string, a *models.API) apiCall {
	if gateway == "" {
		return apiCall{GatewayOff: true}
	}
	g, err := url.Parse(gateway)
	if err != nil || g.Host == "" {
		return apiCall{GatewayOff: true}
	}
	p := "/"
	if len(a.Uris) > 0 {
		p = a.Uris[0]
	}
	host, wildcard := "", ""
	for _, h := range a.Hosts {
		if strings.HasPrefix(h, "*.") {
			if wildcard == "" {
				wildcard = h
			}
			continue
		}
		host = h
		break
	}
	var notes []string
	out := apiCall{URL: strings.TrimRight(gateway, "/") + p}
	if host != "" && !strings.EqualFold(host, g.Hostname()) {
		u := *g
		u.Host = host
		if port := g.Port(); port != "" {
			u.Host = net.JoinHostPort(host, port)
		}
		out.URL = strings.TrimRight(u.String(), "/") + p
		out.Try = "curl -H 'Host: " + host + "' " + strings.TrimRight(gateway, "/") + p
	} else if host == "" && wildcard != "" {
		sub := "www" + wildcard[1:]
		out.Try = "curl -H 'Host: " + sub + "' " + strings.TrimRight(gateway, "/") + p
		notes = append(notes, "the API answers any host under "+wildcard[2:])
	}
	if strings.Contains(p, "/:") {
		notes = append(notes, "replace each :name segment of the path with a value")
	}
	if len(a.Protocols) == 1 && a.Protocols[0] != g.Scheme {
		notes = append(notes, "the API answers on "+a.Protocols[0]+" only")
	}
	if a.Enabled != nil && !*a.Enabled {
		notes = append(notes, "the API is disabled: the gateway answers 404 until it is enabled")
	}
	out.Note = strings.Join(notes, "; ")
	return out
}

func (c *Console) getAPI(r *http.Request) (*models.API, error) {
	ok, err := c.api.Apis.GetAPIContext(as(r), apis.NewGetAPIParams().WithAPI(r.PathValue("api")), nil)
	if err != nil {
		return nil, err
	}
	return ok.Payload.API, nil
}

func (c *Console) showAPI(w http.ResponseWriter, r *http.Request) {
	a, err := c.getAPI(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "api", "API "+a.Name, "apis", apiView{API: a, Call: callOf(c.gateway, a)}, nil)
}

func (c *Console) editAPI(w http.ResponseWriter, r *http.Request) {
	a, err := c.getAPI(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "api-form", "Edit API "+a.Name, "apis", formOfAPI(a), nil)
}

func (c *Console) saveAPI(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("api")
	cur, err := c.getAPI(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	form := readAPIForm(r)
	form.Edit, form.Name = true, name
	m, e := form.model(cur)
	if e == nil {
		_, err := c.api.Apis.PatchAPIContext(as(r), apis.NewPatchAPIParams().WithAPI(name).WithBody(&models.APIWrapper{API: m}), nil)
		e = errorOf(err)
	}
	if e != nil {
		if e.Status < 500 && e.Status != http.StatusUnauthorized && e.Status != http.StatusNotFound || e.Status == http.StatusServiceUnavailable {
			c.page(w, r, e.Status, "api-form", "Edit API "+name, "apis", form, e)
			return
		}
		c.fail(w, r, e)
		return
	}
	http.Redirect(w, r, Base+"apis/"+url.PathEscape(name), http.StatusSeeOther)
}

func (c *Console) deleteAPI(w http.ResponseWriter, r *http.Request) {
	_, err := c.api.Apis.DeleteAPIContext(as(r), apis.NewDeleteAPIParams().WithAPI(r.PathValue("api")), nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.doneTo(w, r, Base+"apis")
}

// doneTo ends a state-changing request by going to target: a 303 for a form, a full page
// load for an htmx request (hx-confirm forms).
func (c *Console) doneTo(w http.ResponseWriter, r *http.Request, target string) {
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
