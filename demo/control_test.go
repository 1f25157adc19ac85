package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/agent"
)

// TestRenderControl: each arm of the control benchmark renders what it
// says, and the agents' files load as agent configurations.
func TestRenderControl(t *testing.T) {
	for _, tc := range []struct {
		name      string
		c         Control
		agentLine bool
		mode      string
		subs      []string // want in the agents' files, in order
	}{
		{"product", Control{}, true, "weight", nil},
		{"updown", Control{Agents: AgentsUpDown, Subscribers: [2]int{30, 60}}, true, "updown", []string{`subscribers: "30"`, `subscribers: "60"`}},
		{"weight sized", Control{Agents: AgentsWeight, NoRebalancer: true, Subscribers: [2]int{30, 0}}, true, "weight", []string{`subscribers: "30"`, ""}},
		{"haproxy alone", Control{Agents: AgentsNone}, false, "weight", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFiles(t.TempDir())
			if err := Render(f, repo, PortsFrom(21000), tc.c); err != nil {
				t.Fatal(err)
			}
			hap, err := os.ReadFile(f.HAProxy)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(hap), "\n") {
				if !strings.Contains(line, "server wcs") {
					continue
				}
				if got := strings.Contains(line, "agent-check"); got != tc.agentLine {
					t.Errorf("agent-check on %q: %v, want %v", strings.TrimSpace(line), got, tc.agentLine)
				}
			}
			for i, path := range f.Agents {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), "mode: "+tc.mode+"\n") {
					t.Errorf("%s: no mode %s:\n%s", filepath.Base(path), tc.mode, b)
				}
				if tc.subs != nil {
					if want := tc.subs[i]; want != "" && !strings.Contains(string(b), want) || want == "" && strings.Contains(string(b), "subscribers:") {
						t.Errorf("%s: want %q:\n%s", filepath.Base(path), want, b)
					}
				}
				cfg, err := agent.LoadFile(path)
				if err == nil {
					err = cfg.Complete()
				}
				if err != nil {
					t.Errorf("%s does not load: %v", filepath.Base(path), err)
				}
			}
		})
	}
}

func TestRenderControlRejects(t *testing.T) {
	for _, tc := range []struct {
		c    Control
		want string
	}{
		{Control{Agents: "script"}, `agents "script"`},
		{Control{WCSLoad: [2]string{"", "{"}}, "wcs2 load"},
		{Control{WCSCapacity: [2]string{"sessions"}}, "wcs1 capacity"},
		{Control{Subscribers: [2]int{-1}}, "wcs1 subscribers threshold -1"},
	} {
		f := NewFiles(t.TempDir())
		err := Render(f, repo, PortsFrom(21000), tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Render(%+v) = %v, want an error naming %q", tc.c, err, tc.want)
		}
		if _, serr := os.Stat(f.HAProxy); serr == nil {
			t.Errorf("Render(%+v) wrote haproxy.cfg before failing", tc.c)
		}
	}
}
