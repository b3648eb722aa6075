package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/handlers"
	"github.com/gantry-dev/gantry/store"
)

type serverConfig struct {
	addr            string
	dataDir         string
	shutdownTimeout time.Duration
	logLevel        string
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
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runServer(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.addr, "addr", envOr("GANTRY_ADDR", "127.0.0.1:8080"), "listen address (GANTRY_ADDR)")
	f.StringVar(&cfg.dataDir, "data-dir", envOr("GANTRY_DATA_DIR", "./data"), "directory of the bbolt database (GANTRY_DATA_DIR)")
	f.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", envDuration("GANTRY_SHUTDOWN_TIMEOUT", 30*time.Second), "how long shutdown waits for requests in flight (GANTRY_SHUTDOWN_TIMEOUT)")
	f.StringVar(&cfg.logLevel, "log-level", envOr("GANTRY_LOG_LEVEL", "info"), "debug, info, warn or error (GANTRY_LOG_LEVEL)")
	return cmd
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// runServer serves until ctx is cancelled, then drains requests in flight for up to
// cfg.shutdownTimeout and closes the store.
func runServer(ctx context.Context, cfg serverConfig) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	st, err := store.Open(ctx, cfg.dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	h, err := handlers.New(st, version, log).Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "data_dir", cfg.dataDir, "version", version)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_timeout", cfg.shutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
