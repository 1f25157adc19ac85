package rebalancer

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// reloadable gives the harness a loader that parses yml (sockets and
// files as the harness set them).
func (hs *harness) reloadable(yml *string) {
	sockets, state, hist := hs.cfg.HAProxy.Sockets, hs.cfg.Rebalancer.StateFile, hs.cfg.Rebalancer.HistoryFile
	hs.r.load = func() (*Config, error) {
		c, err := Parse([]byte(*yml))
		if err != nil {
			return nil, err
		}
		if len(c.HAProxy.Sockets) == 0 {
			c.HAProxy.Sockets = sockets
		}
		if c.Rebalancer.StateFile == DefaultStateFile {
			c.Rebalancer.StateFile = state
		}
		if c.Rebalancer.HistoryFile == "" {
			c.Rebalancer.HistoryFile = hist
		}
		return c, c.Complete()
	}
}

func TestReloadSwapsRulesAndRefusesUnsafeChanges(t *testing.T) {
	hs := newHarness(t, "", three())
	yml := "guard: {min_ready: 3}"
	hs.reloadable(&yml)
	hs.mustOp(http.MethodPost, "/-/reload", nil)
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady) // the reloaded guard holds it back

	for _, c := range []struct{ name, yml, want string }{
		{"bad yaml", "guard: {min_ready: [", "yaml"},
		{"unknown key", "guard: {min_redy: 1}", "min_redy"},
		{"bad rule", "rules: [{name: x, matchers: ['a=~\"(\"'], action: drain}]", "rules[0]"},
		{"state file", "rebalancer: {state_file: /elsewhere.json}", "rebalancer.state_file cannot change"},
		{"dry run", "rebalancer: {dry_run: true}", "rebalancer.dry_run cannot change"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yml = c.yml
			code, out := hs.op(http.MethodPost, "/-/reload", nil)
			if code != http.StatusInternalServerError || !strings.Contains(out["error"].(string), c.want) {
				t.Fatalf("%d %v, want 500 naming %q", code, out, c.want)
			}
			if got := hs.r.m.reload.Successful(); got != 0 {
				t.Fatalf("reload_successful %v", got)
			}
			if cfg, _ := hs.r.currentConfig(); *cfg.Guard.MinReady != 3 {
				t.Fatal("a refused reload changed the configuration")
			}
		})
	}
	// The socket list while servers are owned: refused with the reason.
	yml = "guard: {min_ready: 1}"
	hs.mustOp(http.MethodPost, "/-/reload", nil)
	if got := hs.r.m.reload.Successful(); got != 1 {
		t.Fatalf("reload_successful %v after a good reload", got)
	}
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.r.socketsGiven = false
	yml = "haproxy: {sockets: ['unix:/tmp/other.sock']}"
	code, out := hs.op(http.MethodPost, "/-/reload", nil)
	if code != 500 || !strings.Contains(out["error"].(string), "owns or holds 1 server(s) (be_app/web1 on") {
		t.Fatalf("socket change while owning: %d %v", code, out)
	}
	es, err := hs.r.hist.Query(HistoryFilter{})
	if err != nil || len(es) == 0 {
		t.Fatal(err)
	}
	var reloads int
	for _, e := range es {
		if e.Kind == HistReload {
			reloads++
		}
	}
	if reloads != 8 {
		t.Fatalf("%d reload entries in the history, want 8", reloads)
	}
}

func TestReloadWithoutLoader(t *testing.T) {
	hs := newHarness(t, "", three())
	code, out := hs.op(http.MethodPost, "/-/reload", nil)
	if code != 500 || !strings.Contains(out["error"].(string), "no configuration file") {
		t.Fatalf("%d %v", code, out)
	}
}
