package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/runner"
	"github.com/gantry-dev/gantry/store"
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
	f.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen address")
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

	st, err := store.Open(ctx, cfg.dataDir, store.Options{KeepExecutionsPerRoute: cfg.keepExecutions, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
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
	run, err := runner.New(ctx, docker, runner.Options{
		Instance: st.InstanceID(), MaxOutputBytes: cfg.maxOutput, MaxLogBytes: cfg.maxLog, Log: log,
	})
	if err != nil {
		return err
	}
	invoker := runner.NewInvoker(st, run)
	h, err := handlers.New(handlers.Deps{
		Store: st, Functions: invoker, Version: version, Log: log, MaxCallBody: cfg.maxCallBody,
		MaxOutput: cfg.maxOutput, MaxLog: cfg.maxLog,
	}).Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		run.Close(context.Background())
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	workers, err := invoker.StartWorkers(ctx, runner.WorkerOptions{Count: cfg.asyncWorkers, MaxAttempts: cfg.asyncAttempts, Backoff: cfg.asyncBackoff, Log: log})
	if err != nil {
		ln.Close()
		run.Close(context.Background())
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a request body may not trickle in forever
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if addr := os.Getenv("GANTRY_PPROF_ADDR"); addr != "" {
		go servePprof(addr, log)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "data_dir", cfg.dataDir, "instance", st.InstanceID(), "version", version)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_timeout", cfg.shutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	workers.StopLeasing() // calls and async calls drain together, under one deadline
	if err := srv.Shutdown(drainCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("requests still in flight at the drain timeout", "err", err)
	}
	if err := workers.Wait(drainCtx); err != nil {
		log.Warn("async calls cut short: back in the queue", "err", err)
	}
	cleanupCtx, cancelCleanup := context.WithTimeout(context.Background(), time.Minute)
	defer cancelCleanup()
	if err := run.Close(cleanupCtx); err != nil {
		log.Warn("removing containers", "err", err)
	}
	if err := workers.Wait(cleanupCtx); err != nil { // their last results, before the store closes
		log.Warn("async workers still settling", "err", err)
	}
	log.Info("stopped")
	return nil
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
