package main

// This file holds the flags of `gantry apis create` and `gantry apis update`, and how
// the flags given become the API sent.

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/models"
)

// Names of the API flags; create sends the ones given, PATCH exactly the ones given.
const (
	apiFlagFunction     = "function"
	apiFlagHost         = "host"
	apiFlagPath         = "path"
	apiFlagMethod       = "method"
	apiFlagProtocol     = "protocol"
	apiFlagHTTPSOnly    = "https-only"
	apiFlagAuth         = "auth"
	apiFlagUser         = "user"
	apiFlagOIDCIssuer   = "oidc-issuer"
	apiFlagOIDCAudience = "oidc-audience"
	apiFlagCORSOrigin   = "cors-origin"
	apiFlagCORSMethod   = "cors-method"
	apiFlagCORSHeader   = "cors-header"
	apiFlagRate         = "rate"
	apiFlagBurst        = "burst"
	apiFlagRatePer      = "rate-per"
	apiFlagTimeout      = "timeout"
	apiFlagMaxBody      = "max-body"
	apiFlagTLSCert      = "tls-cert"
	apiFlagTLSKey       = "tls-key"

	apiFlagDisabled    = "disabled"      // create
	apiFlagEnable      = "enable"        // update
	apiFlagDisable     = "disable"       // update
	apiFlagNoTLS       = "no-tls"        // update
	apiFlagNoRateLimit = "no-rate-limit" // update
)

// apiFieldFlagNames lists the flags of both `apis create` and `apis update`.
func apiFieldFlagNames() []string {
	return []string{apiFlagFunction, apiFlagHost, apiFlagPath, apiFlagMethod, apiFlagProtocol,
		apiFlagHTTPSOnly, apiFlagAuth, apiFlagUser, apiFlagOIDCIssuer, apiFlagOIDCAudience,
		apiFlagCORSOrigin, apiFlagCORSMethod, apiFlagCORSHeader, apiFlagRate, apiFlagBurst,
		apiFlagRatePer, apiFlagTimeout, apiFlagMaxBody, apiFlagTLSCert, apiFlagTLSKey}
}

// apiUpdateFlagNames lists every flag that makes `apis update` change something.
func apiUpdateFlagNames() []string {
	return append(apiFieldFlagNames(), apiFlagEnable, apiFlagDisable, apiFlagNoTLS, apiFlagNoRateLimit, ownerFlag)
}

// apiFlags are the flags of `apis create` and `apis update`.
type apiFlags struct {
	function     string
	hosts        []string
	paths        []string
	methods      []string
	protocols    []string
	httpsOnly    bool
	auth         string
	users        []string
	oidcIssuer   string
	oidcAudience string
	corsOrigins  []string
	corsMethods  []string
	corsHeaders  []string
	rate         string
	burst        int64
	ratePer      string
	timeout      string
	maxBody      string
	tlsCert      string
	tlsKey       string

	disabled    bool   // create
	enable      bool   // update
	disable     bool   // update
	noTLS       bool   // update
	noRateLimit bool   // update
	owner       string // update
}

// addAPIFlags registers the flags both subcommands share. update says how a
// flag given on `apis update` treats what the API already has.
func addAPIFlags(cmd *cobra.Command, af *apiFlags, update bool) {
	fs := cmd.Flags()
	listNote := ""
	userHelp := "basic-auth user USER:PASSWORD, split at the first colon (repeatable)"
	objNote := ""
	if update {
		listNote = "; the values given replace the API's list, a single '' empties it"
		userHelp = "basic-auth user USER:PASSWORD, or USER alone to keep its password (repeatable); the users given replace the API's users"
		objNote = "; replaces the API's whole setting"
	}
	fs.StringVar(&af.function, apiFlagFunction, "", "function the API calls, APP/ROUTE, e.g. shop/users/:id (split at the first slash)")
	fs.StringArrayVar(&af.hosts, apiFlagHost, nil, "hostname the API answers on, *.example.com for any subdomain; none means any host (repeatable"+listNote+")")
	pathNote := ""
	if update {
		pathNote = "; the paths given replace the API's paths"
	}
	fs.StringArrayVar(&af.paths, apiFlagPath, nil, "path prefix or :param pattern the API answers, e.g. /shop or /users/:id (repeatable"+pathNote+")")
	fs.StringArrayVar(&af.methods, apiFlagMethod, nil, "HTTP method the API answers; none means any (repeatable"+listNote+")")
	fs.StringArrayVar(&af.protocols, apiFlagProtocol, nil, "listener the API answers on, http or https; none means both (repeatable"+listNote+")")
	fs.BoolVar(&af.httpsOnly, apiFlagHTTPSOnly, false, "redirect plain-HTTP GET and HEAD to HTTPS, refuse other plain-HTTP methods (--https-only=false turns it off)")
	fs.StringVar(&af.auth, apiFlagAuth, "", "authentication: public, basic or oidc (server default public)")
	fs.StringArrayVar(&af.users, apiFlagUser, nil, userHelp)
	fs.StringVar(&af.oidcIssuer, apiFlagOIDCIssuer, "", "issuer URL of the bearer tokens (default the server's)"+objNote+" with --"+apiFlagOIDCAudience)
	fs.StringVar(&af.oidcAudience, apiFlagOIDCAudience, "", "audience the bearer tokens must carry (default the server's)"+objNote+" with --"+apiFlagOIDCIssuer)
	fs.StringArrayVar(&af.corsOrigins, apiFlagCORSOrigin, nil, "origin browsers may call the API from, * for any (repeatable"+objNote+" with the other --cors-* flags)")
	fs.StringArrayVar(&af.corsMethods, apiFlagCORSMethod, nil, "method allowed in CORS preflights (repeatable; needs --"+apiFlagCORSOrigin+")")
	fs.StringArrayVar(&af.corsHeaders, apiFlagCORSHeader, nil, "request header allowed in CORS preflights (repeatable; needs --"+apiFlagCORSOrigin+")")
	fs.StringVar(&af.rate, apiFlagRate, "", "rate limit, e.g. 10/s, 600/m or 5/h"+objNote+" with --"+apiFlagBurst+" and --"+apiFlagRatePer)
	fs.Int64Var(&af.burst, apiFlagBurst, 0, "requests allowed at once above the rate (server default max(1, rate per second); needs --"+apiFlagRate+")")
	fs.StringVar(&af.ratePer, apiFlagRatePer, "", "whose budget the rate is: api (one for the API, default) or client (one per caller); needs --"+apiFlagRate)
	fs.StringVar(&af.timeout, apiFlagTimeout, "", "time a call may take at the gateway, whole seconds up to 300s, e.g. 5s (default the route's)")
	fs.StringVar(&af.maxBody, apiFlagMaxBody, "", "largest request body: bytes, or with a KiB or MiB suffix, e.g. 1MiB; 0 allows none (server default 1MiB)")
	fs.StringVar(&af.tlsCert, apiFlagTLSCert, "", "PEM file of the certificate chain served for the API's hosts (with --"+apiFlagTLSKey+")")
	fs.StringVar(&af.tlsKey, apiFlagTLSKey, "", "PEM file of the certificate's private key (with --"+apiFlagTLSCert+")")
}

// toModel builds the API holding the fields whose flag changed(name)
// reports as set, after checking every value: create leaves the rest to
// the server's defaults and PATCH changes only what was asked for.
func (af *apiFlags) toModel(changed func(string) bool, update bool) (*models.API, error) {
	m := &models.API{}
	if changed(apiFlagFunction) {
		fn, err := parseAPIFunction(af.function)
		if err != nil {
			return nil, err
		}
		m.Function = fn
	}
	if err := af.setLists(m, changed); err != nil {
		return nil, err
	}
	if changed(apiFlagPath) && len(m.Uris) == 0 {
		return nil, fmt.Errorf("--%s: an API needs at least one path", apiFlagPath)
	}
	if changed(apiFlagHTTPSOnly) {
		m.HTTPSOnly = &af.httpsOnly
	}
	if err := af.setAuth(m, changed, update); err != nil {
		return nil, err
	}
	if err := af.setCORS(m, changed); err != nil {
		return nil, err
	}
	if err := af.setRateLimit(m, changed); err != nil {
		return nil, err
	}
	if changed(apiFlagTimeout) {
		secs, err := parseAPITimeout(af.timeout)
		if err != nil {
			return nil, err
		}
		m.Timeout = &secs
	}
	if changed(apiFlagMaxBody) {
		n, err := parseByteSize(af.maxBody)
		if err != nil {
			return nil, err
		}
		m.MaxBodyBytes = &n
	}
	if err := af.setTLS(m, changed); err != nil {
		return nil, err
	}
	af.setEnabled(m, update)
	if changed(ownerFlag) {
		if strings.TrimSpace(af.owner) == "" {
			return nil, fmt.Errorf("--%s: empty owner", ownerFlag)
		}
		m.Owner = af.owner
	}
	return m, nil
}

// setLists sets the list fields given: hosts, uris, methods (upper-cased) and protocols.
func (af *apiFlags) setLists(m *models.API, changed func(string) bool) error {
	lists := []struct {
		flag   string
		values []string
		dst    *[]string
		norm   func(string) (string, error)
	}{
		{apiFlagHost, af.hosts, &m.Hosts, func(v string) (string, error) { return strings.ToLower(v), nil }},
		{apiFlagPath, af.paths, &m.Uris, func(v string) (string, error) {
			if !strings.HasPrefix(v, "/") {
				return "", fmt.Errorf("--%s %q: must start with /", apiFlagPath, v)
			}
			return v, nil
		}},
		{apiFlagMethod, af.methods, &m.Methods, enumValue(apiFlagMethod, strings.ToUpper, apiMethods())},
		{apiFlagProtocol, af.protocols, &m.Protocols, enumValue(apiFlagProtocol, strings.ToLower,
			[]string{models.APIProtocolsItemsHTTP, models.APIProtocolsItemsHTTPS})},
	}
	for _, l := range lists {
		if !changed(l.flag) {
			continue
		}
		values, err := listValues(l.flag, l.values, l.norm)
		if err != nil {
			return err
		}
		*l.dst = values
	}
	return nil
}

func apiMethods() []string {
	return []string{models.APIMethodsItemsGET, models.APIMethodsItemsHEAD, models.APIMethodsItemsPOST,
		models.APIMethodsItemsPUT, models.APIMethodsItemsPATCH, models.APIMethodsItemsDELETE, models.APIMethodsItemsOPTIONS}
}

// setAuth sets the authentication, the basic users and the OIDC settings given.
// On create, users and OIDC settings come only with the authentication that
// uses them: an API created public with users would be open to anyone.
func (af *apiFlags) setAuth(m *models.API, changed func(string) bool, update bool) error {
	if changed(apiFlagAuth) {
		v, err := enumValue(apiFlagAuth, strings.ToLower, []string{models.APIAuthenticationPublic,
			models.APIAuthenticationBasic, models.APIAuthenticationOidc})(af.auth)
		if err != nil {
			return err
		}
		m.Authentication = v
	}
	if changed(apiFlagUser) {
		if !update && m.Authentication != models.APIAuthenticationBasic {
			return fmt.Errorf("--%s: users are only checked with --%s %s; add it", apiFlagUser, apiFlagAuth, models.APIAuthenticationBasic)
		}
		users, err := parseBasicUsers(af.users, update)
		if err != nil {
			return err
		}
		m.BasicUsers = users
	}
	if changed(apiFlagOIDCIssuer) || changed(apiFlagOIDCAudience) {
		if !update && m.Authentication != models.APIAuthenticationOidc {
			return fmt.Errorf("--%s and --%s are only used with --%s %s; add it", apiFlagOIDCIssuer, apiFlagOIDCAudience, apiFlagAuth, models.APIAuthenticationOidc)
		}
		m.Oidc = &models.APIOIDC{Issuer: af.oidcIssuer, Audience: af.oidcAudience}
	}
	return nil
}

// setCORS sets the CORS setting when any --cors-* flag is given.
func (af *apiFlags) setCORS(m *models.API, changed func(string) bool) error {
	if !changed(apiFlagCORSOrigin) && !changed(apiFlagCORSMethod) && !changed(apiFlagCORSHeader) {
		return nil
	}
	origins, err := listValues(apiFlagCORSOrigin, af.corsOrigins, nil)
	if err != nil {
		return err
	}
	if len(origins) == 0 && (changed(apiFlagCORSMethod) || changed(apiFlagCORSHeader)) {
		return fmt.Errorf("--%s and --%s need --%s: without origins no CORS headers are sent", apiFlagCORSMethod, apiFlagCORSHeader, apiFlagCORSOrigin)
	}
	methods, err := listValues(apiFlagCORSMethod, af.corsMethods, func(v string) (string, error) { return strings.ToUpper(v), nil })
	if err != nil {
		return err
	}
	headers, err := listValues(apiFlagCORSHeader, af.corsHeaders, nil)
	if err != nil {
		return err
	}
	m.Cors = &models.APICORS{Origins: origins, Methods: methods, Headers: headers}
	return nil
}

// setRateLimit sets the rate limit given, or rps 0 (removed) for --no-rate-limit.
func (af *apiFlags) setRateLimit(m *models.API, changed func(string) bool) error {
	if af.noRateLimit {
		zero := 0.0
		m.RateLimit = &models.APIRateLimit{Rps: &zero}
		return nil
	}
	if !changed(apiFlagRate) {
		if changed(apiFlagBurst) || changed(apiFlagRatePer) {
			return fmt.Errorf("--%s and --%s need --%s", apiFlagBurst, apiFlagRatePer, apiFlagRate)
		}
		return nil
	}
	rps, err := parseRate(af.rate)
	if err != nil {
		return err
	}
	rl := &models.APIRateLimit{Rps: &rps}
	if changed(apiFlagBurst) {
		if af.burst < 1 || af.burst > 1_000_000 {
			return fmt.Errorf("--%s %d: must be between 1 and 1000000", apiFlagBurst, af.burst)
		}
		rl.Burst = af.burst
	}
	if changed(apiFlagRatePer) {
		per, err := enumValue(apiFlagRatePer, strings.ToLower, []string{"api", "client"})(af.ratePer)
		if err != nil {
			return err
		}
		rl.Per = per
	}
	m.RateLimit = rl
	return nil
}

// setTLS reads the certificate and key files, checks that they are a pair,
// and sets them; --no-tls sends an empty object, which removes them.
func (af *apiFlags) setTLS(m *models.API, changed func(string) bool) error {
	if af.noTLS {
		m.TLS = &models.APITLS{}
		return nil
	}
	certGiven, keyGiven := changed(apiFlagTLSCert), changed(apiFlagTLSKey)
	if !certGiven && !keyGiven {
		return nil
	}
	if certGiven != keyGiven {
		return fmt.Errorf("--%s and --%s go together: give both files", apiFlagTLSCert, apiFlagTLSKey)
	}
	cert, err := readPEMFile(apiFlagTLSCert, af.tlsCert)
	if err != nil {
		return err
	}
	key, err := readPEMFile(apiFlagTLSKey, af.tlsKey)
	if err != nil {
		return err
	}
	if _, err := tls.X509KeyPair([]byte(cert), []byte(key)); err != nil {
		return fmt.Errorf("--%s %s and --%s %s are not a certificate and its key: %w", apiFlagTLSCert, af.tlsCert, apiFlagTLSKey, af.tlsKey, err)
	}
	m.TLS = &models.APITLS{Certificate: cert, Key: key}
	return nil
}

// setEnabled sets enabled for create's --disabled or update's --enable/--disable.
func (af *apiFlags) setEnabled(m *models.API, update bool) {
	switch {
	case !update && af.disabled:
		m.Enabled = new(false)
	case update && af.enable:
		m.Enabled = new(true)
	case update && af.disable:
		m.Enabled = new(false)
	}
}

// readPEMFile reads a PEM file named by flag.
func readPEMFile(flag, path string) (string, error) {
	if strings.TrimSpace(path) == "" {
		return "", fmt.Errorf("--%s: empty file name", flag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: read %w", flag, err)
	}
	if !bytes.Contains(b, []byte("-----BEGIN ")) {
		return "", fmt.Errorf("--%s %s: not a PEM file", flag, path)
	}
	return string(b), nil
}
