package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// Each SIGHUP calls reload, a failing reload does not stop the loop, and
// once stopped a SIGHUP reloads nothing.
func TestReloadOnHUP(t *testing.T) {
	// Keeps a SIGHUP sent after stop from ending the test binary.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, syscall.SIGHUP)
	defer signal.Stop(caught)
	calls := make(chan struct{}, 4)
	stop := reloadOnHUP(context.Background(), func() error {
		calls <- struct{}{}
		return errors.New("bad file")
	})
	for i := range 2 {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("SIGHUP %d: no reload", i+1)
		}
		<-caught
	}
	stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	<-caught
	select {
	case <-calls:
		t.Fatal("reload after stop")
	case <-time.After(200 * time.Millisecond):
	}
}

// The loop ends with its context: stop returns at once afterwards.
func TestReloadOnHUPEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := reloadOnHUP(ctx, func() error { t.Error("reload without SIGHUP"); return nil })
	cancel()
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return after the context ended")
	}
}
