package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/internal/certfile"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

type serverConfig struct {
	addr            string
	dataDir         string
	shutdownTimeout time.Duration
	logLevel        string
	maxCallBody     int64
	maxOutput       int
	maxLog          int
	keepExecutions  int
	asyncWorkers    int
	asyncAttempts   int
	asyncBackoff    time.Duration
	functionNetwork string
	networks        []string // registered networks, "name" or "name:owner,owner"

	auth              string // "token" or "none"
	oidcIssuer        string
	oidcAudience      string
	oidcUsernameClaim string
	oidcGroupsClaim   string
	oidcAdminGroup    string
	oidcUserPrefix    string
	corsOrigins       []string
	tlsCert, tlsKey   string
	httpAddr          string // plain HTTP beside TLS, only when asked for
	auditLog          string
	readyFile         string // written once every listener is bound, removed on shutdown

	gatewayAddr, gatewayTLSAddr   string // "" : that listener is off
	gatewayTLSCert, gatewayTLSKey string // default certificate of the HTTPS listener
	gatewayAccessLog              string
	gatewayHTTPSPort              int // port of https_only redirects, when clients reach HTTPS elsewhere
}

// serverEnv names the environment variable of each server flag.
var serverEnv = map[string]string{
	"addr":             "GANTRY_ADDR",
	"data-dir":         "GANTRY_DATA_DIR",
	"shutdown-timeout": "GANTRY_SHUTDOWN_TIMEOUT",
	"log-level":        "GANTRY_LOG_LEVEL",
	"max-call-body":    "GANTRY_MAX_CALL_BODY",
	"max-output":       "GANTRY_MAX_OUTPUT",
	"max-log":          "GANTRY_MAX_LOG",
	"keep-executions":  "GANTRY_KEEP_EXECUTIONS",
	"async-workers":    "GANTRY_ASYNC_WORKERS",
	"async-attempts":   "GANTRY_ASYNC_ATTEMPTS",
	"async-backoff":    "GANTRY_ASYNC_BACKOFF",
	"function-network": "GANTRY_FUNCTION_NETWORK",
	"network":          "GANTRY_NETWORKS",

	"auth":                 "GANTRY_AUTH",
	"oidc-issuer":          "GANTRY_OIDC_ISSUER",
	"oidc-audience":        "GANTRY_OIDC_AUDIENCE",
	"oidc-username-claim":  "GANTRY_OIDC_USERNAME_CLAIM",
	"oidc-groups-claim":    "GANTRY_OIDC_GROUPS_CLAIM",
	"oidc-admin-group":     "GANTRY_OIDC_ADMIN_GROUP",
	"oidc-username-prefix": "GANTRY_OIDC_USERNAME_PREFIX",
	"cors-origins":         "GANTRY_CORS_ORIGINS",
	"tls-cert":             "GANTRY_TLS_CERT",
	"tls-key":              "GANTRY_TLS_KEY",
	"http-addr":            "GANTRY_HTTP_ADDR",
	"audit-log":            "GANTRY_AUDIT_LOG",
	"ready-file":           "GANTRY_READY_FILE",

	"gateway-addr":       "GANTRY_GATEWAY_ADDR",
	"gateway-tls-addr":   "GANTRY_GATEWAY_TLS_ADDR",
	"gateway-tls-cert":   "GANTRY_GATEWAY_TLS_CERT",
	"gateway-tls-key":    "GANTRY_GATEWAY_TLS_KEY",
	"gateway-access-log": "GANTRY_GATEWAY_ACCESS_LOG",
	"gateway-https-port": "GANTRY_GATEWAY_HTTPS_PORT",
}

// adminTokenFile is where, in the data dir, the server writes the first admin token.
const adminTokenFile = "admin.token"

func newServerCmd() *cobra.Command {
	var cfg serverConfig
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Gantry server (management API and function calls)",
		Long: "Run the Gantry server. Every flag can also be set with the environment variable\n" +
			"named in its help; a flag given on the command line wins.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd, serverEnv); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runServer(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen address (HTTPS with --tls-cert and --tls-key)")
	f.StringVar(&cfg.dataDir, "data-dir", "./data", "directory of the bbolt database")
	f.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests in flight")
	f.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	f.Int64Var(&cfg.maxCallBody, "max-call-body", 1<<20, "largest request body of a function call, in bytes (413 above)")
	f.IntVar(&cfg.maxOutput, "max-output", 1<<20, "bytes of a function's response kept; the rest is dropped and flagged")
	f.IntVar(&cfg.maxLog, "max-log", 256<<10, "bytes of a call's log (stderr) kept")
	f.IntVar(&cfg.keepExecutions, "keep-executions", 1000, "executions kept per route, newest first (-1: all)")
	f.IntVar(&cfg.asyncWorkers, "async-workers", 2, "async calls run at once (0: none here, external runners only)")
	f.IntVar(&cfg.asyncAttempts, "async-attempts", 5, "runs of an async call that Gantry or Docker fails, before it is FAILED")
	f.DurationVar(&cfg.asyncBackoff, "async-backoff", time.Second, "delay before the first retry of an async call; doubles, at most 1m")
	f.StringVar(&cfg.functionNetwork, "function-network", runner.DefaultFunctionNetwork, `Docker network of routes on network "bridge", created with inter-container communication off`)
	f.StringArrayVar(&cfg.networks, "network", nil, `register a Docker network for routes: "NAME:OWNER,OWNER" for those owners, "NAME:*" for every owner; repeat the flag, or separate with ";"`)
	f.StringVar(&cfg.auth, "auth", "token", `"token": /v1 needs an API or OIDC token; "none": authentication off (everyone is admin)`)
	f.StringVar(&cfg.oidcIssuer, "oidc-issuer", "", "issuer URL of the external OIDC identity source whose tokens are accepted")
	f.StringVar(&cfg.oidcAudience, "oidc-audience", "", "audience (client ID) OIDC tokens must be issued for; required with --oidc-issuer")
	f.StringVar(&cfg.oidcUsernameClaim, "oidc-username-claim", "sub", "OIDC claim that names the user")
	f.StringVar(&cfg.oidcGroupsClaim, "oidc-groups-claim", "groups", "OIDC claim that lists the user's groups")
	f.StringVar(&cfg.oidcAdminGroup, "oidc-admin-group", "", "members of this OIDC group are admins; everyone else is a developer")
	f.StringVar(&cfg.oidcUserPrefix, "oidc-username-prefix", "oidc:", `put before OIDC user names, so they cannot be taken for token users such as "admin"`)
	f.StringSliceVar(&cfg.corsOrigins, "cors-origins", nil, `origins browsers may call the API from, comma-separated ("*": any); none: CORS off`)
	f.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS on --addr; reloaded when the file changes")
	f.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&cfg.httpAddr, "http-addr", "", "also serve plain HTTP on this address (with TLS on --addr)")
	f.StringVar(&cfg.auditLog, "audit-log", "", `file of the audit log, JSON lines (default <data-dir>/audit.log; "-": stderr)`)
	f.StringVar(&cfg.readyFile, "ready-file", "", `write this file atomically once every listener is bound, removed on shutdown: JSON of the bound addresses, {"addr","tls","http_addr","gateway":[{"addr","tls"}],"instance","data_dir","version","pid"}`)
	f.StringVar(&cfg.gatewayAddr, "gateway-addr", "127.0.0.1:8081", `gateway listener for APIs over plain HTTP ("": off)`)
	f.StringVar(&cfg.gatewayTLSAddr, "gateway-tls-addr", "127.0.0.1:8443", `gateway listener for APIs over HTTPS, certificates picked by SNI ("": off)`)
	f.StringVar(&cfg.gatewayTLSCert, "gateway-tls-cert", "", "PEM certificate the gateway serves for hostnames no API has a certificate for")
	f.StringVar(&cfg.gatewayTLSKey, "gateway-tls-key", "", "PEM private key of --gateway-tls-cert")
	f.IntVar(&cfg.gatewayHTTPSPort, "gateway-https-port", 0, "port clients reach the gateway's HTTPS on, for https_only redirects (default: --gateway-tls-addr's; 443: none in the URL)")
	f.StringVar(&cfg.gatewayAccessLog, "gateway-access-log", "", `file of the gateway's access log, JSON lines (default <data-dir>/access.log; "-": stderr)`)
	for flag, env := range serverEnv {
		fl := f.Lookup(flag)
		fl.Usage += " (" + env + ")"
	}
	return cmd
}

// parseNetworks reads the --network values: "NAME:OWNER,OWNER" (those owners' apps may use
// the network) or "NAME:*" (every owner's may), several separated by ";". A bare NAME is
// refused: a network is shared between tenants only when the administrator says so.
func parseNetworks(values []string, functionNetwork string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, v := range values {
		for item := range strings.SplitSeq(v, ";") {
			name, owners, named := strings.Cut(strings.TrimSpace(item), ":")
			switch name = strings.TrimSpace(name); name {
			case "":
				if named {
					return nil, fmt.Errorf("%q names no network", item)
				}
				continue
			case store.NetworkBridge, store.NetworkNone, "host", "default", functionNetwork:
				return nil, fmt.Errorf("%q cannot be registered: it is Docker's or Gantry's own", name)
			}
			list, everyone := []string{}, false
			for o := range strings.SplitSeq(owners, ",") {
				switch o = strings.TrimSpace(o); {
				case o == "*":
					everyone = true
				case o == "":
				case store.ValidateUserName(o) != nil:
					return nil, fmt.Errorf("network %s: owner %q is not a user name (%s)", name, o, store.UserNameRule())
				default:
					list = append(list, o)
				}
			}
			prev, seen := out[name]
			switch {
			case everyone || seen && prev == nil:
				out[name] = nil // nil: every owner
			case len(list) == 0:
				return nil, fmt.Errorf("network %s: name the owners who may use it (%s:OWNER,OWNER), or %s:* for every owner", name, name, name)
			default:
				for _, o := range list {
					if !slices.Contains(out[name], o) { // an owner listed twice is still one owner
						out[name] = append(out[name], o)
					}
				}
			}
		}
	}
	return out, nil
}

// applyEnv sets each flag not given on the command line from its environment variable,
// failing on a value the flag does not accept.
func applyEnv(cmd *cobra.Command, vars map[string]string) error {
	for flag, env := range vars {
		v, ok := os.LookupEnv(env)
		if !ok || cmd.Flags().Changed(flag) {
			continue
		}
		if err := cmd.Flags().Set(flag, v); err != nil {
			return fmt.Errorf("%s=%q: %w", env, v, err)
		}
	}
	return nil
}

// runServer serves until ctx is cancelled, then drains requests in flight for up to
// cfg.shutdownTimeout, removes every container it started and closes the store.
func runServer(ctx context.Context, cfg serverConfig) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	st, err := bolt.Open(ctx, cfg.dataDir, bolt.Options{KeepExecutionsPerRoute: cfg.keepExecutions, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close the store", "err", err)
		}
	}()
	// A killed run's file says nothing of this one. (Only now: a second server started on a data
	// dir in use has already failed above, without removing the running one's file.)
	if err := removeReadyFile(cfg.readyFile); err != nil {
		return err
	}
	if n, err := st.RecoverExecutions(ctx); err != nil {
		return fmt.Errorf("recover executions: %w", err)
	} else if n > 0 {
		log.Warn("calls cut short by the previous run marked FAILED", "count", n)
	}

	docker, err := runner.NewDockerClient()
	if err != nil {
		return err
	}
	defer docker.Close()
	networks, err := parseNetworks(cfg.networks, cfg.functionNetwork)
	if err != nil {
		return fmt.Errorf("--network: %w", err)
	}
	run, err := runner.New(ctx, docker, runner.Options{
		Instance: st.InstanceID(), MaxOutputBytes: cfg.maxOutput, MaxLogBytes: cfg.maxLog, Log: log,
		FunctionNetwork: cfg.functionNetwork, Networks: networks,
	})
	if err != nil {
		return err
	}
	// Every way out removes the containers this run started; shutdown does it in its place.
	closeRunner := sync.OnceFunc(func() {
		cleanupCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := run.Close(cleanupCtx); err != nil {
			log.Warn("removing containers", "err", err)
		}
	})
	defer closeRunner()

	invoker := invoke.New(st, run, invoke.Options{MaxCallBody: cfg.maxCallBody, Node: st.InstanceID(), Log: log})
	defer invoker.FollowCancels(st)()
	authn, idp, err := setUpAuth(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	audit, closeAudit, err := openLog(cfg.auditLog, filepath.Join(cfg.dataDir, "audit.log"))
	if err != nil {
		return fmt.Errorf("open the audit log: %w", err)
	}
	defer closeAudit()
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	passwords := auth.NewPasswordPool(auth.PasswordPoolOptions{}) // the bcrypt work of the management API and the gateway
	api := handlers.New(handlers.Deps{
		Store: st, Functions: invoker, Version: version, Log: log,
		MaxOutput: cfg.maxOutput, MaxLog: cfg.maxLog, Auth: authn, Audit: audit, CORSOrigins: cfg.corsOrigins,
		Metrics: promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}), OIDCDefault: idp != nil, Passwords: passwords,
	})
	h, err := api.Handler()
	if err != nil {
		return err
	}
	listeners, err := listen(cfg, log)
	if err != nil {
		return err
	}
	gwListeners, gwSrv, stopGateway, err := startGateway(ctx, cfg, gatewayDeps{store: st, calls: invoker, auth: authn, oidc: idp, passwords: passwords, metrics: metrics, log: log})
	if err != nil {
		closeListeners(listeners)
		return err
	}
	defer stopGateway()
	workers, err := invoker.StartWorkers(ctx, invoke.WorkerOptions{Count: cfg.asyncWorkers, MaxAttempts: cfg.asyncAttempts, Backoff: cfg.asyncBackoff, Log: log})
	if err != nil {
		closeListeners(append(listeners, gwListeners...))
		return err
	}
	srv := newHTTPServer(h, log, slog.LevelWarn)
	if addr := os.Getenv("GANTRY_PPROF_ADDR"); addr != "" {
		go servePprof(addr, log)
	}
	served := make(chan error, len(listeners)+len(gwListeners))
	for _, ln := range listeners {
		go func() { served <- srv.Serve(ln) }()
		log.Info("listening", "addr", ln.Addr().String(), "tls", ln.tls, "data_dir", cfg.dataDir, "instance", st.InstanceID(), "version", version)
	}
	for _, ln := range gwListeners {
		go func() { served <- gwSrv.Serve(ln) }()
		log.Info("gateway listening", "addr", ln.Addr().String(), "tls", ln.tls)
	}
	notReady, err := writeReadyFile(cfg, listeners, gwListeners, st.InstanceID(), log)
	if err != nil {
		return err
	}
	defer notReady()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	notReady() // no longer accepting: whoever waits on the file must not take this server for ready
	log.Info("shutting down", "drain_timeout", cfg.shutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	workers.StopLeasing() // calls and async calls drain together, under one deadline
	var drained sync.WaitGroup
	for _, s := range []*http.Server{srv, gwSrv} {
		drained.Go(func() {
			if err := s.Shutdown(drainCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("requests still in flight at the drain timeout", "err", err)
			}
		})
	}
	drained.Wait()
	if err := workers.Wait(drainCtx); err != nil {
		log.Warn("async calls cut short: back in the queue", "err", err)
	}
	closeRunner()
	waitCtx, cancelWait := context.WithTimeout(context.Background(), time.Minute)
	defer cancelWait()
	if err := workers.Wait(waitCtx); err != nil { // their last results, before the store closes
		log.Warn("async workers still settling", "err", err)
	}
	log.Info("stopped")
	return nil
}

// newHTTPServer serves h; errLevel is the level of the server's own errors (handshakes,
// malformed requests): the gateway faces the internet, where they are routine.
func newHTTPServer(h http.Handler, log *slog.Logger, errLevel slog.Level) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a request body may not trickle in forever
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), errLevel),
	}
}

func closeListeners(ls []listener) {
	for _, ln := range ls {
		_ = ln.Close()
	}
}

// servePprof serves Go's profiler on a separate listener, for performance work only:
// set GANTRY_PPROF_ADDR (e.g. 127.0.0.1:6060). Never expose it.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("profiler listening", "addr", addr)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Error("profiler", "err", err)
	}
}

// setUpAuth builds the authenticator, or returns nil with --auth=none. On the first start
// with authentication on, it makes the admin token and writes it to the data dir.
// The configured identity source (nil without --oidc-issuer) is also the gateway's default.
func setUpAuth(ctx context.Context, cfg serverConfig, st *bolt.DB, log *slog.Logger) (handlers.Authenticator, *auth.OIDCConfig, error) {
	var idpConfig *auth.OIDCConfig
	if cfg.oidcIssuer != "" {
		idpConfig = &auth.OIDCConfig{
			Issuer: cfg.oidcIssuer, Audience: cfg.oidcAudience, UsernameClaim: cfg.oidcUsernameClaim,
			GroupsClaim: cfg.oidcGroupsClaim, AdminGroup: cfg.oidcAdminGroup, UsernamePrefix: cfg.oidcUserPrefix, Log: log,
		}
	} else if cfg.oidcAudience != "" {
		return nil, nil, errors.New("--oidc-audience needs --oidc-issuer")
	}
	switch cfg.auth {
	case "none":
		log.Warn("AUTHENTICATION IS OFF (--auth=none): anyone who reaches this server is an admin of it")
		return nil, idpConfig, nil
	case "token":
	default:
		return nil, nil, fmt.Errorf("--auth %q: must be token or none", cfg.auth)
	}
	var idp *auth.OIDC
	if idpConfig != nil {
		var err error
		if idp, err = auth.NewOIDC(*idpConfig); err != nil {
			return nil, nil, fmt.Errorf("--oidc-issuer: %w", err)
		}
		if err := idp.Discover(ctx); err != nil {
			log.Warn("the OIDC identity source cannot be reached yet; its tokens get 503 until it can", "issuer", cfg.oidcIssuer, "err", err)
		}
		log.Info("OIDC tokens accepted", "issuer", cfg.oidcIssuer, "audience", cfg.oidcAudience)
	}
	path, made, err := bootstrapAdminToken(ctx, st, cfg.dataDir)
	if err != nil {
		return nil, nil, err
	}
	if made {
		log.Warn("first start: an admin API token was made; keep it secret", "file", path)
	} else {
		log.Info("authentication on", "admin_token_file", path)
	}
	return auth.NewAuthenticator(st, idp), idpConfig, nil
}

// bootstrapAdminToken makes the first admin token once per data dir: the token is written to
// <data-dir>/admin.token (mode 0600) before its hash is stored, so a crash in between leaves
// no token that nobody holds.
func bootstrapAdminToken(ctx context.Context, st *bolt.DB, dataDir string) (path string, made bool, err error) {
	path = filepath.Join(dataDir, adminTokenFile)
	done, err := st.Bootstrapped(ctx)
	if err != nil || done {
		return path, false, err
	}
	id := st.NewID()
	secret, hash := auth.NewSecret(id)
	if err := writeSecretFile(path, secret+"\n"); err != nil {
		return path, false, fmt.Errorf("write the admin token: %w", err)
	}
	err = st.BootstrapToken(ctx, store.Token{ID: id, Name: "first admin token", User: "admin", Role: auth.RoleAdmin, Hash: hash, CreatedBy: "gantry server"})
	return path, err == nil, err
}

// writeSecretFile replaces path with content, readable by its owner only, atomically.
func writeSecretFile(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin.token-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.WriteString(content) // CreateTemp made it 0600
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// openLog opens a JSON-lines log: the file named by flag, def when it is "", stderr for "-".
func openLog(flag, def string) (*slog.Logger, func(), error) {
	if flag == "-" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), func() {}, nil
	}
	path := flag
	if path == "" {
		path = def
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewJSONHandler(f, nil)), func() { _ = f.Close() }, nil
}

// listener is a listener and whether it serves TLS.
type listener struct {
	net.Listener
	tls bool
}

// listen opens --addr, with TLS when a certificate is given, and --http-addr if set.
func listen(cfg serverConfig, log *slog.Logger) ([]listener, error) {
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.tlsCert == "" && cfg.httpAddr != "" {
		return nil, errors.New("--http-addr is plain HTTP beside TLS: give --tls-cert and --tls-key too, or use --addr")
	}
	var certs *certfile.Reloader
	if cfg.tlsCert != "" {
		var err error
		if certs, err = certfile.New(cfg.tlsCert, cfg.tlsKey, log); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	if certs == nil {
		warnIfExposed(log, ln.Addr(), cfg.auth)
		return []listener{{Listener: ln}}, nil
	}
	out := []listener{{Listener: tls.NewListener(ln, certs.TLSConfig()), tls: true}}
	if cfg.httpAddr != "" {
		plain, err := net.Listen("tcp", cfg.httpAddr)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.httpAddr, err)
		}
		warnIfExposed(log, plain.Addr(), cfg.auth)
		out = append(out, listener{Listener: plain})
	}
	return out, nil
}

// warnIfExposed warns when a plain-HTTP listener of the management API is reachable from
// other machines: tokens would cross the network in clear, or, with --auth=none, anyone
// there is an admin.
func warnIfExposed(log *slog.Logger, addr net.Addr, authMode string) {
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		if authMode == "none" {
			log.Warn("AUTHENTICATION IS OFF on a listener other machines can reach: anyone there is an admin", "addr", addr.String())
			return
		}
		log.Warn("plain HTTP on a listener other machines can reach: API tokens cross the network in clear; use --tls-cert", "addr", addr.String())
	}
}
