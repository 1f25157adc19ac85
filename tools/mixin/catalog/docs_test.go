package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryMetricDocumented: every family the catalog saw lbpilot emit
// is named in docs/metrics.md (the Go runtime's and the process's
// families as go_* and process_*). Series Prometheus writes itself and
// recording rules are not lbpilot's.
func TestEveryMetricDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	c, err := Build(t, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range c.Names() {
		m, _ := c.Family(name)
		if m.OpenLabels || m.Sources["prometheus (synthetic series)"] {
			continue
		}
		switch {
		case strings.HasPrefix(name, "go_"):
			name = "go_*"
		case strings.HasPrefix(name, "process_"):
			name = "process_*"
		}
		n++
		if !strings.Contains(doc, "`"+name+"`") && !strings.Contains(doc, "`"+name+"{") {
			t.Errorf("docs/metrics.md does not document %s (seen in %v); run make docs after adding it to its catalog", name, keys(m.Sources))
		}
	}
	if n < 300 {
		t.Errorf("only %d families checked", n)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
