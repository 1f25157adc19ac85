package haproxy

import (
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// TestREADMEListsEveryFamily keeps the README's metrics table in step with
// the catalog: a family added or renamed here must be documented there.
func TestREADMEListsEveryFamily(t *testing.T) {
	readme := docstest.Section(t, "docs/metrics.md", "haproxy-metrics")
	var names []string
	for _, set := range []struct {
		scope string
		fams  []family
	}{{"frontend", frontendFamilies}, {"backend", backendFamilies}, {"server", serverFamilies}, {"listener", listenerFamilies}} {
		for _, f := range set.fams {
			names = append(names, "haproxy_"+set.scope+"_"+f.name)
		}
	}
	for _, f := range infoFamilies {
		names = append(names, "haproxy_process_"+f.name)
	}
	names = append(names, "haproxy_process_build_info", "haproxy_process_node", "haproxy_process_description", "haproxy_sticktable_size", "haproxy_sticktable_used", "haproxy_sticktable_entry")
	for _, rc := range resolverCounters {
		names = append(names, "haproxy_resolver_"+rc.name)
	}
	for _, n := range names {
		if !strings.Contains(readme, "`"+n+"`") {
			t.Errorf("README.md does not document %s", n)
		}
	}
}
