package main

import (
	"os"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestRSSAndSeriesCells(t *testing.T) {
	if r, s := (&contender{name: "raw"}).rssAndSeries(); r != "—" || s != "—" {
		t.Errorf("no process, no series: %q %q", r, s)
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		if testenv.InCI() {
			t.Fatalf("no /proc: %v", err)
		}
		t.Skip("no /proc")
	}
	r, s := (&contender{name: "lbpilot", pid: os.Getpid(), nser: 1234}).rssAndSeries()
	if !strings.HasSuffix(r, " MB") || r == "0 MB" || s != "1234" {
		t.Errorf("own process: %q %q", r, s)
	}
}
