package agent

import (
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// TestConfigKeysDocumented: every key the agent's config file takes is
// named in docs/agent.md.
func TestConfigKeysDocumented(t *testing.T) {
	docstest.KeysDocumented(t, "docs/agent.md", Config{}, 10)
}
