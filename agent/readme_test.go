package agent

import (
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// TestREADMEDocumentsAgent keeps README's Agent section in step with the
// code: every metric family, every reply kind and every threshold name is
// documented there.
func TestREADMEDocumentsAgent(t *testing.T) {
	section := docstest.File(t, "docs/agent.md") + docstest.Section(t, "docs/metrics.md", "agent-metrics")
	ta := newTestAgent(t, nil)
	_ = check(t, ta.addr, "")
	mfs, err := ta.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, mf := range mfs {
		want = append(want, "`"+mf.GetName()+"`")
	}
	for _, k := range ReplyKinds {
		want = append(want, "`"+string(k)+"`")
	}
	for _, n := range dimensionNames {
		want = append(want, "`"+n+"`")
	}
	want = append(want, "agent-check agent-port 9707 agent-inter 5s", "--agent.mode=updown", "HealthCheck.Target", "health_check")
	for _, w := range want {
		if !strings.Contains(section, w) {
			t.Errorf("README's Agent section does not mention %s", w)
		}
	}
}
