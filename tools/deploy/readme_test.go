package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/exporter"
	"github.com/lbpilot/lbpilot/internal/docstest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// readmeSection returns the documentation page of a former README
// section: "Deploying" is docs/deploying.md, "Scaling out" docs/scaling.md.
func readmeSection(t *testing.T, name string) string {
	t.Helper()
	page := map[string]string{"Deploying": "docs/deploying.md", "Scaling out": "docs/scaling.md"}[name]
	if page == "" {
		t.Fatalf("no documentation page for %q", name)
	}
	return docstest.File(t, page)
}

// yamlBlocks returns the section's ```yaml blocks.
func yamlBlocks(section string) []string {
	var out []string
	for _, part := range strings.Split(section, "```yaml\n")[1:] {
		out = append(out, part[:strings.Index(part, "```")])
	}
	return out
}

// The Deploying and Scaling out sections' configuration examples load in
// the programs they are for: the exporter's parser, promtool, amtool.
func TestReadmeDeployingExamples(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	amtool := testenv.Binary(t, "amtool")
	dir := t.TempDir()
	check := func(name, content string, args ...string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(args[0], append(args[1:], p)...).CombinedOutput(); err != nil {
			t.Errorf("%s on the README's example: %v\n%s\n%s", filepath.Base(args[0]), err, out, content)
		}
	}
	counts := map[string]int{}
	for _, sec := range []string{"Deploying", "Scaling out"} {
		for i, block := range yamlBlocks(readmeSection(t, sec)) {
			first, _, _ := strings.Cut(block, "\n")
			name := strings.ReplaceAll(sec, " ", "-") + "-" + string(rune('a'+i)) + ".yml"
			switch {
			case strings.Contains(first, "lbpilot exporter config"):
				cfg, err := exporter.Parse([]byte(block), exporter.Kinds())
				if err != nil {
					t.Errorf("README exporter example: %v\n%s", err, block)
				} else if len(cfg.Targets) < 3 {
					t.Errorf("README exporter example has %d targets", len(cfg.Targets))
				}
				counts["exporter"]++
			case strings.Contains(block, "scrape_configs:") || strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(block, first)), "alerting:"):
				check(name, block, promtool, "check", "config")
				counts["prometheus"]++
			case strings.HasPrefix(strings.TrimSpace(block), "relabel_configs:"):
				// A fragment of a /probe job.
				job := "scrape_configs:\n  - job_name: sharded\n    metrics_path: /probe\n    static_configs: [{targets: ['http://10.0.0.21:8081']}]\n" + block
				check(name, job, promtool, "check", "config")
				counts["prometheus"]++
			case strings.Contains(first, "prometheus-adapter config"), strings.Contains(first, "kubernetes manifest"), strings.Contains(first, "keda scaledobject"):
				checkAutoscaler(t, first, block)
				counts["autoscaler"]++
			case strings.HasPrefix(block, "receivers:"):
				check(name, "route: {receiver: lbpilot-rebalancer}\n"+block, amtool, "check-config")
				counts["alertmanager"]++
			default:
				t.Errorf("README %s: a yaml block nothing checks:\n%s", sec, block)
			}
		}
	}
	if counts["exporter"] != 1 || counts["prometheus"] != 5 || counts["alertmanager"] != 1 || counts["autoscaler"] != 3 {
		t.Errorf("checked %v README examples, want 1 exporter, 5 Prometheus, 1 Alertmanager, 3 autoscaler", counts)
	}
}

// The README's systemd and compose claims name files that exist.
func TestReadmeDeployingFiles(t *testing.T) {
	s := readmeSection(t, "Deploying")
	for _, f := range []string{
		"examples/systemd/lbpilot-exporter.service", "examples/systemd/lbpilot-agent.service",
		"examples/agent.yml", "examples/rebalancer.yml", "deploy/compose/alertmanager.yml", "deploy/compose/rebalancer-web.yml",
		"deploy/compose/secrets/grafana-admin.password",
	} {
		if !strings.Contains(s, f) {
			t.Errorf("README's Deploying section does not name %s", f)
		}
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("README names %s: %v", f, err)
		}
	}
	// The image tags it names are those of the compose file.
	p := loadShipped(t)
	for _, svc := range []string{"haproxy", "srs-origin", "emqx", "prometheus", "alertmanager", "grafana"} {
		if img := p.Services[svc].Image; !strings.Contains(s, "`"+img+"`") {
			t.Errorf("README's Deploying section does not name %s's image %s", svc, img)
		}
	}
}
