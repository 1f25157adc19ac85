package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/testenv"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

func TestAgentCLI(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	updown := file("updown.yml", "agent:\n  mode: updown\n  thresholds: {cpu: 70}\n")
	badKey := file("bad.yml", "agent:\n  thresholdz: {cpu: 70}\n")
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"agent", "--help"}, 0, "--agent.threshold=NAME=VALUE", ""},
		{[]string{"agent", "--config.check"}, 0,
			"agent configuration OK: source wcs at http://localhost:8081/?action=stat, mode weight, thresholds cpu=90 publishers=100 subscribers=100 hls=100 band-in=100 band-out=100", ""},
		{[]string{"agent", "--config.check", "--agent.threshold=cpu=70", "--agent.threshold=hls=off", "--agent.mode=updown"}, 0,
			"mode updown, thresholds cpu=70 publishers=100 subscribers=100 band-in=100 band-out=100", ""},
		{[]string{"agent", "--config.check", "--config.file=../../examples/agent.yml"}, 0, "agent configuration OK", ""},
		// The file sets updown and cpu=70; flags given override it key by key.
		{[]string{"agent", "--config.check", "--config.file=" + updown, "--agent.threshold=hls=50"}, 0, "mode updown, thresholds cpu=70 publishers=100 subscribers=100 hls=50", ""},
		{[]string{"agent", "--config.check", "--config.file=" + updown, "--agent.mode=weight"}, 0, "mode weight, thresholds cpu=70", ""},
		{[]string{"agent", "--config.check", "--agent.source=srs", "--agent.threshold=clients=5000"}, 0,
			"source srs at http://localhost:1985, mode weight, thresholds cpu=90 band-in=100 band-out=100 clients=5000 streams=100", ""},
		{[]string{"agent", "--config.check", "--agent.source=emqx", "--agent.target=http://10.0.0.11:18083"}, 0, "source emqx at http://10.0.0.11:18083", ""},
		{[]string{"agent", "--config.check", "--agent.threshold=ram=5"}, 1, "", `unknown threshold "ram"`},
		{[]string{"agent", "--config.check", "--agent.threshold=connections=5"}, 1, "", "source wcs does not measure it"},
		{[]string{"agent", "--config.check", "--agent.weight.floor=0"}, 1, "", "weight floor 0"},
		{[]string{"agent", "--config.check", "--agent.allow=10.0.0.0/40"}, 1, "", `allow "10.0.0.0/40"`},
		{[]string{"agent", "--config.check", "--agent.target=localhost:8081"}, 1, "", "target: wcs URL"},
		{[]string{"agent", "--config.check", "--agent.source=emqx", "--agent.emqx.api-key-file=/nonexistent/key"}, 1, "", "api_key_file"},
		{[]string{"agent", "--config.check", "--config.file=/nonexistent.yml"}, 1, "", "reading config"},
		{[]string{"agent", "--config.check", "--config.file=" + badKey}, 1, "", "line 2: field thresholdz not found"},
		{[]string{"agent", "--agent.source=nginx"}, 2, "", "enum value must be one of wcs,srs,emqx"},
		{[]string{"agent", "--log.format=xml"}, 2, "", `invalid --log.format "xml"`},
		// Listeners that cannot be opened end the process with 1.
		{[]string{"agent", "--agent.listen-address=256.0.0.1:1", "--agent.http-listen-address="}, 1, "", "Listening for agent checks"},
		{[]string{"agent", "--agent.listen-address=127.0.0.1:0", "--agent.http-listen-address=256.0.0.1:1"}, 1, "", "Agent stopped"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runArgs(tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.inStdout) || !strings.Contains(stderr, tt.inStderr) {
			t.Errorf("lbpilot %v = %d\nstdout %q\nstderr %q", tt.args, code, stdout, stderr)
		}
	}
}

// agentCheck connects like HAProxy and returns everything the agent sent.
func agentCheck(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAgentProcess runs the real binary in front of a lab WCS, checked by
// a real haproxy: the weight HAProxy shows and /health follow the lab's
// load, /metrics shows the decisions, SIGTERM ends it cleanly.
func TestAgentProcess(t *testing.T) {
	testenv.Binary(t, "haproxy")
	l, err := lab.Start(lab.Config{Kind: lab.WCS, Load: lab.Load{Subscribers: 10}}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bin := buildBinary(t)
	agentPort, httpPort := testenv.FreePort(t), testenv.FreePort(t)
	inst := haproxytest.Start(t, haproxytest.Global+fmt.Sprintf(`
backend bk_wcs
    mode tcp
    server wcs1 %s weight 100 check inter 300ms agent-check agent-addr 127.0.0.1 agent-port %d agent-inter 300ms
`, haproxytest.Listener(t), agentPort))

	proc := startProcess(t, bin, "agent",
		fmt.Sprintf("--agent.listen-address=127.0.0.1:%d", agentPort),
		fmt.Sprintf("--agent.http-listen-address=127.0.0.1:%d", httpPort),
		"--agent.target="+l.URL+"/?action=stat",
		"--agent.threshold=cpu=off", // the test machine's own load must not move the weight
		"--agent.cache-ttl=100ms",
		"--agent.allow=127.0.0.0/8",
		"--log.format=json")
	logs := proc.logs
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitHTTP(t, base+"/-/ready")

	if got := agentCheck(t, fmt.Sprintf("127.0.0.1:%d", agentPort)); got != "up 100%\n" {
		t.Errorf("agent check: %q", got)
	}
	weight := func() string {
		st, err := haproxyapi.ParseStat([]byte(inst.Exec(t, "show stat")))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < st.Rows(); i++ {
			if st.Get(i, "svname") == "wcs1" {
				return st.Get(i, "status") + " " + st.Get(i, "weight")
			}
		}
		return ""
	}
	for _, step := range []struct {
		load   lab.Load
		health int
		weight string
	}{
		{lab.Load{Subscribers: 10}, 200, "UP 100"},
		{lab.Load{Subscribers: 80}, 200, "UP 41"},
		{lab.Load{Subscribers: 150}, 503, "UP 1"},
		{lab.Load{Subscribers: 10}, 200, "UP 100"},
	} {
		if err := l.SetLoad(step.load); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			code, _ := fetch(t, base+"/health")
			return code == step.health && weight() == step.weight
		})
	}
	code, body := fetch(t, base+"/metrics")
	for _, want := range []string{`lbpilot_agent_replies_total{kind="up"}`, `lbpilot_agent_info{mode="weight",source="wcs"} 1`, "lbpilot_agent_weight_ratio 1", "lbpilot_build_info{", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, body := fetch(t, base+"/"); code != 200 || !strings.Contains(body, "lbpilot agent") {
		t.Errorf("landing page: %d", code)
	}

	proc.stop(t)
	for _, want := range []string{`"msg":"Starting lbpilot agent"`, `"thresholds":"publishers=100 subscribers=100 hls=100 band-in=100 band-out=100"`, `"msg":"Threshold reached"`, `"reason":"subscribers 150/100"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// TestFlagsDocumented: every flag of each role's --help is in that role's
// flags table in docs/.
func TestFlagsDocumented(t *testing.T) {
	for _, tc := range []struct {
		role, page string
		min        int
		anchor     string
	}{
		{"agent", "docs/agent.md", 15, "flags"},
		{"exporter", "docs/exporter.md", 10, "flags"},
		{"rebalancer", "docs/rebalancer.md", 10, "flags"},
		{"ctl", "docs/rebalancer.md", 12, "ctl-flags"},
	} {
		t.Run(tc.role, func(t *testing.T) {
			code, help, _ := runArgs(tc.role, "--help")
			if code != 0 {
				t.Fatal(code)
			}
			section := docstest.Section(t, tc.page, tc.anchor)
			n := 0
			for _, f := range strings.Fields(help) {
				if !strings.HasPrefix(f, "--") {
					continue
				}
				name, _, _ := strings.Cut(strings.Replace(f, "--[no-]", "--", 1), "=")
				if strings.HasPrefix(name, "--help") || name == "--version" {
					continue
				}
				n++
				if !strings.Contains(section, "`"+name+"`") {
					t.Errorf("%s#flags lacks %s", tc.page, name)
				}
			}
			if n < tc.min {
				t.Fatalf("only %d flags found in --help", n)
			}
		})
	}
}
