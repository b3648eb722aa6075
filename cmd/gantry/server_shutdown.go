package main

// This file holds what the server's shutdown adds to the drain in runServer: saying what it
// waits for, and stopping at once on a second signal.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// drainFigures are what a draining server waits for.
type drainFigures struct {
	running int // calls running in this process, sync and async (workflow steps are async calls)
	async   int // async calls this node's workers hold
}

// String names them for the log: "3 running calls (2 sync, 1 async)", or "nothing".
func (f drainFigures) String() string {
	async := f.async // running, or leased and about to run
	sync := max(f.running-async, 0)
	if sync+async == 0 {
		return "nothing"
	}
	calls := "calls"
	if sync+async == 1 {
		calls = "call"
	}
	return fmt.Sprintf("%d running %s (%d sync, %d async)", sync+async, calls, sync, async)
}

// drainProgressEvery is how often a drain says what it still waits for.
const drainProgressEvery = 5 * time.Second

// watchDrain logs what the drain still waits for every drainProgressEvery, and ends the
// drain at once (cancel) on a second SIGINT or SIGTERM: running calls are then ended by the
// runner's Close, and async ones go back to the queue. The returned func stops watching.
func watchDrain(ctx context.Context, cancel context.CancelFunc, figures func() drainFigures, log *slog.Logger) (stop func()) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, syscall.SIGINT, syscall.SIGTERM)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(drainProgressEvery)
		defer tick.Stop()
		for {
			select {
			case sig := <-again:
				log.Warn("second signal: stopping now; running calls are ended, async calls go back to the queue",
					"signal", sig.String(), "ending", figures().String())
				cancel()
				return
			case <-tick.C:
				if f := figures(); f.running+f.async > 0 {
					log.Info("still draining", "waiting_for", f.String(), "signal_again_to_stop_now", true)
				}
			case <-ctx.Done():
				return
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(again)
		close(quit)
		<-done
	}
}
