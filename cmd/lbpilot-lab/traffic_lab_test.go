package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/traffic"
)

// TestTrafficThroughHAProxyKillsAndBringsBackANode runs a plan of WCS
// sessions through a real haproxy onto two lab nodes: the sessions spread
// over both by name, killing wcs1 through /lab/clients cuts its sessions
// (and only its) while new ones land on wcs2, and bringing it back makes
// it take sessions again.
func TestTrafficThroughHAProxyKillsAndBringsBackANode(t *testing.T) {
	nodes := map[string]*lab.Server{}
	for _, name := range []string{"wcs1", "wcs2"} {
		s, err := lab.Start(lab.Config{Kind: lab.WCS, Name: name, ClientAddrs: []string{"127.0.0.1:0"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		nodes[name] = s
	}
	addr := func(name string) string {
		return strings.TrimSuffix(strings.TrimPrefix(nodes[name].ClientURLs[0], "ws://"), "/")
	}
	port := testenv.FreePort(t)
	haproxytest.Start(t, haproxytest.Global+fmt.Sprintf(`
frontend fe_wcs
    mode http
    bind 127.0.0.1:%d
    default_backend be_wcs_ws

backend be_wcs_ws
    mode http
    balance roundrobin
    timeout tunnel 1h
    option redispatch
    retries 3
    default-server check inter 100ms fall 1 rise 1
    server wcs1 %s
    server wcs2 %s
`, port, addr("wcs1"), addr("wcs2")))

	plan := fmt.Sprintf(`{"seed": 7, "caps": {"max_concurrent": 200, "max_total": 500, "max_duration": "20s"},
  "protocols": {"wcs": {"target": "ws://127.0.0.1:%d/", "rate": 20, "mix": {"publish": 1, "play": 1},
    "lifetime": {"dist": "fixed", "value": "1500ms"}, "streams": 3, "options": {"bitrate": "64"}}},
  "phases": [
    {"name": "warm", "kind": "steady", "duration": "1s"},
    {"name": "killed", "kind": "node-killed", "node": "wcs1", "duration": "1s",
     "request": {"url": "%s/lab/clients", "body": {"open": false}}},
    {"name": "back", "kind": "node-back", "node": "wcs1", "duration": "1s",
     "request": {"url": "%s/lab/clients", "body": {"open": true}}}]}`, port, nodes["wcs1"].URL, nodes["wcs1"].URL)
	dir := t.TempDir()
	pf, report := filepath.Join(dir, "plan.json"), filepath.Join(dir, "report.jsonl")
	if err := os.WriteFile(pf, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testenv.SyncBuffer
	if code := run(context.Background(), []string{"traffic", "--plan=" + pf, "--report=" + report, "--report-interval=100ms", "--log.level=warn"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var snaps []traffic.Snapshot
	var sum *traffic.Summary
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var line struct {
			Summary *traffic.Summary `json:"summary"`
			traffic.Snapshot
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if line.Summary != nil {
			sum = line.Summary
			continue
		}
		snaps = append(snaps, line.Snapshot)
	}
	if sum == nil || sum.StoppedBy != "plan" {
		t.Fatalf("summary %+v", sum)
	}
	w := sum.Protocols["wcs"]
	n1, n2 := w.Nodes["wcs1"], w.Nodes["wcs2"]
	t.Logf("wcs1 %+v, wcs2 %+v, refused %d, unknown %+v", n1, n2, w.Refused, w.Nodes["unknown"])
	if n1.Opened == 0 || n2.Opened == 0 {
		t.Errorf("sessions did not spread over both nodes: wcs1 %+v, wcs2 %+v", n1, n2)
	}
	// The kill cut wcs1's sessions, only wcs1's; the others ended.
	if n1.Cut == 0 || n2.Cut != 0 || w.Cut != n1.Cut {
		t.Errorf("cuts: wcs1 %d, wcs2 %d, all %d", n1.Cut, n2.Cut, w.Cut)
	}
	if n2.Ended != n2.Opened || n1.Ended == 0 || n1.Ended+n1.Cut != n1.Opened {
		t.Errorf("outcomes: wcs1 %+v, wcs2 %+v", n1, n2)
	}
	for _, f := range sum.Failures {
		if f.Outcome == traffic.OutcomeCut && (f.Node != "wcs1" || f.Phase != "warm") {
			t.Errorf("a cut other than wcs1's warm-phase sessions: %+v", f)
		}
	}
	// While killed, new sessions land on wcs2 only.
	opened := func(phase, node string, last bool) (int64, bool) {
		var got int64
		found, seen := false, 0
		for _, s := range snaps {
			if s.Phase != phase {
				continue
			}
			seen++
			if seen == 2 && !last || last {
				got, found = s.Protocols["wcs"].Nodes[node].Opened, true
				if !last {
					break
				}
			}
		}
		return got, found
	}
	k1a, ok1 := opened("killed", "wcs1", false)
	k1b, ok2 := opened("killed", "wcs1", true)
	k2a, _ := opened("killed", "wcs2", false)
	k2b, _ := opened("killed", "wcs2", true)
	if !ok1 || !ok2 || k1b != k1a || k2b <= k2a {
		t.Errorf("during the kill: wcs1 opened %d -> %d, wcs2 %d -> %d", k1a, k1b, k2a, k2b)
	}
	// Back: wcs1 takes sessions again.
	if n1.Opened <= k1b {
		t.Errorf("after node-back wcs1 opened %d, %d before", n1.Opened, k1b)
	}
	if st := nodes["wcs1"].ClientPorts(); !st.Open || st.Kills != 1 {
		t.Errorf("wcs1 ports %+v", st)
	}
}
