package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

// unit is a parsed systemd unit: section → key → values (a key may repeat).
type unit map[string]map[string][]string

func parseUnit(src string) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(src))
	var cont strings.Builder
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont.WriteString(strings.TrimSpace(strings.TrimSuffix(line, "\\")) + " ")
			continue
		}
		cont.WriteString(line)
		line = cont.String()
		cont.Reset()
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: %q is not key=value inside a section", n, line)
		}
		u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.Join(strings.Fields(v), " "))
	}
	return u, sc.Err()
}

// get returns the last value of a key ("" if unset).
func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

var roles = []string{"exporter", "rebalancer", "agent"}

func unitPath(role string) string {
	return filepath.Join(root, "examples", "systemd", "lbpilot-"+role+".service")
}

// checkUnit returns what a role's unit lacks: the binary and role, a
// dynamic user, the hardening every role gets, and each role's needs.
func checkUnit(role string, u unit) []string {
	var probs []string
	want := func(section, key, value string) {
		if got := u.get(section, key); got != value {
			probs = append(probs, fmt.Sprintf("[%s] %s=%q, want %q", section, key, got, value))
		}
	}
	exec := u.get("Service", "ExecStart")
	if !strings.HasPrefix(exec, "/usr/local/bin/lbpilot "+role) {
		probs = append(probs, fmt.Sprintf("ExecStart %q does not run lbpilot %s", exec, role))
	}
	if u.get("Unit", "Description") == "" || !strings.Contains(u.get("Unit", "Documentation"), "#"+role) {
		probs = append(probs, "no Description, or Documentation not pointing at the README's section")
	}
	if !strings.Contains(u.get("Unit", "After"), "network-online.target") {
		probs = append(probs, "not ordered after network-online.target")
	}
	want("Service", "DynamicUser", "yes")
	want("Service", "NoNewPrivileges", "yes")
	want("Service", "ProtectSystem", "strict")
	want("Service", "ProtectHome", "yes")
	want("Service", "PrivateTmp", "yes")
	want("Service", "CapabilityBoundingSet", "")
	want("Service", "Restart", "on-failure")
	want("Install", "WantedBy", "multi-user.target")
	if _, set := u["Service"]["CapabilityBoundingSet"]; !set {
		probs = append(probs, "CapabilityBoundingSet is not emptied")
	}
	switch role {
	case "exporter":
		want("Service", "ExecReload", "/bin/kill -HUP $MAINPID")
		want("Service", "SupplementaryGroups", "haproxy")
	case "rebalancer":
		want("Service", "StateDirectory", "lbpilot")
		want("Service", "SupplementaryGroups", "haproxy")
		for _, flag := range []string{"--rebalancer.state-file=/var/lib/lbpilot/", "--haproxy.socket=unix:/run/haproxy/admin.sock", "--web.config.file=", "--config.file=/etc/lbpilot/rebalancer.yml"} {
			if !strings.Contains(exec, flag) {
				probs = append(probs, "ExecStart lacks "+flag)
			}
		}
	case "agent":
		if !strings.Contains(exec, "--config.file=") {
			probs = append(probs, "ExecStart lacks --config.file")
		}
	}
	return probs
}

func readUnit(t *testing.T, role string) (string, unit) {
	t.Helper()
	b, err := os.ReadFile(unitPath(role))
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(b))
	if err != nil {
		t.Fatalf("%s: %v", unitPath(role), err)
	}
	return string(b), u
}

func TestSystemdUnits(t *testing.T) {
	bins := buildBinaries(t)
	for _, role := range roles {
		_, u := readUnit(t, role)
		if probs := checkUnit(role, u); len(probs) > 0 {
			t.Errorf("%s:\n  %s", unitPath(role), strings.Join(probs, "\n  "))
		}
		// Every flag of ExecStart is one of the role's.
		out, err := exec.Command(bins.lbpilot, role, "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("lbpilot %s --help: %v\n%s", role, err, out)
		}
		for _, a := range strings.Fields(u.get("Service", "ExecStart"))[2:] {
			flag, _, _ := strings.Cut(a, "=")
			if !strings.HasPrefix(flag, "--") || !strings.Contains(string(out), flag+"=") {
				t.Errorf("%s: %s is not a flag of lbpilot %s", unitPath(role), flag, role)
			}
		}
	}
}

// systemd-analyze verify loads each unit as systemd would (unknown keys,
// bad values, missing executables). The units name /usr/local/bin/lbpilot,
// so the copies verified name the binary make build just made.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa := testenv.Binary(t, "systemd-analyze")
	bins := buildBinaries(t)
	dir := t.TempDir()
	var paths []string
	for _, role := range roles {
		src, _ := readUnit(t, role)
		p := filepath.Join(dir, filepath.Base(unitPath(role)))
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(src, "/usr/local/bin/lbpilot", bins.lbpilot)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	verify := func(paths ...string) (string, error) {
		out, err := exec.Command(sa, append([]string{"verify"}, paths...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := verify(paths...); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// It does complain, about an unknown key and about a missing binary.
	bad := filepath.Join(dir, "lbpilot-bad.service")
	src, _ := readUnit(t, "agent")
	if err := os.WriteFile(bad, []byte(strings.Replace(src, "NoNewPrivileges=yes", "NoNewPrivileges=yes\nProtectSystemz=yes", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := verify(bad); !strings.Contains(out, "ProtectSystemz") {
		t.Errorf("systemd-analyze said nothing about an unknown key: %q", out)
	}
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(bad); err == nil && !strings.Contains(out, "/usr/local/bin/lbpilot") {
		t.Errorf("systemd-analyze accepted a missing executable: %q", out)
	}
}

func TestCheckUnitCatchesMistakes(t *testing.T) {
	for _, c := range []struct{ role, old, new, want string }{
		{"rebalancer", "StateDirectory=lbpilot", "", "StateDirectory"},
		{"rebalancer", "SupplementaryGroups=haproxy", "", "SupplementaryGroups"},
		{"rebalancer", "--rebalancer.state-file=/var/lib/lbpilot/rebalancer.json", "--rebalancer.state-file=/tmp/x.json", "state-file"},
		{"exporter", "ExecReload=/bin/kill -HUP $MAINPID", "", "ExecReload"},
		{"agent", "DynamicUser=yes", "User=root", "DynamicUser"},
		{"agent", "NoNewPrivileges=yes", "NoNewPrivileges=no", "NoNewPrivileges"},
		{"agent", "ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem"},
		{"agent", "CapabilityBoundingSet=\n", "", "CapabilityBoundingSet"},
		{"agent", "/usr/local/bin/lbpilot agent", "/usr/local/bin/lbpilot exporter", "does not run lbpilot agent"},
	} {
		src, _ := readUnit(t, c.role)
		bad := strings.Replace(src, c.old, c.new, 1)
		if bad == src {
			t.Fatalf("%s: %q not in the unit", c.role, c.old)
		}
		u, err := parseUnit(bad)
		if err != nil {
			t.Fatal(err)
		}
		if probs := strings.Join(checkUnit(c.role, u), "\n"); !strings.Contains(probs, c.want) {
			t.Errorf("%s without %q: no %q among:\n%s", c.role, c.old, c.want, probs)
		}
	}
	if _, err := parseUnit("Key=value\n"); err == nil {
		t.Error("a key outside a section parsed")
	}
}
