// Package golden holds the golden-file helpers the collector tests share:
// compare a collector's exposition with testdata/*.prom (rewritten with
// `go test -update`), and run every golden file through the real
// `promtool check metrics`.
package golden

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

// Update rewrites golden files instead of comparing with them.
var Update = flag.Bool("update", false, "rewrite testdata/*.prom golden files from the current output")

// Format gathers c on a pedantic registry and returns the text exposition.
func Format(t testing.TB, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("registering collector: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encoding %s: %v", mf.GetName(), err)
		}
	}
	return buf.Bytes()
}

// Compare checks c's exposition against the golden file path with
// testutil.CollectAndCompare; with -update it writes the file instead.
func Compare(t testing.TB, c prometheus.Collector, path string) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, Format(t, c), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("golden file: %v (run `go test -update` to create it)", err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c, f); err != nil {
		t.Fatalf("output differs from %s (run `go test -update` if the change is intended):\n%v", path, err)
	}
}

// Promtool runs `promtool check metrics` on every file matching glob and
// fails the test on any finding or when nothing matches.
func Promtool(t *testing.T, glob string) {
	t.Helper()
	promtool := testenv.Binary(t, "promtool")
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files match %s", glob)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			t.Errorf("%s is empty", file)
			continue
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("promtool check metrics %s: %v\n%s", file, err, out)
		}
	}
}

// Parse reads text exposition into families keyed by name, failing the
// test when it does not parse.
func Parse(t testing.TB, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	return mfs
}

// ParseFile is Parse for a file.
func ParseFile(t testing.TB, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Parse(t, f)
}
