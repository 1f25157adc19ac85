package catalog

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/rebalancer"
)

func init() {
	extraSources = append(extraSources, source{name: "rebalancer", add: (*Catalog).AddRebalancer})
}

// AddRebalancer runs a rebalancer against lbpilot's in-memory HAProxy
// (internal/haproxyapi/haproxytest) through the life of an alert: a webhook
// with a firing drain alert, a reconcile that drains the server, an HAProxy
// reload that drops the drain and a reconcile that re-applies it. Its
// registry is gathered at the end, when every family it exports has
// samples (the per-backend, per-socket and per-state ones included).
func (c *Catalog) AddRebalancer(tb testing.TB) error {
	for _, dryRun := range []bool{false, true} {
		if err := c.addRebalancerRun(tb, dryRun); err != nil {
			return fmt.Errorf("dry_run %v: %w", dryRun, err)
		}
	}
	return nil
}

func (c *Catalog) addRebalancerRun(tb testing.TB, dryRun bool) error {
	h := haproxytest.NewHAProxy(tb, []haproxytest.Server{
		{Backend: "be_app", Name: "s1", Up: true}, {Backend: "be_app", Name: "s2", Up: true}, {Backend: "be_app", Name: "s3", Up: true},
	})
	dir, err := os.MkdirTemp("", "lbpilot-catalog-rebalancer")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg, err := rebalancer.Parse(fmt.Appendf(nil, "haproxy:\n  sockets: [%q]\nrebalancer:\n  state_file: %q\n  dry_run: %v\nalertmanager:\n  url: http://127.0.0.1:1\n  timeout: 100ms\n",
		h.Socket.Addr, filepath.Join(dir, "state.json"), dryRun))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	r, err := rebalancer.New(rebalancer.Options{Config: cfg, Logger: log.NewNopLogger()})
	if err != nil {
		return err
	}
	mux := r.Mux("/metrics")
	body := fmt.Sprintf(`{"version":"4","groupKey":"{}:{}","status":"firing","receiver":"lbpilot-rebalancer","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am","alerts":[{"status":"firing","labels":{"alertname":"Catalog","lbpilot_action":"drain","haproxy_backend":"be_app","haproxy_server":"s1"},"annotations":{},"startsAt":%q,"endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"0123456789abcdef"}]}`,
		time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	req := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("webhook answered %d: %s", rec.Code, rec.Body.String())
	}
	ctx := context.Background()
	// The Alertmanager URL answers nothing: the refresh fails, which the
	// catalog does not mind (its gauges are set either way).
	_ = r.Reconcile(ctx, false)
	h.Reload()
	_ = r.Reconcile(ctx, false)
	if err := c.AddGatherer(r.Registry(), fmt.Sprintf("rebalancer (dry_run %v)", dryRun)); err != nil {
		return err
	}
	if dryRun {
		if m := c.families["lbpilot_rebalancer_actions_total"]; m == nil || !m.Values["result"]["dry_run"] {
			return fmt.Errorf("a dry-run rebalancer counted no dry_run action")
		}
		return nil
	}
	for _, want := range []string{"lbpilot_rebalancer_owned_servers", "lbpilot_rebalancer_haproxy_up", "lbpilot_rebalancer_actions_total"} {
		if m, ok := c.families[want]; !ok || len(m.Values) == 0 {
			return fmt.Errorf("the rebalancer exported no %s samples after draining a server", want)
		}
	}
	return nil
}
