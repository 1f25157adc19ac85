package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestBadFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--no-such-flag"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2; %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "no-such-flag") {
		t.Errorf("stderr %q", errOut.String())
	}
}

// Without the binaries of `make build` the demo says what is missing and
// how to get it, and where the logs are.
func TestMissingBinaries(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--dir=" + t.TempDir(), "--bin=" + t.TempDir(), "--repo=../.."}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1; %s", code, errOut.String())
	}
	for _, want := range []string{"missing programs: lbpilot, lbpilot-lab", "make build", "logs are in"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

// A taken port is named with what the demo wanted it for, before
// anything starts.
func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// sh stands in for every program: nothing may start.
	sh := testenv.Binary(t, "sh")
	bin := t.TempDir()
	for _, name := range []string{"lbpilot", "lbpilot-lab"} {
		if err := os.Symlink(sh, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, prog := range []string{"haproxy", "prometheus", "prometheus-alertmanager", "promtool", "amtool"} {
		testenv.Binary(t, prog)
	}
	var out, errOut bytes.Buffer
	// --port-base puts HAProxy's stats page on the taken port.
	code := run(context.Background(), []string{"--dir=" + t.TempDir(), "--bin=" + bin, "--repo=../..", "--port-base=" + strconv.Itoa(port)}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1; %s", code, errOut.String())
	}
	if want := "port " + strconv.Itoa(port) + " (HAProxy stats page) is taken by pid "; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks %q: %s", want, errOut.String())
	}
}
