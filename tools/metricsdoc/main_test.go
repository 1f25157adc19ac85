package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/exporter"
)

// TestMetricsDocCurrent: docs/metrics.md is what the generator writes.
func TestMetricsDocCurrent(t *testing.T) {
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatalf("%v (run make docs)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/metrics.md is stale: run make docs\nfirst difference, line %d:\n  file:      %s\n  generated: %s", i+1, g, w)
			}
		}
	}
}

// allOptIns builds one module per kind with every opt-in family on.
const allOptIns = `
modules:
  haproxy: {haproxy: {extra_server_families: true, extra_counters: true, desc_labels: true, sticktable_entries: {tables: [st_src]}}}
  wcs: {wcs: {stream_metrics: true, unknown_keys: true}}
  srs: {srs: {stream_metrics: true, clients: true}}
  emqx: {}
`

var sampleURLs = map[string]string{
	"haproxy": "tcp://127.0.0.1:9999",
	"wcs":     "http://127.0.0.1:8081",
	"srs":     "http://127.0.0.1:1985",
	"emqx":    "http://127.0.0.1:18083",

	"mqtt":      "mqtt://127.0.0.1:1883",
	"rtmp":      "rtmp://127.0.0.1:1935/live/s",
	"flv":       "http://127.0.0.1:8080/live/s.flv",
	"hls":       "http://127.0.0.1:8080/live/s.m3u8",
	"websocket": "ws://127.0.0.1:8080/",
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// TestCatalogsMatchDescriptors: each kind's MetricDocs name exactly the
// families its collector describes with every opt-in on.
func TestCatalogsMatchDescriptors(t *testing.T) {
	kinds := exporter.Kinds()
	cfg, err := exporter.Parse([]byte(allOptIns), kinds)
	if err != nil {
		t.Fatal(err)
	}
	for name := range kinds {
		if _, ok := catalogs[name]; !ok {
			t.Errorf("kind %s has no catalog in tools/metricsdoc", name)
		}
	}
	for kind, docs := range catalogs {
		m, ok := cfg.Modules[kind]
		if !ok {
			t.Errorf("kind %s: not in the opt-in config", kind)
			continue
		}
		c, err := kinds[kind].New(m, collectors.Target{URL: sampleURLs[kind]}, log.NewNopLogger())
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		described := map[string]bool{}
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				described[m[1]] = true
			}
		}
		documented := map[string]bool{}
		for _, r := range docs() {
			for _, n := range r.Names {
				if documented[n] {
					t.Errorf("%s: %s documented twice", kind, n)
				}
				documented[n] = true
			}
			if r.Type != "gauge" && r.Type != "counter" && r.Type != "histogram" && r.Type != "untyped" {
				t.Errorf("%s: %v has type %q", kind, r.Names, r.Type)
			}
			if r.Help == "" {
				t.Errorf("%s: %v has no meaning", kind, r.Names)
			}
		}
		// An upstream's collector has many families; a probe its five
		// or more (probe_success, the duration, the failure reason, the
		// phases and at least one value of its own).
		least := 10
		if described["probe_success"] {
			least = 5
		}
		if len(described) < least {
			t.Fatalf("%s described only %d families", kind, len(described))
		}
		for _, n := range sorted(described) {
			if !documented[n] {
				t.Errorf("%s describes %s, which its MetricDocs lack", kind, n)
			}
		}
		for _, n := range sorted(documented) {
			if !described[n] {
				t.Errorf("%s's MetricDocs list %s, which the collector does not describe", kind, n)
			}
		}
	}
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
