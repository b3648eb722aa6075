package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/auth"
	"github.com/gantry-dev/gantry/events"
	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/invoke"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/schedule"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/workflow"
)

type serverConfig struct {
	addr            string
	dataDir         string
	store           string // --store URL: "" for a bolt store in dataDir
	storePassword   string // --store-password-file
	node            string // --node: "" for the store's instance ID (bolt) or the data dir's node-id
	lease           time.Duration
	shutdownTimeout time.Duration
	logLevel        string
	maxCallBody     int64
	maxEventSize    int64 // --max-event-size: bound of a POST /v1/events body
	schedules       bool  // --schedules: this node fires schedules' ticks
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
	oidcUserGroup     string
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

	ironFunctionsAddr string // the IronFunctions compatibility listener; "": off

	secrets secretsConfig
	images  imagesConfig
	console consoleConfig
}

// serverEnv names the environment variable of each server flag.
var serverEnv = map[string]string{ //nolint:gosec // G101: names of environment variables, not credentials
	"addr":                "GANTRY_ADDR",
	"data-dir":            "GANTRY_DATA_DIR",
	"store":               "GANTRY_STORE",
	"store-password-file": "GANTRY_STORE_PASSWORD_FILE",
	"node":                "GANTRY_NODE",
	"lease":               "GANTRY_LEASE",
	"shutdown-timeout":    "GANTRY_SHUTDOWN_TIMEOUT",
	"log-level":           "GANTRY_LOG_LEVEL",
	"max-call-body":       "GANTRY_MAX_CALL_BODY",
	"max-event-size":      "GANTRY_MAX_EVENT_SIZE",
	"schedules":           "GANTRY_SCHEDULES",
	"max-output":          "GANTRY_MAX_OUTPUT",
	"max-log":             "GANTRY_MAX_LOG",
	"keep-executions":     "GANTRY_KEEP_EXECUTIONS",
	"async-workers":       "GANTRY_ASYNC_WORKERS",
	"async-attempts":      "GANTRY_ASYNC_ATTEMPTS",
	"async-backoff":       "GANTRY_ASYNC_BACKOFF",
	"function-network":    "GANTRY_FUNCTION_NETWORK",
	"network":             "GANTRY_NETWORKS",
	"max-image-upload":    "GANTRY_MAX_IMAGE_UPLOAD",
	"image-builds":        "GANTRY_IMAGE_BUILDS",
	"image-build-timeout": "GANTRY_IMAGE_BUILD_TIMEOUT",
	"image-build-memory":  "GANTRY_IMAGE_BUILD_MEMORY",
	"image-build-cpus":    "GANTRY_IMAGE_BUILD_CPUS",

	"auth":                 "GANTRY_AUTH",
	"oidc-issuer":          "GANTRY_OIDC_ISSUER",
	"oidc-audience":        "GANTRY_OIDC_AUDIENCE",
	"oidc-username-claim":  "GANTRY_OIDC_USERNAME_CLAIM",
	"oidc-groups-claim":    "GANTRY_OIDC_GROUPS_CLAIM",
	"oidc-admin-group":     "GANTRY_OIDC_ADMIN_GROUP",
	"oidc-user-group":      "GANTRY_OIDC_USER_GROUP",
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

	"ironfunctions-addr": "GANTRY_IRONFUNCTIONS_ADDR",

	"secret-key-file":      "GANTRY_SECRET_KEY_FILE",
	"rotate-secret-key":    "GANTRY_ROTATE_SECRET_KEY",
	"secrets-dir":          "GANTRY_SECRETS_DIR",
	"vault-addr":           "GANTRY_VAULT_ADDR",
	"vault-mount":          "GANTRY_VAULT_MOUNT",
	"vault-prefix":         "GANTRY_VAULT_PREFIX",
	"vault-ca-cert":        "GANTRY_VAULT_CA_CERT",
	"vault-namespace":      "GANTRY_VAULT_NAMESPACE",
	"vault-token-file":     "GANTRY_VAULT_TOKEN_FILE",
	"vault-role-id":        "GANTRY_VAULT_ROLE_ID",
	"vault-secret-id-file": "GANTRY_VAULT_SECRET_ID_FILE",
}

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
	f.StringVar(&cfg.dataDir, "data-dir", "./data", "this node's own directory: audit and access logs, admin.token, node-id, and the bbolt database unless --store says otherwise")
	f.StringVar(&cfg.store, "store", "", "where state is kept: bolt://PATH (bolt://./data, bolt:///var/lib/gantry) or postgres://USER@HOST/DB, shared by several nodes (default: bbolt in --data-dir)")
	f.StringVar(&cfg.storePassword, "store-password-file", "", "file holding the password of a postgres --store (one trailing newline dropped)")
	f.StringVar(&cfg.node, "node", "", "this node's ID, "+nodeIDRule.String()+": its containers' gantry.instance label and its leases (default: the bbolt store's ID, or the one kept in <data-dir>/node-id)")
	f.DurationVar(&cfg.lease, "lease", store.DefaultLease, "lease of an async call on a worker, renewed every third of it while the node lives: a dead node's calls are back in the queue within it (at least 1s)")
	f.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests in flight")
	f.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	f.Int64Var(&cfg.maxCallBody, "max-call-body", 1<<20, "largest request body of a function call, in bytes (413 above)")
	f.Int64Var(&cfg.maxEventSize, "max-event-size", events.DefaultMaxEventBytes, "largest body of a publish (POST /v1/events), in bytes, whatever its mode: an event, or a batch's events together (413 above)")
	f.BoolVar(&cfg.schedules, "schedules", true, "fire the ticks of schedules on this node (false: it serves them but fires none; other nodes sharing the store do, each tick once)")
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
	f.StringVar(&cfg.oidcUserGroup, "oidc-user-group", "", "members of this OIDC group (not admins) are end users (role user), who may only run the workflows shared with them")
	f.StringVar(&cfg.oidcUserPrefix, "oidc-username-prefix", "oidc:", `put before OIDC user names, so they cannot be taken for token users such as "admin"`)
	f.StringSliceVar(&cfg.corsOrigins, "cors-origins", nil, `origins browsers may call the API from, comma-separated ("*": any); none: CORS off`)
	f.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS on --addr; reloaded when the file changes")
	f.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&cfg.httpAddr, "http-addr", "", "also serve plain HTTP on this address (with TLS on --addr)")
	f.StringVar(&cfg.auditLog, "audit-log", "", `file of the audit log, JSON lines (default <data-dir>/audit.log; "-": stderr)`)
	f.StringVar(&cfg.readyFile, "ready-file", "", `write this file atomically once every listener is bound, removed on shutdown: JSON of the bound addresses, {"addr","tls","http_addr","gateway":[{"addr","tls"}],"ironfunctions_addr","instance","data_dir","version","pid"}`)
	f.StringVar(&cfg.gatewayAddr, "gateway-addr", "127.0.0.1:8081", `gateway listener for APIs over plain HTTP ("": off)`)
	f.StringVar(&cfg.gatewayTLSAddr, "gateway-tls-addr", "127.0.0.1:8443", `gateway listener for APIs over HTTPS, certificates picked by SNI ("": off)`)
	f.StringVar(&cfg.gatewayTLSCert, "gateway-tls-cert", "", "PEM certificate the gateway serves for hostnames no API has a certificate for")
	f.StringVar(&cfg.gatewayTLSKey, "gateway-tls-key", "", "PEM private key of --gateway-tls-cert")
	f.IntVar(&cfg.gatewayHTTPSPort, "gateway-https-port", 0, "port clients reach the gateway's HTTPS on, for https_only redirects (default: --gateway-tls-addr's; 443: none in the URL)")
	f.StringVar(&cfg.ironFunctionsAddr, "ironfunctions-addr", "", `listener of the IronFunctions compatibility API (/v1, /version, /r/ for the fn CLI and functions_go; "": off)`)
	f.StringVar(&cfg.gatewayAccessLog, "gateway-access-log", "", `file of the gateway's access log, JSON lines (default <data-dir>/access.log; "-": stderr)`)
	cfg.secrets.flags(f)
	cfg.images.flags(f)
	cfg.console.flags(f)
	for flag, env := range serverEnv {
		fl := f.Lookup(flag)
		fl.Usage += " (" + env + ")"
	}
	return cmd
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
	if cfg.lease < time.Second {
		return fmt.Errorf("--lease %s: at least 1s", cfg.lease)
	}
	spec, err := parseStore(cfg.store, cfg.dataDir)
	if err != nil {
		return err
	}
	if err := readStorePassword(cfg.storePassword, &spec); err != nil {
		return err
	}
	if cfg.node != "" { // a bad --node fails before anything is opened
		if err := validateNodeID(cfg.node, "--node"); err != nil {
			return err
		}
	}
	// A bolt store names its node itself unless --node does; a shared store is opened by a
	// node that knows its ID.
	node := cfg.node
	if node == "" && spec.kind != storeBolt {
		if node, err = nodeID("", spec, "", cfg.dataDir); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, spec, node, cfg.keepExecutions, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close the store", "err", err)
		}
	}()
	if node, err = nodeID(cfg.node, spec, st.InstanceID(), cfg.dataDir); err != nil {
		return err
	}
	// A killed run's file says nothing of this one. (Only now: a second server started on a data
	// dir in use has already failed above, without removing the running one's file.)
	if err := removeReadyFile(cfg.readyFile); err != nil {
		return err
	}
	if cfg.secrets.rotateKey != "" { // a maintenance run: nothing is served
		return rotateSecretKey(ctx, cfg.secrets, cfg.dataDir, st, spec.kind != storeBolt, log)
	}
	secretSvc, closeSecrets, err := openSecrets(ctx, cfg.secrets, cfg.dataDir, st, log)
	if err != nil {
		return err
	}
	defer closeSecrets()
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
		Instance: node, MaxOutputBytes: cfg.maxOutput, MaxLogBytes: cfg.maxLog, Log: log,
		FunctionNetwork: cfg.functionNetwork, Networks: networks, Secrets: secretSvc, SecretsDir: cfg.secrets.containerDir(node),
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
	// Images are built, loaded and pulled on this node's Docker daemon; what a crash left
	// CREATING here ends ERROR. Closed before the store, after the requests drained.
	imageSvc, err := cfg.images.service(st, docker, cfg.dataDir, node, log)
	if err != nil {
		return err
	}
	if err := imageSvc.Start(ctx); err != nil {
		return err
	}
	closeImages := sync.OnceFunc(imageSvc.Close)
	defer closeImages()

	invoker := invoke.New(st, run, invoke.Options{MaxCallBody: cfg.maxCallBody, Node: node, Log: log, Secrets: secretSvc})
	defer invoker.Follow(st)()
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
	// Workflow runs move on through the invocation path, on whichever node their calls end.
	engine := workflow.New(st, invoker, workflow.Options{Log: log})
	if cfg.maxEventSize <= 0 {
		return fmt.Errorf("--max-event-size %d: at least 1 byte", cfg.maxEventSize)
	}
	// Events are matched against a cache of the subscriptions that follows the store's feed,
	// and the calls that finish here become system events: both from before the first request.
	eventSvc := events.New(st, invoker, engine, events.Options{MaxEventBytes: cfg.maxEventSize, Log: log})
	eventSvc.Start(ctx)
	stopEvents := sync.OnceFunc(eventSvc.Stop)
	defer stopEvents()
	scheduler := schedule.New(st, invoker, eventSvc, engine, schedule.Options{Log: log})
	stopTLSKeys := startTLSKeys(ctx, st, secretSvc, log) // keys in clear of older records move to the secret store
	defer stopTLSKeys()
	api := handlers.New(handlers.Deps{
		Store: st, Functions: invoker, Workflows: engine, Events: eventSvc, CheckSchedule: schedule.Check, TLSKeys: secretSvc, Secrets: secretSvc, Version: version, Node: node, Log: log,
		MaxOutput: cfg.maxOutput, MaxLog: cfg.maxLog, Auth: authn, Audit: audit, CORSOrigins: cfg.corsOrigins,
		Metrics: promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}), OIDCDefault: idp != nil, Passwords: passwords,
		Images: imageSvc, MaxImageUpload: imageSvc.Config().MaxUpload,
	})
	h, err := api.Handler()
	if err != nil {
		return err
	}
	listeners, err := listen(cfg, log)
	if err != nil {
		return err
	}
	gwListeners, gwSrv, stopGateway, err := startGateway(ctx, cfg, gatewayDeps{store: st, calls: invoker, tlsKeys: secretSvc, auth: authn, oidc: idp, passwords: passwords, metrics: metrics, log: log})
	if err != nil {
		closeListeners(listeners)
		return err
	}
	defer stopGateway()
	ifListeners, ifSrv, err := listenIronFunctions(cfg, api, log)
	if err != nil {
		closeListeners(append(listeners, gwListeners...))
		return err
	}
	workers, err := invoker.StartWorkers(ctx, invoke.WorkerOptions{Count: cfg.asyncWorkers, MaxAttempts: cfg.asyncAttempts, Backoff: cfg.asyncBackoff, Lease: cfg.lease, Log: log})
	if err != nil {
		closeListeners(append(append(listeners, gwListeners...), ifListeners...))
		return err
	}
	engine.Start(ctx) // resumes the runs left unfinished (a crash, a restart)
	stopEngine := sync.OnceFunc(engine.Stop)
	defer stopEngine()
	stopScheduler := func() {}
	if cfg.schedules { // after the engine: a tick may start a workflow run
		scheduler.Start(ctx)
		stopScheduler = sync.OnceFunc(scheduler.Stop)
	}
	defer stopScheduler()
	// The node tells the store it lives from before it is ready until it has drained.
	stopHeartbeat := invoker.StartHeartbeat(st, store.NodeInfo{Run: st.NewID(), Version: version, Addr: listeners[0].Addr().String()}, store.DefaultLeaseRenew)
	defer stopHeartbeat()
	// The console comes last: it shows the gateway's bound address.
	h, endConsoleStreams, err := withConsole(ctx, cfg, h, st, authn, idp, gwListeners, log)
	if err != nil {
		closeListeners(append(append(listeners, gwListeners...), ifListeners...))
		return err
	}
	srv := newHTTPServer(h, log, slog.LevelWarn)
	if addr := os.Getenv("GANTRY_PPROF_ADDR"); addr != "" {
		go servePprof(addr, log)
	}
	served := make(chan error, len(listeners)+len(gwListeners)+len(ifListeners))
	for _, ln := range listeners {
		go func() { served <- srv.Serve(ln) }()
		log.Info("listening", "addr", ln.Addr().String(), "tls", ln.tls, "data_dir", cfg.dataDir, "store", spec.String(), "node", node, "version", version)
	}
	for _, ln := range gwListeners {
		go func() { served <- gwSrv.Serve(ln) }()
		log.Info("gateway listening", "addr", ln.Addr().String(), "tls", ln.tls)
	}
	for _, ln := range ifListeners {
		go func() { served <- ifSrv.Serve(ln) }()
		log.Info("IronFunctions API listening", "addr", ln.Addr().String())
	}
	// A failure to serve (or to tell that it serves) stops the server as a signal does,
	// draining what runs, and is returned at the end.
	var failed error
	if notReady, err := writeReadyFile(cfg, listeners, gwListeners, ifListeners, node, log); err != nil {
		log.Error("cannot tell that the server is ready; stopping", "err", err)
		failed = err
	} else {
		defer notReady()
		select {
		case err := <-served:
			failed = fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
		}
		notReady() // no longer accepting: whoever waits on the file must not take this server for ready
	}
	figures := func() drainFigures { return drainFigures{running: invoker.Figures().Running, async: workers.Held()} }
	log.Info("shutting down", "drain_timeout", cfg.shutdownTimeout, "waiting_for", figures().String(), "signal_again_to_stop_now", true)
	stopScheduler() // no tick fires while the node drains; the next is another node's, or this one's next run's
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	stopWatching := watchDrain(drainCtx, cancel, figures, log) // a second signal ends the drain now
	defer stopWatching()
	workers.StopLeasing() // calls and async calls drain together, under one deadline
	api.EndStreams()      // Shutdown does not cancel requests: event streams, followed logs and long polls end now
	endConsoleStreams()   // and so do the console's live regions
	var drained sync.WaitGroup
	servers := []*http.Server{srv, gwSrv}
	if ifSrv != nil {
		servers = append(servers, ifSrv)
	}
	for _, s := range servers {
		drained.Go(func() {
			if err := s.Shutdown(drainCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("requests still in flight at the drain timeout", "err", err)
			}
		})
	}
	drained.Wait()
	closeImages() // running builds end ERROR "interrupted"
	if err := workers.Wait(drainCtx); err != nil {
		log.Warn("async calls cut short: back in the queue", "err", err)
	}
	if f := figures(); f.running+f.async > 0 {
		log.Warn("ending the calls still running", "calls", f.String())
	}
	closeRunner()
	waitCtx, cancelWait := context.WithTimeout(context.Background(), time.Minute)
	defer cancelWait()
	if err := workers.Wait(waitCtx); err != nil { // their last results, before the store closes
		log.Warn("async workers still settling", "err", err)
	}
	stopEngine() // a run whose call ended meanwhile moves on at the next start, or on another node
	stopEvents() // after the calls, so that none tells it of its end once stopped; system events still queued are dropped (at most once)
	stopHeartbeat()
	log.Info("stopped")
	return failed
}
