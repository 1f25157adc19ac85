package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func gaugeCollector(v float64) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "golden_value", Help: "A value."})
	g.Set(v)
	return g
}

func TestFormatParseAndCompare(t *testing.T) {
	text := string(Format(t, gaugeCollector(3)))
	if text != "# HELP golden_value A value.\n# TYPE golden_value gauge\ngolden_value 3\n" {
		t.Fatalf("Format = %q", text)
	}
	mfs := Parse(t, strings.NewReader(text))
	if mf := mfs["golden_value"]; mf == nil || mf.GetMetric()[0].GetGauge().GetValue() != 3 {
		t.Fatalf("Parse = %v", mfs)
	}
	path := filepath.Join(t.TempDir(), "sub", "g.prom")
	*Update = true
	Compare(t, gaugeCollector(3), path) // writes
	*Update = false
	Compare(t, gaugeCollector(3), path) // compares equal
	if got := ParseFile(t, path); got["golden_value"] == nil {
		t.Fatal("ParseFile lost the family")
	}
	b, _ := os.ReadFile(path)
	if string(b) != text {
		t.Fatalf("-update wrote %q", b)
	}
}

func TestPromtoolOnGoodFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ok.prom"), Format(t, gaugeCollector(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	Promtool(t, filepath.Join(dir, "*.prom"))
}
