package catalog

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/exporter"
)

// allOptIns configures one module per kind with every opt-in family on;
// emqx_node is the one-node mode, which describes a subset of emqx.
const allOptIns = `
modules:
  haproxy:
    haproxy:
      extra_server_families: true
  wcs:
    wcs:
      stream_metrics: true
      unknown_keys: true
  srs:
    srs:
      stream_metrics: true
      clients: true
  emqx: {}
  emqx_node:
    kind: emqx
    emqx:
      node: self
`

// sampleURLs are addresses each kind's collector accepts at construction.
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

// Build derives the catalog from the lbpilot source tree at root. It runs
// inside tests: the rebalancer's source starts an in-memory HAProxy that
// tb cleans up.
func Build(tb testing.TB, root string) (*Catalog, error) {
	c := New()
	if err := c.AddKinds(exporter.Kinds()); err != nil {
		return nil, err
	}
	if err := c.AddExpositionFiles(root, "collectors/*/testdata/golden/*.prom"); err != nil {
		return nil, err
	}
	if err := c.AddExporter(); err != nil {
		return nil, err
	}
	for _, src := range extraSources {
		if err := src.add(c, tb); err != nil {
			return nil, fmt.Errorf("%s: %w", src.name, err)
		}
	}
	rules, err := filepath.Glob(filepath.Join(root, "alerts", "*.rules.yml"))
	if err != nil {
		return nil, err
	}
	for _, f := range rules {
		if err := c.AddRecordingRules(f); err != nil {
			return nil, err
		}
	}
	c.Prometheus()
	return c, nil
}

// extraSources are the other roles' registries (rebalancer, agent),
// registered from files of their own so each can land independently.
var extraSources []source

type source struct {
	name string
	add  func(*Catalog, testing.TB) error
}

// AddKinds builds a collector of every kind with every opt-in family on
// and records the descriptors it describes. A kind this package has no
// sample address for is an error, so a new kind cannot be forgotten.
func (c *Catalog) AddKinds(kinds map[string]exporter.Kind) error {
	cfg, err := exporter.Parse([]byte(allOptIns), kinds)
	if err != nil {
		return fmt.Errorf("opt-in config: %w", err)
	}
	covered := map[string]bool{}
	names := make([]string, 0, len(cfg.Modules))
	for n := range cfg.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m := cfg.Modules[n]
		k, ok := kinds[m.Kind]
		if !ok {
			return fmt.Errorf("module %s: unknown kind %s", n, m.Kind)
		}
		u, ok := sampleURLs[m.Kind]
		if !ok {
			return fmt.Errorf("kind %s: no sample address in catalog.sampleURLs; add one so its families are catalogued", m.Kind)
		}
		coll, err := k.New(m, collectors.Target{URL: u}, log.NewNopLogger())
		if err != nil {
			return fmt.Errorf("module %s: %w", n, err)
		}
		if err := c.addDescribed(coll, "collector "+m.Kind+" (module "+n+")"); err != nil {
			return err
		}
		covered[m.Kind] = true
	}
	for k := range kinds {
		if !covered[k] {
			return fmt.Errorf("kind %s: not in the opt-in config; add a module for it", k)
		}
	}
	return nil
}

func (c *Catalog) addDescribed(d interface {
	Describe(chan<- *prometheus.Desc)
}, source string) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		d.Describe(ch)
		close(ch)
	}()
	var err error
	n := 0
	for desc := range ch {
		n++
		if e := c.AddDesc(desc, source); e != nil && err == nil {
			err = e
		}
	}
	if err == nil && n == 0 {
		err = fmt.Errorf("%s: described no metrics", source)
	}
	return err
}

// AddExporter starts an exporter and records its self registry, what
// /probe answers for a failing target (lbpilot_up, scrape duration) and
// what /metrics answers with a failing static target.
func (c *Catalog) AddExporter() error {
	dead, err := closedAddr()
	if err != nil {
		return err
	}
	e, err := exporter.New(exporter.Options{Logger: log.NewNopLogger()})
	if err != nil {
		return err
	}
	if err := c.AddGatherer(e.SelfRegistry(), "exporter self registry"); err != nil {
		return err
	}
	body, err := get(e.ProbeHandler(), "/probe?module=haproxy&target=tcp://"+dead)
	if err != nil {
		return err
	}
	if err := c.AddExposition(bytes.NewReader(body), "exporter /probe"); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "lbpilot-catalog")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgFile := filepath.Join(dir, "lbpilot.yml")
	cfg := fmt.Sprintf("targets:\n  - {name: t1, module: haproxy, url: 'tcp://%s'}\n", dead)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	e2, err := exporter.New(exporter.Options{ConfigFile: cfgFile, Logger: log.NewNopLogger()})
	if err != nil {
		return err
	}
	body, err = get(e2.MetricsHandler(), "/metrics")
	if err != nil {
		return err
	}
	if err := c.AddExposition(bytes.NewReader(body), "exporter /metrics"); err != nil {
		return err
	}
	for _, want := range []string{"lbpilot_up", "lbpilot_scrape_duration_seconds"} {
		if _, ok := c.families[want]; !ok {
			return fmt.Errorf("exporter answers lack %s", want)
		}
	}
	return nil
}

func get(h http.Handler, target string) ([]byte, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", target, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return rec.Body.Bytes(), nil
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// AddRecordingRules records the series the recording rules of a rule file
// write. Their labels come from their expressions, so any label is
// accepted on them.
func (c *Catalog) AddRecordingRules(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Record string            `yaml:"record"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rf); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			m := c.AddFamily(r.Record, "", "recording rule in "+filepath.Base(file)+" group "+g.Name)
			m.OpenLabels = true
			for l, v := range r.Labels {
				m.AddValue(l, v)
			}
		}
	}
	return nil
}
