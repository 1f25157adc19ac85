package exporter

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
	"github.com/lbpilot/lbpilot/internal/probe/probetest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// docYAML returns the ```yaml blocks of a docs/exporter.md section.
func docYAML(t *testing.T, anchor string) []string {
	t.Helper()
	var out []string
	for _, part := range strings.Split(docstest.Section(t, "docs/exporter.md", anchor), "```yaml\n")[1:] {
		out = append(out, part[:strings.Index(part, "```")])
	}
	if len(out) == 0 {
		t.Fatalf("no yaml block in docs/exporter.md#%s", anchor)
	}
	return out
}

// The probes' Prometheus job examples pass promtool check config.
func TestProbeJobExamples(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	dir := t.TempDir()
	for i, block := range docYAML(t, "prometheus-jobs-for-probes") {
		p := filepath.Join(dir, "jobs"+string(rune('a'+i))+".yml")
		if err := os.WriteFile(p, []byte(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "config", p).CombinedOutput(); err != nil {
			t.Errorf("promtool check config: %v\n%s\n%s", err, out, block)
		}
	}
}

// The mqtt module example loads, with its files in place.
func TestMQTTModuleExample(t *testing.T) {
	ca := probetest.NewCA(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "mqtt-probe.password")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	block := docYAML(t, "mqtt")[0]
	block = strings.ReplaceAll(block, "/etc/lbpilot/mqtt-probe.password", pw)
	block = strings.ReplaceAll(block, "/etc/lbpilot/ca.pem", ca.CAFile)
	cfg, err := Parse([]byte(block), Kinds())
	if err != nil {
		t.Fatalf("%v\n%s", err, block)
	}
	m := cfg.Modules["mqtt_emqx"]
	if m == nil || m.Kind != "mqtt" || m.MQTT.Username != "lbpilot-probe" || *m.MQTT.QoS != 1 {
		t.Errorf("module %+v", m)
	}
}
