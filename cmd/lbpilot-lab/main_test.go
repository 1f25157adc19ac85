package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
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
	var list []lab.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(addrs)
		if err == nil && json.Unmarshal(b, &list) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no addresses file; stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append(args, "--wcs=0", "--srs-edge=0", "--emqx=0"), &out, &errb); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}
