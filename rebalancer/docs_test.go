package rebalancer

import (
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// TestConfigKeysDocumented: every key the rebalancer's config file takes is
// named in docs/rebalancer.md.
func TestConfigKeysDocumented(t *testing.T) {
	docstest.KeysDocumented(t, "docs/rebalancer.md", Config{}, 15)
}
