package rebalancer

import (
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// TestConfigKeysDocumented: every key the rebalancer's config file takes is
// named in docs/rebalancer.md.
func TestConfigKeysDocumented(t *testing.T) {
	page := docstest.File(t, "docs/rebalancer.md")
	keys := docstest.YAMLKeys(Config{})
	if len(keys) < 15 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(page, "`"+k+"`") && !strings.Contains(page, k+":") {
			t.Errorf("docs/rebalancer.md does not name the config key %s", k)
		}
	}
}
