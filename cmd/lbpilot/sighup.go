package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// reloadOnHUP calls reload on every SIGHUP until ctx ends or stop is
// called, as every role reloads its configuration. reload logs its own
// outcome and sets lbpilot_config_last_reload_successful, so its error is
// not used here. stop stops listening for the signal and returns once no
// reload can start any more; call it when the role returns.
func reloadOnHUP(ctx context.Context, reload func() error) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-hup:
				_ = reload()
			case <-ctx.Done():
				return
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(quit)
		<-done
	}
}
