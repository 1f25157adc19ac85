package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{{nil, 0}, {[]time.Duration{3}, 3}, {[]time.Duration{5, 1, 3}, 3}, {[]time.Duration{4, 1, 3, 2}, 2}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSRSGroupsPageLikeTheCollector(t *testing.T) {
	g := srsGroups(1000, 2500, 1000)
	if len(g[4]) != 2 || len(g[5]) != 3 {
		t.Errorf("streams pages %v, clients pages %v", g[4], g[5])
	}
	if g[5][2] != "/api/v1/clients/?start=2000&count=1000" {
		t.Errorf("last page %s", g[5][2])
	}
}

// TestQuickRun builds lbpilot and runs a small measurement end to end:
// every row is produced and every target is up.
func TestQuickRun(t *testing.T) {
	goBin := testenv.Binary(t, "go")
	bin := filepath.Join(t.TempDir(), "lbpilot")
	if out, err := exec.Command(goBin, "build", "-o", bin, "../../../cmd/lbpilot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	md, err := run(config{lbpilot: bin, targets: 9, rounds: 1, probeRounds: 3, bigStreams: 20, bigClients: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"9 lab targets (3 WCS, 2 SRS origins, 1 SRS edges, 3 two-node EMQX)", "--scrape.concurrency=16", "--scrape.concurrency=64",
		"/probe?module=wcs", "/probe?module=srs", "/probe?module=emqx", "20 streams and 200 clients"} {
		if !strings.Contains(md, want) {
			t.Errorf("fragment lacks %q:\n%s", want, md)
		}
	}
	if n := strings.Count(md, "\n| "); n != 7 { // the header and six measurements
		t.Errorf("%d table rows, want 7:\n%s", n, md)
	}
}
