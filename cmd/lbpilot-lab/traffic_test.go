package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/traffic"
)

// holdServer accepts loopback connections and holds them until the test ends.
func holdServer(t *testing.T) string {
	return "tcp://" + testenv.ServeTCP(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c); c.Close() })
}

func writePlan(t *testing.T, target, phases string) string {
	t.Helper()
	plan := fmt.Sprintf(`{"seed": 1, "caps": {"max_concurrent": 50, "max_total": 500, "max_duration": "5s"},
  "protocols": {"tcp": {"target": %q, "rate": 50, "mix": {"hold": 1, "echo": 1}, "lifetime": {"dist": "fixed", "value": "100ms"}}},
  "phases": %s}`, target, phases)
	f := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(f, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTrafficRuns(t *testing.T) {
	plan := writePlan(t, holdServer(t), `[{"kind": "steady", "duration": "300ms"}, {"kind": "flash-crowd", "factor": 2, "duration": "300ms"}]`)
	report := filepath.Join(t.TempDir(), "report.jsonl")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int)
	go func() {
		done <- run(context.Background(), []string{"traffic", "--plan=" + plan, "--report=" + report, "--metrics-address=" + addr,
			"--report-interval=100ms", "--log.level=warn"}, &stdout, &stderr)
	}()
	scraped := false
	for !scraped {
		select {
		case code := <-done:
			t.Fatalf("exit %d before a scrape: %s", code, stderr.String())
		default:
		}
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			scraped = strings.Contains(string(b), `lbpilot_traffic_sessions_opened_total{node="unknown",protocol="tcp"}`)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last struct{ Summary *traffic.Summary }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Summary == nil {
		t.Fatalf("last line %s: %v", lines[len(lines)-1], err)
	}
	if s := last.Summary; s.StoppedBy != "plan" || s.Protocols["tcp"].Ended == 0 || s.Protocols["tcp"].Ended != s.Protocols["tcp"].Opened || len(lines) < 4 {
		t.Errorf("summary %+v, %d lines", s, len(lines))
	}
	if stdout.String() != "" {
		t.Errorf("stdout: %s", stdout.String())
	}
}

// With --report=- (the default) the lines go to stdout; a failed phase
// hook is a runtime failure.
func TestTrafficHookFailure(t *testing.T) {
	plan := writePlan(t, holdServer(t), fmt.Sprintf(`[{"kind": "steady", "duration": "100ms"},
		{"kind": "node-killed", "node": "wcs1", "duration": "100ms", "request": {"url": "http://%s/lab/fault"}}]`, testenv.ClosedPort(t)))
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"traffic", "--plan=" + plan, "--log.level=error"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"stopped_by":"hook"`) || !strings.Contains(stderr.String(), "2-node-killed") {
		t.Errorf("stdout %s\nstderr %s", stdout.String(), stderr.String())
	}
}

func TestTrafficRejects(t *testing.T) {
	dir := t.TempDir()
	good := writePlan(t, "tcp://127.0.0.1:1", `[{"kind": "steady", "duration": "100ms"}]`)
	bad := writePlan(t, "tcp://10.1.2.3:1", `[{"kind": "steady", "duration": "100ms"}]`)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"traffic"}, 2, "required flag(s) '--plan' not provided"},
		{[]string{"traffic", "--plan=" + filepath.Join(dir, "none.json")}, 2, "--plan:"},
		{[]string{"traffic", "--plan=" + bad}, 2, "protocols.tcp.target"},
		{[]string{"traffic", "--plan=" + good, "--bogus"}, 2, "unknown long flag"},
		{[]string{"traffic", "--plan=" + good, "--wcs=2"}, 2, "unknown long flag '--wcs'"},
		{[]string{"traffic", "--plan=" + good, "--report-interval=0s"}, 2, "--report-interval"},
		{[]string{"traffic", "--plan=" + good, "--metrics-address=0.0.0.0:9799"}, 2, "loopback"},
		{[]string{"traffic", "--plan=" + good, "--metrics-address=nohost"}, 2, "loopback"},
		{[]string{"traffic", "--plan=" + good, "--log.level=loud"}, 2, ""},
		{[]string{"traffic", "--plan=" + good, "--metrics-address=" + busy.Addr().String()}, 1, "Listening for metrics"},
		{[]string{"traffic", "--plan=" + good, "--report=" + filepath.Join(dir, "no", "such", "dir")}, 1, "Opening the report"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, want %d; stderr %q, want %q", c.args, code, c.code, errb.String(), c.want)
		}
	}
}

func TestHelpListsBothCommands(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errb.String())
		}
		if args[0] == "--version" {
			continue
		}
		for _, want := range []string{"serve*", "--wcs=", "--[no-]client-ports", "traffic --plan=FILE", "--metrics-address=", "--report="} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: %q not in\n%s", args, want, out.String())
			}
		}
	}
}

// serve named explicitly takes the same flags as no command.
func TestServeExplicit(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--wcs=0", "--srs-edge=0", "--emqx=0", "--load=nginx={}"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown group") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := run(ctx, []string{"--log.level=error", "serve", "--wcs=1", "--srs-origin=0", "--srs-edge=0", "--emqx=0"}, &out, &errb); code != 0 {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}
