package rebalancer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

const exampleAMConfig = "../alerts/alertmanager.yml"

// TestAlertmanagerExampleConfig: the shipped Alertmanager config passes
// `amtool check-config` (Debian's 0.25, which rejects newer keys such as
// url_file or timeout) and routes action-labelled alerts to the rebalancer
// and to people, everything else to people only.
func TestAlertmanagerExampleConfig(t *testing.T) {
	amtool := testenv.Binary(t, "amtool")
	out, err := exec.Command(amtool, "check-config", exampleAMConfig).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	routes := []struct {
		labels    []string
		receivers string
	}{
		{[]string{"lbpilot_action=drain", "haproxy_backend=be_app", "haproxy_server=web1", "alertname=X"}, "lbpilot-rebalancer,team-default"},
		{[]string{"lbpilot_action=maint", "haproxy_backend=be_app", "haproxy_server=web1"}, "lbpilot-rebalancer,team-default"},
		{[]string{"alertname=X", "severity=page"}, "team-default"},
		{[]string{"lbpilot_action=reboot"}, "team-default"},
	}
	for _, r := range routes {
		args := append([]string{"config", "routes", "test", "--config.file=" + exampleAMConfig, "--verify.receivers=" + r.receivers}, r.labels...)
		out, err := exec.Command(amtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("%v: want receivers %s: %v\n%s", r.labels, r.receivers, err, out)
		}
	}
	// The check can fail: a config the Debian amtool rejects is reported.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url_file: /x}]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(amtool, "check-config", bad).CombinedOutput(); err == nil {
		t.Fatalf("amtool accepted url_file (Alertmanager 0.26+ only): %s", out)
	}
	b, err := os.ReadFile(exampleAMConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"send_resolved: true", "max_alerts: 0", "password_file:", "haproxy_server"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("example config lacks %q", want)
		}
	}
}
