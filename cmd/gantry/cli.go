package main

// This file holds what every CLI subcommand shares: the --api-url and
// --output flags, construction of the generated API client, output
// rendering (tables, key/value lines, JSON) and translation of the
// generated client's errors into messages for a person.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client"
	"github.com/gantry-dev/gantry/gen/models"
)

const (
	envAPIURL     = "GANTRY_API_URL"
	envToken      = "GANTRY_TOKEN"
	envCACert     = "GANTRY_CA_CERT"
	defaultAPIURL = "http://127.0.0.1:8080"

	// maxPerPage is the largest page the API serves (swagger: per_page maximum).
	maxPerPage = 100
	// defaultPerPage is the API's default page size (swagger: per_page default).
	defaultPerPage = 30
)

// outputFormat is the value of the -o/--output flag. It implements
// pflag.Value so that a bad value is rejected when flags are parsed.
type outputFormat string

const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
)

func (f *outputFormat) String() string { return string(*f) }

// Set validates and stores an output format.
func (f *outputFormat) Set(s string) error {
	switch v := outputFormat(s); v {
	case formatTable, formatJSON:
		*f = v
		return nil
	default:
		return fmt.Errorf("must be %q or %q", formatTable, formatJSON)
	}
}

// Type names the flag's value in help output.
func (f *outputFormat) Type() string { return "format" }

// clientFlags holds the persistent flags of the client subcommands. They
// are read only when a subcommand runs, after cobra has parsed them.
type clientFlags struct {
	apiURL string
	output outputFormat
	token  string // --token, else $GANTRY_TOKEN, else a local server's admin.token
	caCert string // --ca-cert: PEM file of the CA that signed an https server's certificate
}

// addClientFlags registers --api-url and -o/--output on root.
func addClientFlags(root *cobra.Command) *clientFlags {
	cf := &clientFlags{output: formatTable}
	pf := root.PersistentFlags()
	pf.StringVar(&cf.apiURL, "api-url", apiURLDefault(os.Getenv),
		"base URL of the Gantry API, e.g. https://gantry.example.com/prefix (env "+envAPIURL+")")
	pf.VarP(&cf.output, "output", "o", `output format: "table" or "json"`)
	pf.StringVar(&cf.token, "token", "", "API token (env "+envToken+"; default: "+adminTokenFile+" of the local data dir, for a server on loopback)")
	pf.StringVar(&cf.caCert, "ca-cert", os.Getenv(envCACert), "PEM file of the CA that signed the server's certificate, for https (env "+envCACert+")")
	return cf
}

// apiURLDefault returns the --api-url default: $GANTRY_API_URL when set.
func apiURLDefault(getenv func(string) string) string {
	if v := strings.TrimSpace(getenv(envAPIURL)); v != "" {
		return v
	}
	return defaultAPIURL
}

// apiEndpoint is where the API lives, in the pieces the go-openapi
// transport wants.
type apiEndpoint struct {
	scheme   string
	host     string
	basePath string
}

func (e apiEndpoint) String() string { return e.scheme + "://" + e.host + e.basePath }

// parseAPIURL splits an --api-url value into scheme, host and base path.
// A missing scheme means http. A path in the URL is a prefix in front of
// the spec's base path (/v1); a URL that already ends in /v1 is used as is.
func parseAPIURL(raw string) (apiEndpoint, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return apiEndpoint{}, errors.New("--api-url is empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return apiEndpoint{}, fmt.Errorf("parse --api-url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return apiEndpoint{}, fmt.Errorf("--api-url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return apiEndpoint{}, fmt.Errorf("--api-url %q: no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return apiEndpoint{}, fmt.Errorf("--api-url %q: must not contain user info, a query or a fragment", raw)
	}
	base := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(base, client.DefaultBasePath) {
		base += client.DefaultBasePath
	}
	return apiEndpoint{scheme: u.Scheme, host: u.Host, basePath: base}, nil
}

// newClient builds the generated API client for --api-url.
func (cf *clientFlags) newClient() (*client.Gantry, error) {
	ep, err := parseAPIURL(cf.apiURL)
	if err != nil {
		return nil, err
	}
	httpClient, err := cf.httpClient()
	if err != nil {
		return nil, err
	}
	transport := httptransport.NewWithClient(ep.host, ep.basePath, []string{ep.scheme}, httpClient)
	transport.SetDebug(false) // go-openapi's DEBUG=1 would print the bearer token
	if token := cf.bearerToken(ep); token != "" {
		transport.DefaultAuthentication = httptransport.BearerToken(token)
	}
	return client.New(transport, strfmt.Default), nil
}

// httpClient is the HTTP client of every request the CLI makes; it trusts --ca-cert.
func (cf *clientFlags) httpClient() (*http.Client, error) {
	if cf.caCert == "" {
		return &http.Client{}, nil
	}
	tlsConfig, err := httptransport.TLSClientAuth(httptransport.TLSClientOptions{CA: cf.caCert})
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}}, nil
}

// bearerToken picks the credentials: --token, then $GANTRY_TOKEN, then, for a server on
// this machine, the admin token it wrote to its data dir ($GANTRY_DATA_DIR or ./data).
func (cf *clientFlags) bearerToken(ep apiEndpoint) string {
	if cf.token != "" {
		return cf.token
	}
	if v := strings.TrimSpace(os.Getenv(envToken)); v != "" {
		return v
	}
	if !isLoopback(ep.host) {
		return ""
	}
	dir := os.Getenv("GANTRY_DATA_DIR")
	if dir == "" {
		dir = "./data"
	}
	b, err := os.ReadFile(filepath.Join(dir, adminTokenFile)) //nolint:gosec // G703: the data dir is the operator's own
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// isLoopback tells whether host (with or without a port) names this machine.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// session is what a subcommand needs while it runs.
type session struct {
	api    *client.Gantry
	out    printer
	stderr io.Writer
}

// session builds the client and printer for one run of cmd.
func (cf *clientFlags) session(cmd *cobra.Command) (*session, error) {
	api, err := cf.newClient()
	if err != nil {
		return nil, err
	}
	return &session{
		api:    api,
		out:    printer{w: cmd.OutOrStdout(), format: cf.output},
		stderr: cmd.ErrOrStderr(),
	}, nil
}

// printer writes a result either as JSON (the API's wrapper object) or
// in the human-readable form rendered by a callback.
type printer struct {
	w      io.Writer
	format outputFormat
}

// show prints payload as indented JSON with -o json, else calls human.
func (p printer) show(payload any, human func(io.Writer) error) error {
	if p.format == formatJSON {
		return writeJSON(p.w, payload)
	}
	return human(p.w)
}

// confirm prints a one-line confirmation in table mode. With -o json it
// prints nothing: the API answered 204 without a body.
func (p printer) confirm(format string, args ...any) error {
	if p.format == formatJSON {
		return nil
	}
	if _, err := fmt.Fprintf(p.w, format+"\n", args...); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON output: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// cleanCell keeps a cell on one line and in one column.
func cleanCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// table is a header row and data rows.
type table struct {
	header []string
	rows   [][]string
}

// writeTable writes t's header and rows aligned in columns.
func writeTable(w io.Writer, t table) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	writeRow := func(cells []string) {
		clean := make([]string, len(cells))
		for i, c := range cells {
			clean[i] = cleanCell(c)
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	writeRow(t.header)
	for _, r := range t.rows {
		writeRow(r)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// field is one line of a single object's human-readable form.
type field struct {
	name  string
	value string
}

// writeFields writes "Name:  value" lines with aligned values.
func writeFields(w io.Writer, fields []field) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f.name, cleanCell(f.value))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// formatConfig renders a config as sorted k=v pairs separated by commas.
// Values that would be ambiguous there are quoted.
func formatConfig(cfg map[string]string) string {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + quoteIfNeeded(cfg[k])
	}
	return strings.Join(pairs, ",")
}

// formatHeaders renders headers as sorted K=V pairs, one per value, the
// way --header takes them.
func formatHeaders(h map[string][]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var pairs []string
	for _, k := range keys {
		for _, v := range h[k] {
			pairs = append(pairs, k+"="+quoteIfNeeded(v))
		}
	}
	return strings.Join(pairs, ",")
}

func quoteIfNeeded(v string) string {
	if strings.ContainsAny(v, ", \t\r\n\"") {
		return strconv.Quote(v)
	}
	return v
}

// orDash shows a missing value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatTime(t *strfmt.DateTime) string {
	if t == nil {
		return "-"
	}
	return time.Time(*t).UTC().Format(time.RFC3339)
}

func formatInt(v *int64, unit string) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10) + unit
}

func formatFloat(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// parseKeyValues parses repeated K=V flag values into a map. "K=" gives
// K an empty value (which PATCH treats as "remove K"). A value may contain
// "="; a missing "=", an empty key or a repeated key is an error.
func parseKeyValues(flag string, pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, err := splitKeyValue(flag, p)
		if err != nil {
			return nil, err
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--%s: key %q given more than once", flag, k)
		}
		out[k] = v
	}
	return out, nil
}

// parseHeaders parses repeated K=V flag values into header lists: each
// K=V adds a value to K, and "K=" alone gives K an empty list (which PATCH
// treats as "remove K"). Removing and setting the same header is an error.
func parseHeaders(flag string, pairs []string) (map[string][]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string][]string, len(pairs))
	removed := make(map[string]bool)
	for _, p := range pairs {
		k, v, err := splitKeyValue(flag, p)
		if err != nil {
			return nil, err
		}
		if v == "" && len(out[k]) > 0 || v != "" && removed[k] {
			return nil, fmt.Errorf("--%s: header %q is both removed (%s=) and set", flag, k, k)
		}
		if v == "" {
			removed[k] = true
			out[k] = []string{}
			continue
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func splitKeyValue(flag, pair string) (string, string, error) {
	k, v, ok := strings.Cut(pair, "=")
	if !ok {
		return "", "", fmt.Errorf("--%s %q: want KEY=VALUE (KEY= for an empty value)", flag, pair)
	}
	if strings.TrimSpace(k) == "" {
		return "", "", fmt.Errorf("--%s %q: empty key", flag, pair)
	}
	return k, v, nil
}

// apiError is an error answer of the Gantry API: its text is the
// server's message, followed by the offending fields when there are any
// and by a hint of what to do about it.
type apiError struct {
	Status  int
	Message string
	Fields  string
	Hint    string
}

func (e *apiError) Error() string {
	s := e.Message
	if e.Fields != "" {
		s = fmt.Sprintf("%s (fields: %s)", s, e.Fields)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// authHint tells what to do about a 401 or 403 answer.
func authHint(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "give a valid API token with --token or " + envToken
	case http.StatusForbidden:
		return "`gantry whoami` shows who you are and your role"
	}
	return ""
}

// errorResponse is what every generated error response type has.
type errorResponse interface {
	error
	Code() int
	GetPayload() *models.Error
}

// clientError turns an error of the generated client into one for a
// person: the server's message for an API error (after op and the status
// for a 401 or 403, with a hint of what to do), the failing URL for a
// connection error, op as context for anything else.
func clientError(op string, err error) error {
	var resp errorResponse
	if errors.As(err, &resp) {
		code := resp.Code()
		if p := resp.GetPayload(); p != nil && p.Error != nil && p.Error.Message != nil {
			msg := *p.Error.Message
			if code == http.StatusUnauthorized || code == http.StatusForbidden {
				// The server says what is wrong with the credentials, not what was refused.
				msg = fmt.Sprintf("%s: %s (%d)", op, msg, code)
			}
			return &apiError{Status: code, Message: msg, Fields: p.Error.Fields, Hint: authHint(code)}
		}
		return &apiError{Status: code, Message: fmt.Sprintf("%s: server answered HTTP %d without an error message", op, code), Hint: authHint(code)}
	}
	var unexpected *runtime.APIError
	if errors.As(err, &unexpected) {
		return &apiError{Status: unexpected.Code, Message: fmt.Sprintf("%s: unexpected answer from server (HTTP %d)", op, unexpected.Code), Hint: authHint(unexpected.Code)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: cannot reach the Gantry API at %s: %w", op, ue.URL, ue.Err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// pageFlags are the pagination flags of a list subcommand.
type pageFlags struct {
	perPage int64
	cursor  string
	all     bool
}

func addPageFlags(cmd *cobra.Command, pf *pageFlags) {
	fs := cmd.Flags()
	fs.Int64Var(&pf.perPage, "per-page", defaultPerPage, fmt.Sprintf("items per page (1-%d)", maxPerPage))
	fs.StringVar(&pf.cursor, "cursor", "", "start at this cursor (next_cursor of a previous page)")
	fs.BoolVar(&pf.all, "all", false, "follow next_cursor and list everything")
}

// pageSize is --per-page, or the largest page for --all when unset.
func (pf pageFlags) pageSize(perPageChanged bool) int64 {
	if pf.all && !perPageChanged {
		return maxPerPage
	}
	return pf.perPage
}

// fetchPage gets one page starting at cursor ("" for the first) and
// returns its items and the next cursor ("" on the last page).
type fetchPage[T any] func(ctx context.Context, cursor string, perPage int64) ([]T, string, error)

// listPages fetches one page, or every page with --all. It returns the
// items and the cursor of the next page, "" when there is none.
func listPages[T any](ctx context.Context, pf pageFlags, perPage int64, fetch fetchPage[T]) ([]T, string, error) {
	items := []T{}
	cursor := pf.cursor
	for {
		page, next, err := fetch(ctx, cursor, perPage)
		if err != nil {
			return nil, "", err
		}
		items = append(items, page...)
		if !pf.all || next == "" {
			return items, next, nil
		}
		if next == cursor {
			return nil, "", fmt.Errorf("server returned the same next_cursor %q twice", next)
		}
		cursor = next
	}
}

// hintMore tells the user, on stderr, how to get the next page.
// runList is the body of every list command: the pages asked for, shown, and a hint on
// stderr when more remain.
func runList[T any](cmd *cobra.Command, s *session, pf pageFlags, what string, fetch fetchPage[T], show func(items []T, next string) error) error {
	items, next, err := listPages(cmd.Context(), pf, pf.pageSize(cmd.Flags().Changed("per-page")), fetch)
	if err != nil {
		return err
	}
	if err := show(items, next); err != nil {
		return err
	}
	hintMore(s.stderr, what, next)
	return nil
}

// ownedList describes `gantry THINGS list` of a resource that has owners (apps, APIs).
type ownedList[T any] struct {
	what  string // "apps", "APIs"
	fetch func(s *session, ctx context.Context, owner, cursor string, perPage int64) ([]T, string, error)
	show  func(s *session, items []T, next string) error
}

// newOwnedListCmd builds the list command of a resource that has owners: paginated, with
// --owner NAME|me.
func newOwnedListCmd[T any](cf *clientFlags, l ownedList[T]) *cobra.Command {
	var (
		pf    pageFlags
		owner string
	)
	cmd := &cobra.Command{
		Use:     "list [--owner NAME|me]",
		Aliases: []string{"ls"},
		Short:   "List " + l.what + " in name order",
		Long: fmt.Sprintf("List %[1]s in name order: a developer's own %[1]s, or for an admin all of them.\n"+
			"--owner keeps one owner's %[1]s; --owner me keeps the caller's.", l.what),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]T, string, error) {
				return l.fetch(s, ctx, owner, cursor, perPage)
			}
			return runList(cmd, s, pf, l.what, fetch, func(items []T, next string) error { return l.show(s, items, next) })
		},
	}
	addPageFlags(cmd, &pf)
	cmd.Flags().StringVar(&owner, ownerFlag, "", fmt.Sprintf(`only the %s of this owner; "me" for the caller's`, l.what))
	return cmd
}

func hintMore(w io.Writer, what, next string) {
	if next == "" {
		return
	}
	fmt.Fprintf(w, "more %s available: rerun with --cursor %s, or use --all\n", what, next)
}
