package exporter

import (
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// TestConfigKeysDocumented: every key the exporter's config file takes is
// named in docs/exporter.md.
func TestConfigKeysDocumented(t *testing.T) {
	page := docstest.File(t, "docs/exporter.md")
	keys := docstest.YAMLKeys(Config{})
	if len(keys) < 20 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(page, "`"+k+"`") && !strings.Contains(page, k+":") {
			t.Errorf("docs/exporter.md does not name the config key %s", k)
		}
	}
}
