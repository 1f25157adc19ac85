package docstest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"Thresholds":                 "thresholds",
		"The exporter's own metrics": "the-exporters-own-metrics",
		"Why the agent never says `drain`, `ready` or `maint`": "why-the-agent-never-says-drain-ready-or-maint",
		"4. The exporter, with static or discovered targets":   "4-the-exporter-with-static-or-discovered-targets",
		"HTTP health endpoint (ELB/ALB, nginx)":                "http-health-endpoint-elbalb-nginx",
		"How they are checked (`make test`)":                   "how-they-are-checked-make-test",
		"See [the agent](agent.md) — now":                      "see-the-agent--now",
		"lbpilot_up and max_streams":                           "lbpilot_up-and-max_streams",
	} {
		if got := Anchor(heading); got != want {
			t.Errorf("Anchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

const sample = "# Page\n\nintro\n\n## Flags\n\nflags text\n\n```sh\n# not a heading\n```\n\n### Sub\n\nsub text\n\n## Flags\n\nsecond\n\n# Other\n"

func TestHeadingsAndSections(t *testing.T) {
	var got []string
	for _, h := range Headings(sample) {
		got = append(got, h.Anchor)
	}
	if strings.Join(got, " ") != "page flags sub flags-1 other" {
		t.Errorf("anchors %v", got)
	}
	hs := Headings(sample)
	body := sample[hs[1].Offset:hs[3].Offset]
	if !strings.Contains(body, "sub text") || strings.Contains(body, "second") {
		t.Errorf("section: %q", body)
	}
}

func TestLinks(t *testing.T) {
	md := "see [a](docs/a.md#x) and ![img](p.png \"title\") but `[not](a link)`\n```\n[no](code.md)\n```\n[y](#local)\n"
	var got []string
	for _, l := range Links(md) {
		got = append(got, l.Target)
	}
	if strings.Join(got, " ") != "docs/a.md#x p.png #local" {
		t.Errorf("links %v", got)
	}
}

func TestYAMLKeys(t *testing.T) {
	type inner struct {
		Depth int `yaml:"depth"`
	}
	type embedded struct {
		Flat string `yaml:"flat"`
	}
	type config struct {
		Name     string            `yaml:"name"`
		Inner    *inner            `yaml:"inner,omitempty"`
		List     []inner           `yaml:"list"`
		ByName   map[string]*inner `yaml:"by_name"`
		Skipped  string            `yaml:"-"`
		Bare     int
		unexport int `yaml:"unexport"` // not a key: YAML cannot set it
		embedded `yaml:",inline"`
		Foreign  strings.Builder `yaml:"foreign"`
	}
	_ = config{unexport: 1}.unexport
	got := strings.Join(YAMLKeys(config{}), " ")
	if want := "bare by_name depth flat foreign inner list name"; got != want {
		t.Errorf("YAMLKeys = %q, want %q", got, want)
	}
}

// recorder keeps what a check reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
	runtime.Goexit()
}

func TestKeysDocumented(t *testing.T) {
	type cfg struct {
		Timeout string `yaml:"timeout"`
		Missing string `yaml:"no_page_names_this_key"`
	}
	run := func(min int) []string {
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); KeysDocumented(r, "docs/exporter.md", cfg{}, min) }()
		<-done
		return r.errs
	}
	if errs := run(2); len(errs) != 1 || !strings.Contains(errs[0], "does not name the config key no_page_names_this_key") {
		t.Errorf("got %q, want one error for the missing key", errs)
	}
	if errs := run(3); len(errs) != 1 || !strings.Contains(errs[0], "only 2 keys") {
		t.Errorf("got %q, want the too-few-keys error", errs)
	}
}
