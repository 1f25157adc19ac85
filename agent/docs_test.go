package agent

import (
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// TestConfigKeysDocumented: every key the agent's config file takes is
// named in docs/agent.md.
func TestConfigKeysDocumented(t *testing.T) {
	page := docstest.File(t, "docs/agent.md")
	keys := docstest.YAMLKeys(Config{})
	if len(keys) < 10 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(page, "`"+k+"`") && !strings.Contains(page, k+":") {
			t.Errorf("docs/agent.md does not name the config key %s", k)
		}
	}
}
