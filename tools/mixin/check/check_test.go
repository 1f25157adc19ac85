package check

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lbpilot/lbpilot/tools/mixin/catalog"
	"github.com/lbpilot/lbpilot/tools/mixin/dashboards"
)

const root = "../../.."

var (
	catOnce sync.Once
	cat     *catalog.Catalog
	catErr  error
)

func testCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	catOnce.Do(func() { cat, catErr = catalog.Build(t, root) })
	if catErr != nil {
		t.Fatal(catErr)
	}
	return cat
}

func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no dashboards/*.json")
	}
	sort.Strings(files)
	return files
}

func readDashboard(t *testing.T, file string) *Dashboard {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDashboard(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// TestDashboards runs every check on the committed dashboards.
func TestDashboards(t *testing.T) {
	c := testCatalog(t)
	uids, titles := map[string]string{}, map[string]string{}
	for _, f := range dashboardFiles(t) {
		d := readDashboard(t, f)
		for _, p := range Lint(d, c) {
			t.Errorf("%s: %s", filepath.Base(f), p)
		}
		if prev, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", prev, f, d.UID)
		}
		uids[d.UID] = f
		if prev, dup := titles[d.Title]; dup {
			t.Errorf("%s and %s share title %q", prev, f, d.Title)
		}
		titles[d.Title] = f
	}
	// Every dashboard link points at an existing dashboard.
	for _, f := range dashboardFiles(t) {
		for _, p := range readDashboard(t, f).AllPanels() {
			for _, l := range p.Links {
				uid := strings.TrimPrefix(strings.SplitN(l.URL, "?", 2)[0], "/d/")
				if _, ok := uids[uid]; !ok {
					t.Errorf("%s: panel %q links to unknown dashboard %s", filepath.Base(f), p.Title, uid)
				}
			}
		}
	}
}

// TestDashboardsCoverEverySource: the dashboards read every upstream and
// lbpilot's own roles.
func TestDashboardsCoverEverySource(t *testing.T) {
	used := map[string]bool{}
	for _, f := range dashboardFiles(t) {
		qs, _ := readDashboard(t, f).Queries()
		for _, q := range qs {
			e, err := Parse(q.Expr)
			if err != nil {
				continue // reported by TestDashboards
			}
			for _, s := range Selectors(e) {
				used[s.Name] = true
				for _, n := range s.Names {
					used[n] = true
				}
			}
		}
	}
	for _, prefix := range []string{"haproxy_server_", "haproxy_backend_", "haproxy_frontend_", "haproxy_process_", "wcs_", "srs_", "emqx_", "lbpilot_up", "lbpilot_rebalancer_"} {
		found := false
		for n := range used {
			found = found || strings.HasPrefix(n, prefix)
		}
		if !found {
			t.Errorf("no dashboard reads a %s* metric", prefix)
		}
	}
}

// TestDashboardsUpToDate: the committed JSON is what the generator writes
// (run `make dashboards` after changing tools/mixin/dashboards).
func TestDashboardsUpToDate(t *testing.T) {
	all, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	files := dashboardFiles(t)
	if len(files) != len(all) {
		t.Errorf("dashboards/ has %d files, the generator writes %d", len(files), len(all))
	}
	for name, d := range all {
		want, err := dashboards.JSON(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, "dashboards", name))
		if err != nil {
			t.Errorf("%s: %v (run make dashboards)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("dashboards/%s differs from the generator's output: run make dashboards", name)
		}
	}
}

// TestRules checks every rule file's expressions against the catalog.
func TestRules(t *testing.T) {
	c := testCatalog(t)
	files, err := filepath.Glob(filepath.Join(root, "alerts", "*.rules.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no alerts/*.rules.yml: %v", err)
	}
	n := 0
	for _, f := range files {
		exprs, probs := RuleExprs(f)
		n += len(exprs)
		for _, p := range probs {
			t.Error(p)
		}
		for _, p := range LintRules(f, c) {
			t.Error(p)
		}
	}
	if n < 40 {
		t.Errorf("only %d rules found", n)
	}
}
