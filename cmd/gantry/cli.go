package main

// This file holds what every CLI subcommand shares: the --api-url and
// --output flags, construction of the generated API client, output
// rendering (tables, key/value lines, JSON) and translation of the
// generated client's errors into messages for a person.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client"
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

const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
)

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

// newClient builds the generated API client for --api-url, on httpClient, with the
// endpoint and the bearer token it uses (the raw requests of streams use them too).
func (cf *clientFlags) newClient() (*client.Gantry, apiEndpoint, *http.Client, string, error) {
	ep, err := parseAPIURL(cf.apiURL)
	if err != nil {
		return nil, ep, nil, "", err
	}
	httpClient, err := cf.httpClient()
	if err != nil {
		return nil, ep, nil, "", err
	}
	transport := httptransport.NewWithClient(ep.host, ep.basePath, []string{ep.scheme}, httpClient)
	transport.SetDebug(false)                                     // go-openapi's DEBUG=1 would print the bearer token
	transport.Producers[cloudEventsJSON] = runtime.JSONProducer() // events publish (structured mode)
	token := cf.bearerToken(ep)
	if token != "" {
		transport.DefaultAuthentication = httptransport.BearerToken(token)
	}
	return client.New(transport, strfmt.Default), ep, httpClient, token, nil
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
	raw    rawAPI // for what the generated client cannot do (streams)
	out    printer
	stderr io.Writer
}

// rawAPI sends plain HTTP requests to the API, as the generated client does: the same
// base URL, TLS trust and credentials.
type rawAPI struct {
	base   string // scheme://host/prefix/v1
	client *http.Client
	token  string
}

// newRequest builds a request of path (under /v1) with the client's credentials.
func (r rawAPI) newRequest(ctx context.Context, method, path string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, nil)
	if err != nil {
		return nil, err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	return req, nil
}

// session builds the client and printer for one run of cmd.
func (cf *clientFlags) session(cmd *cobra.Command) (*session, error) {
	api, ep, httpClient, token, err := cf.newClient()
	if err != nil {
		return nil, err
	}
	return &session{
		api:    api,
		raw:    rawAPI{base: ep.String(), client: httpClient, token: token}, // the same client and credentials
		out:    printer{w: cmd.OutOrStdout(), format: cf.output},
		stderr: cmd.ErrOrStderr(),
	}, nil
}

// refuseUnknownSubcommands makes every command that only groups others (`gantry routes`)
// fail on an argument that names none of them, with a non-zero exit: cobra would print the
// group's help and exit 0, so that a typo in a script looks like success. Without an
// argument the group prints its help, as before.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's own default
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %s?", quoteJoin(s, " or "))
		}
		return fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath())
	}
}

// quoteJoin quotes each of items and joins them with sep.
func quoteJoin(items []string, sep string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, sep)
}
