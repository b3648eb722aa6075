package main

// This file holds `gantry apis ...`: the APIs that expose functions on the gateway.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	oaerrors "github.com/go-openapi/errors"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/apis"
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

// Limits of the swagger Api definition, checked here for a clear message before sending.
const (
	apiMaxTimeout     = 300
	apiMaxBodyLimit   = 100 << 20
	apiPasswordMinLen = 8
	apiPasswordMaxLen = 72
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

// parseAPIFunction splits APP/ROUTE at the first slash: shop/users/:id is
// app shop, route /users/:id.
func parseAPIFunction(s string) (*models.APIFunction, error) {
	app, rest, ok := strings.Cut(s, "/")
	if !ok || app == "" || rest == "" {
		return nil, fmt.Errorf("--%s %q: want APP/ROUTE, e.g. shop/users/:id for the route /users/:id of app shop", apiFlagFunction, s)
	}
	route := "/" + rest
	return &models.APIFunction{App: &app, Route: &route}, nil
}

// listValues checks and normalizes the values of a repeatable list flag.
// A single empty value stands for the empty list (which PATCH sends as []
// to clear the list); an empty value among others is a mistake.
func listValues(flag string, values []string, norm func(string) (string, error)) ([]string, error) {
	out := []string{}
	if len(values) == 1 && values[0] == "" {
		return out, nil
	}
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("--%s: empty value (give --%s '' alone to empty the list)", flag, flag)
		}
		if norm != nil {
			var err error
			if v, err = norm(v); err != nil {
				return nil, err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// enumValue returns a check that a value, normalized by norm, is one of allowed.
func enumValue(flag string, norm func(string) string, allowed []string) func(string) (string, error) {
	return func(v string) (string, error) {
		n := norm(strings.TrimSpace(v))
		if !slices.Contains(allowed, n) {
			return "", fmt.Errorf("--%s %q: want one of %s", flag, v, strings.Join(allowed, ", "))
		}
		return n, nil
	}
}

// parseBasicUsers parses --user values USER:PASSWORD, split at the first
// colon. On update USER alone keeps the user's current password. A single
// empty value is the empty list. Error messages never show a password.
func parseBasicUsers(values []string, update bool) ([]*models.APIBasicUser, error) {
	users := []*models.APIBasicUser{}
	if len(values) == 1 && values[0] == "" {
		return users, nil
	}
	seen := map[string]bool{}
	for _, v := range values {
		name, password, hasPassword := strings.Cut(v, ":")
		switch {
		case strings.TrimSpace(name) == "":
			return nil, fmt.Errorf("--%s: empty user name; want USER:PASSWORD", apiFlagUser)
		case !hasPassword && !update:
			return nil, fmt.Errorf("--%s %q: want USER:PASSWORD", apiFlagUser, name)
		case hasPassword && password == "":
			return nil, fmt.Errorf("--%s %q: empty password", apiFlagUser, name+":")
		case hasPassword && (utf8.RuneCountInString(password) < apiPasswordMinLen || utf8.RuneCountInString(password) > apiPasswordMaxLen):
			return nil, fmt.Errorf("--%s: the password of %q must be %d to %d characters long", apiFlagUser, name, apiPasswordMinLen, apiPasswordMaxLen)
		case seen[name]:
			return nil, fmt.Errorf("--%s: user %q given more than once", apiFlagUser, name)
		}
		seen[name] = true
		users = append(users, &models.APIBasicUser{Username: &name, Password: password})
	}
	return users, nil
}

// parseRate parses --rate N/s, N/m or N/h into requests per second.
func parseRate(s string) (float64, error) {
	bad := func() (float64, error) {
		return 0, fmt.Errorf("--%s %q: want a number of requests per second, minute or hour: 10/s, 600/m or 5/h", apiFlagRate, s)
	}
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return bad()
	}
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[unit]
	if per == 0 {
		return bad()
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return bad()
	}
	if n <= 0 {
		return 0, fmt.Errorf("--%s %q: must be positive (--%s removes the limit on update)", apiFlagRate, s, apiFlagNoRateLimit)
	}
	rps := n / per
	if rps > 1_000_000 {
		return 0, fmt.Errorf("--%s %q: at most 1000000 requests per second", apiFlagRate, s)
	}
	return rps, nil
}

// parseAPITimeout parses --timeout, a duration in whole seconds (5s, 1m) or
// a plain number of seconds, into seconds.
func parseAPITimeout(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 1 || n > apiMaxTimeout {
			return 0, fmt.Errorf("--%s %q: must be between 1s and %ds", apiFlagTimeout, s, apiMaxTimeout)
		}
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: want a duration such as 5s or 2m", apiFlagTimeout, s)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("--%s %q: must be whole seconds", apiFlagTimeout, s)
	}
	if d < time.Second || d > apiMaxTimeout*time.Second {
		return 0, fmt.Errorf("--%s %q: must be between 1s and %ds", apiFlagTimeout, s, apiMaxTimeout)
	}
	return int64(d / time.Second), nil
}

// parseByteSize parses --max-body: a number of bytes, optionally with a
// B, KiB or MiB suffix.
func parseByteSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"B", 1}} {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(num, "+") {
		return 0, fmt.Errorf("--%s %q: want a number of bytes, optionally with a KiB or MiB suffix: 1048576, 512KiB, 1MiB", apiFlagMaxBody, s)
	}
	if n > apiMaxBodyLimit/mult {
		return 0, fmt.Errorf("--%s %q: at most 100MiB", apiFlagMaxBody, s)
	}
	return n * mult, nil
}

// newAPIsCmd builds `gantry apis` and its subcommands.
func newAPIsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "apis",
		Aliases: []string{"api"},
		Short:   "Manage the APIs that expose functions on the gateway",
	}
	cmd.AddCommand(
		newAPIsListCmd(cf),
		newAPIsCreateCmd(cf),
		newAPIsGetCmd(cf),
		newAPIsUpdateCmd(cf),
		newAPIsDeleteCmd(cf),
	)
	return cmd
}

func newAPIsListCmd(cf *clientFlags) *cobra.Command {
	return newOwnedListCmd(cf, ownedList[*models.API]{
		what:  "APIs",
		fetch: (*session).listAPIsPage,
		show: func(s *session, items []*models.API, next string) error {
			for _, a := range items {
				withoutSecrets(a)
			}
			return s.out.show(&models.ApisWrapper{Apis: items, NextCursor: next}, func(w io.Writer) error {
				return writeTable(w, apiTable(items))
			})
		},
	})
}

// listAPIsPage gets one page of APIs, of owner only unless owner is "".
func (s *session) listAPIsPage(ctx context.Context, owner, cursor string, perPage int64) ([]*models.API, string, error) {
	params := apis.NewListApisParams().WithPerPage(&perPage)
	if owner != "" {
		params.SetOwner(&owner)
	}
	if cursor != "" {
		params.SetCursor(&cursor)
	}
	res, err := s.api.Apis.ListApisContext(ctx, params, nil)
	if err != nil {
		return nil, "", clientError("list APIs", err)
	}
	p := res.GetPayload()
	return p.Apis, p.NextCursor, nil
}

func newAPIsCreateCmd(cf *clientFlags) *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "create NAME --function APP/ROUTE --path URI [flags]",
		Short: "Create an API that exposes a function on the gateway",
		Long: "Create an API that exposes a function on the gateway: requests to one of its hosts\n" +
			"(any host without --host), methods and paths call the route ROUTE of app APP.\n\n" +
			"Example:\n" +
			"  gantry apis create users --function shop/users/:id --host api.example.com --path /users/:id \\\n" +
			"    --method GET --auth basic --user alice:correct-horse --rate 600/m --burst 20 --timeout 5s",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := af.toModel(cmd.Flags().Changed, false)
			if err != nil {
				return err
			}
			m.Name = args[0]
			body := &models.APIWrapper{API: m}
			send, err := sendJSONBody(body)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Apis.CreateAPIContext(cmd.Context(), apis.NewCreateAPIParams().WithBody(body), nil, send)
			if err != nil {
				return clientError(fmt.Sprintf("create API %q", args[0]), err)
			}
			return s.showAPI(res.GetPayload())
		},
	}
	addAPIFlags(cmd, &af, false)
	cmd.Flags().BoolVar(&af.disabled, apiFlagDisabled, false, "create the API disabled: the gateway does not serve it until `apis update --enable`")
	_ = cmd.MarkFlagRequired(apiFlagFunction) // only fails for an unknown flag name
	_ = cmd.MarkFlagRequired(apiFlagPath)
	return cmd
}

func newAPIsGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show an API (never its TLS key or passwords)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Apis.GetAPIContext(cmd.Context(), apis.NewGetAPIParams().WithAPI(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get API %q", args[0]), err)
			}
			return s.showAPI(res.GetPayload())
		},
	}
}

func newAPIsUpdateCmd(cf *clientFlags) *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change the fields of an API given as flags",
		Long: "Change the fields of an API given as flags; the others stay as they are.\n" +
			"A list flag given replaces the API's list (--host '' empties it: any host).\n" +
			"--user USER:PASSWORD ... replaces the users; --user USER alone keeps that user's password.\n" +
			"--oidc-*, --cors-* and --rate/--burst/--rate-per each replace their whole setting.\n" +
			"--no-tls removes the certificate, --no-rate-limit the rate limit.\n" +
			"--owner NEW gives the API to NEW (admins only).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !anyChanged(cmd.Flags().Changed, apiUpdateFlagNames()) {
				return fmt.Errorf("update API %q: nothing to change; give at least one of --%s, --%s, --%s (see --help)",
					args[0], apiFlagHost, apiFlagPath, apiFlagFunction)
			}
			m, err := af.toModel(cmd.Flags().Changed, true)
			if err != nil {
				return err
			}
			body := &models.APIWrapper{API: m}
			send, err := sendJSONBody(body)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			params := apis.NewPatchAPIParams().WithAPI(args[0]).WithBody(body)
			res, err := s.api.Apis.PatchAPIContext(cmd.Context(), params, nil, send)
			if err != nil {
				return clientError(fmt.Sprintf("update API %q", args[0]), err)
			}
			return s.showAPI(res.GetPayload())
		},
	}
	addAPIFlags(cmd, &af, true)
	fs := cmd.Flags()
	fs.BoolVar(&af.enable, apiFlagEnable, false, "serve the API on the gateway again")
	fs.BoolVar(&af.disable, apiFlagDisable, false, "stop serving the API (the gateway answers 404) without deleting it")
	fs.BoolVar(&af.noTLS, apiFlagNoTLS, false, "remove the API's certificate and key")
	fs.BoolVar(&af.noRateLimit, apiFlagNoRateLimit, false, "remove the API's rate limit")
	fs.StringVar(&af.owner, ownerFlag, "", "give the API to this user or service account (admins only)")
	cmd.MarkFlagsMutuallyExclusive(apiFlagEnable, apiFlagDisable)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoTLS, apiFlagTLSCert)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoTLS, apiFlagTLSKey)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoRateLimit, apiFlagRate)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoRateLimit, apiFlagBurst)
	cmd.MarkFlagsMutuallyExclusive(apiFlagNoRateLimit, apiFlagRatePer)
	return cmd
}

func newAPIsDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete an API; the gateway stops serving it within a second",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if _, err := s.api.Apis.DeleteAPIContext(cmd.Context(), apis.NewDeleteAPIParams().WithAPI(args[0]), nil); err != nil {
				return clientError(fmt.Sprintf("delete API %q", args[0]), err)
			}
			return s.out.confirm("API %q deleted", args[0])
		},
	}
}

// sendJSONBody checks body against the spec and returns a client option
// that sends it as JSON without its null members. The generated API model
// has no omitempty on its lists, so the generated client would send
// "hosts":null for every list not given, and "tls":{"dns_names":null} for
// --no-tls; the server reads null as absent, but a PATCH body should carry
// exactly the fields the user gave.
func sendJSONBody(body *models.APIWrapper) (apis.ClientOption, error) {
	if err := body.Validate(strfmt.Default); err != nil {
		return nil, fmt.Errorf("invalid API: %s", strings.Join(validationMessages(err), "; "))
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode API: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep numbers exactly as encoded
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("encode API: %w", err)
	}
	if b, err = json.Marshal(dropNulls(v)); err != nil {
		return nil, fmt.Errorf("encode API: %w", err)
	}
	raw := json.RawMessage(b)
	return func(op *runtime.ClientOperation) {
		params := op.Params
		op.Params = runtime.ClientRequestWriterFunc(func(r runtime.ClientRequest, reg strfmt.Registry) error {
			if err := params.WriteToRequest(r, reg); err != nil {
				return err
			}
			return r.SetBodyParam(raw)
		})
	}, nil
}

// validationMessages lists the messages of a go-openapi validation error,
// which may be a composite of several, each on its own.
func validationMessages(err error) []string {
	var ce *oaerrors.CompositeError
	if !errors.As(err, &ce) {
		return []string{err.Error()}
	}
	var msgs []string
	for _, e := range ce.Errors {
		msgs = append(msgs, validationMessages(e)...)
	}
	if len(msgs) == 0 {
		msgs = append(msgs, ce.Error())
	}
	return msgs
}

// dropNulls removes the null members of the JSON objects in v, at any depth.
func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = dropNulls(e)
		}
	case []any:
		for i, e := range t {
			t[i] = dropNulls(e)
		}
	}
	return v
}

// withoutSecrets clears the TLS key and the passwords of a, should a server send them.
func withoutSecrets(a *models.API) {
	if a == nil {
		return
	}
	if a.TLS != nil {
		a.TLS.Key = ""
	}
	for _, u := range a.BasicUsers {
		if u != nil {
			u.Password = ""
		}
	}
}

// showAPI prints one API: key/value lines, or its {"api":{...}} wrapper;
// never a TLS key or password.
func (s *session) showAPI(w *models.APIWrapper) error {
	if w == nil || w.API == nil {
		return errors.New("the server's answer has no API")
	}
	withoutSecrets(w.API)
	return s.out.show(w, func(out io.Writer) error {
		return writeFields(out, apiFields(w.API))
	})
}

// apiTable is the header and rows of `gantry apis list`.
func apiTable(items []*models.API) table {
	header := []string{"NAME", "FUNCTION", "HOSTS", "URIS", "AUTH", "ENABLED", "OWNER"}
	rows := make([][]string, 0, len(items))
	for _, a := range items {
		if a == nil {
			continue
		}
		rows = append(rows, []string{
			a.Name, formatAPIFunction(a.Function), formatHosts(a.Hosts), orDash(strings.Join(a.Uris, ",")),
			formatAuth(a.Authentication), formatBool(a.Enabled), orDash(a.Owner),
		})
	}
	return table{header: header, rows: rows}
}

// apiFields are the lines of `gantry apis get`: no certificate PEM, no key, no password.
func apiFields(a *models.API) []field {
	users := make([]string, 0, len(a.BasicUsers))
	for _, u := range a.BasicUsers {
		if u != nil && u.Username != nil {
			users = append(users, *u.Username)
		}
	}
	fields := []field{
		{"Name", a.Name},
		{"Owner", orDash(a.Owner)},
		{"Function", formatAPIFunction(a.Function)},
		{"Hosts", formatHosts(a.Hosts)},
		{"URIs", orDash(strings.Join(a.Uris, ","))},
		{"Methods", orAny(a.Methods)},
		{"Protocols", orAny(a.Protocols)},
		{"HTTPS only", formatBool(a.HTTPSOnly)},
		{"Authentication", formatAuth(a.Authentication)},
	}
	if len(users) > 0 {
		fields = append(fields, field{"Basic users", strings.Join(users, ",")})
	}
	if a.Oidc != nil {
		fields = append(fields,
			field{"OIDC issuer", orDefault(a.Oidc.Issuer)},
			field{"OIDC audience", orDefault(a.Oidc.Audience)})
	}
	if c := a.Cors; c != nil {
		fields = append(fields,
			field{"CORS origins", orDash(strings.Join(c.Origins, ","))},
			field{"CORS methods", orDefault(strings.Join(c.Methods, ","))},
			field{"CORS headers", orDash(strings.Join(c.Headers, ","))})
	}
	fields = append(fields,
		field{"Rate limit", formatRateLimit(a.RateLimit)},
		field{"Timeout", formatInt(a.Timeout, "s")},
		field{"Max body", formatByteSize(a.MaxBodyBytes)},
	)
	if a.TLS == nil || a.TLS.Certificate == "" && a.TLS.NotAfter == nil && len(a.TLS.DNSNames) == 0 {
		fields = append(fields, field{"TLS", "none"})
	} else {
		fields = append(fields,
			field{"TLS names", orDash(strings.Join(a.TLS.DNSNames, ","))},
			field{"TLS expires", formatTime(a.TLS.NotAfter)})
	}
	return append(fields,
		field{"Enabled", formatBool(a.Enabled)},
		field{"Created", formatTime(a.CreatedAt)},
		field{"Updated", formatTime(a.UpdatedAt)},
	)
}

// formatAPIFunction shows a function the way --function takes it: APP/ROUTE.
func formatAPIFunction(f *models.APIFunction) string {
	if f == nil || f.App == nil || f.Route == nil {
		return "-"
	}
	return *f.App + *f.Route
}

// formatHosts shows the hosts; none means any host.
func formatHosts(hosts []string) string {
	return orAny(hosts)
}

func orAny(list []string) string {
	if len(list) == 0 {
		return "(any)"
	}
	return strings.Join(list, ",")
}

func orDefault(s string) string {
	if s == "" {
		return "(default)"
	}
	return s
}

// formatAuth shows the authentication; the server's default is public.
func formatAuth(auth string) string {
	if auth == "" {
		return models.APIAuthenticationPublic
	}
	return auth
}

func formatBool(b *bool) string {
	if b == nil {
		return "-"
	}
	return strconv.FormatBool(*b)
}

// formatRateLimit shows a rate limit as "10/s, burst 20, per client".
func formatRateLimit(rl *models.APIRateLimit) string {
	if rl == nil || rl.Rps == nil || *rl.Rps == 0 {
		return "none"
	}
	s := strconv.FormatFloat(*rl.Rps, 'f', -1, 64) + "/s"
	if rl.Burst > 0 {
		s += ", burst " + strconv.FormatInt(rl.Burst, 10)
	}
	if rl.Per != "" {
		s += ", per " + rl.Per
	}
	return s
}

// formatByteSize shows a size in the unit --max-body takes.
func formatByteSize(n *int64) string {
	switch {
	case n == nil:
		return "-"
	case *n != 0 && *n%(1<<20) == 0:
		return strconv.FormatInt(*n>>20, 10) + "MiB"
	case *n != 0 && *n%(1<<10) == 0:
		return strconv.FormatInt(*n>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(*n, 10) + "B"
	}
}
