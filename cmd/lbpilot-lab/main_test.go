package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// TestRunServesAndWritesAddresses starts a small lab, checks every server
// answers its API, and that cancelling stops it.
func TestRunServesAndWritesAddresses(t *testing.T) {
	dir := t.TempDir()
	addrs := filepath.Join(dir, "lab.json")
	profile := filepath.Join(dir, "profile.json")
	if err := os.WriteFile(profile, []byte(`{"wcs2":{"steps":[{"at":"0s","load":{"publishers":4}}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--wcs=2", "--srs-origin=1", "--srs-edge=1", "--emqx=1", "--addresses-file=" + addrs,
			"--load=srs-origin={\"publishers\":3,\"subscribers\":9}", "--profile=" + profile, "--log.level=error"}, &stdout, &stderr)
	}()
	list := waitAddresses(t, addrs, &stderr)
	if len(list) != 5 {
		t.Fatalf("%d servers: %+v", len(list), list)
	}
	paths := map[lab.Kind]string{lab.WCS: "/?action=stat", lab.SRS: "/api/v1/summaries", lab.EMQX: "/api/v5/nodes"}
	for _, s := range list {
		resp, err := http.Get(s.URL + paths[s.Kind])
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: HTTP %d", s.Name, resp.StatusCode)
		}
		if !strings.Contains(stdout.String(), s.URL) {
			t.Errorf("stdout does not list %s", s.URL)
		}
	}
	byName := map[string]lab.Status{}
	for _, s := range list {
		byName[s.Name] = s
	}
	if byName["srs-origin1"].Load.Publishers != 3 || !byName["wcs2"].Profile || byName["srs-edge1"].Role != "edge" {
		t.Errorf("loads and profiles not applied: %+v", list)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := http.Get(list[0].URL + "/?action=stat"); err == nil {
		t.Error("still serving after stop")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--load=nginx={}"},
		{"--load=wcs={\"bogus\":1}"},
		{"--srs-version=2.0"},
		{"--profile=/nonexistent"},
		{"--capacity=nginx={}"},
		{"--capacity=wcs={\"sessions\":-1}"},
		{"--capacity=wcs={\"refuse\":true}"},
		{"--capacity=wcs={\"bogus\":1}"},
		{"--load=wcs1={}"},                    // no such server with --wcs=0
		{"--capacity=wcs1={\"sessions\":-1}"}, // per server, checked as per group
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append(args, "--wcs=0", "--srs-edge=0", "--emqx=0"), &out, &errb); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}

// TestRunPerServer: --load and --capacity name a server as well as a
// group, and the server's own value wins over its group's.
func TestRunPerServer(t *testing.T) {
	dir := t.TempDir()
	addrs := filepath.Join(dir, "lab.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--wcs=3", "--srs-origin=0", "--srs-edge=0", "--emqx=0", "--addresses-file=" + addrs,
			`--load=wcs={"subscribers":20}`, `--load=wcs1={"subscribers":45}`,
			`--capacity=wcs={"sessions":200}`, `--capacity=wcs1={"sessions":100,"refuse":true}`, "--log.level=error"}, &stdout, &stderr)
	}()
	list := waitAddresses(t, addrs, &stderr)
	want := map[string]struct {
		subs, sessions int
		refuse         bool
	}{"wcs1": {45, 100, true}, "wcs2": {20, 200, false}, "wcs3": {20, 200, false}}
	if len(list) != len(want) {
		t.Fatalf("%d servers: %+v", len(list), list)
	}
	for _, s := range list {
		w := want[s.Name]
		if s.Load.Subscribers != w.subs || s.Capacity == nil || s.Capacity.Sessions != w.sessions || s.Capacity.Refuse != w.refuse {
			t.Errorf("%s: %d subscribers, capacity %+v; want %d, %d sessions (refuse %v)", s.Name, s.Load.Subscribers, s.Capacity, w.subs, w.sessions, w.refuse)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

// TestRunClientPorts: --client-ports with --base-port puts the client
// ports after every API port, one per EMQX node, and each speaks its
// protocol; --capacity reaches the servers.
func TestRunClientPorts(t *testing.T) {
	base := freeRun(t, 10) // 4 API ports, 5 client ports, one spare
	dir := t.TempDir()
	addrs := filepath.Join(dir, "lab.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--wcs=1", "--srs-origin=1", "--srs-edge=1", "--emqx=1", "--client-ports",
			fmt.Sprintf("--base-port=%d", base), "--addresses-file=" + addrs,
			`--capacity=wcs={"sessions":1,"refuse":true}`, "--log.level=error"}, &stdout, &stderr)
	}()
	list := waitAddresses(t, addrs, &stderr)
	want := map[string][]string{
		"wcs1":        {fmt.Sprintf("ws://127.0.0.1:%d/", base+4)},
		"srs-origin1": {fmt.Sprintf("rtmp://127.0.0.1:%d/live", base+5)},
		"srs-edge1":   {fmt.Sprintf("http://127.0.0.1:%d", base+6)},
		"emqx1":       {fmt.Sprintf("mqtt://127.0.0.1:%d", base+7), fmt.Sprintf("mqtt://127.0.0.1:%d", base+8)},
	}
	for i, s := range list {
		if s.URL != fmt.Sprintf("http://127.0.0.1:%d", base+i) {
			t.Errorf("%s API at %s, want port %d", s.Name, s.URL, base+i)
		}
		if strings.Join(s.Clients, " ") != strings.Join(want[s.Name], " ") {
			t.Errorf("%s clients %v, want %v", s.Name, s.Clients, want[s.Name])
		}
	}
	// Each port speaks its protocol: a WCS client connects (and a second
	// is refused at capacity 1), MQTT clients reach both EMQX nodes, an
	// RTMP publisher publishes, an FLV player reads.
	wc, err := lab.DialWCS(ctx, want["wcs1"][0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	if _, err := lab.DialWCS(ctx, want["wcs1"][0], nil); !errors.Is(err, lab.ErrRefused) {
		t.Errorf("second WCS client at capacity 1: %v, want refused", err)
	}
	for _, u := range want["emqx1"] {
		c, err := lab.DialMQTT(ctx, u, lab.MQTTOptions{ClientID: "t-" + u[len(u)-5:]})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		c.Close()
	}
	pub, err := lab.PublishRTMP(ctx, want["srs-origin1"][0]+"/cam1", 200_000)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	player, err := lab.PlayFLV(ctx, nil, want["srs-edge1"][0]+"/live/cam1.flv")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for player.Bytes() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if player.Bytes() == 0 {
		t.Error("the FLV player read nothing")
	}
	player.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

// freeRun finds n consecutive free loopback ports.
func freeRun(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base, ok := testenv.FreePort(t), true
		for p := base; p < base+n && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if ok = err == nil; ok {
				ln.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// waitAddresses waits up to 10 s for a running lab's addresses file.
func waitAddresses(t *testing.T, path string, stderr *bytes.Buffer) []lab.Status {
	t.Helper()
	var list []lab.Status
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(b, &list) == nil {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("no addresses file; stderr: %s", stderr.String())
		}
	}
}
