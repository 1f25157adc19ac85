package exporter

import (
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// TestConfigKeysDocumented: every key the exporter's config file takes is
// named in docs/exporter.md.
func TestConfigKeysDocumented(t *testing.T) {
	docstest.KeysDocumented(t, "docs/exporter.md", Config{}, 20)
}
