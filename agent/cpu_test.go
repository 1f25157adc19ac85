package agent

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseLoadAvg(t *testing.T) {
	if v, err := parseLoadAvg("0.52 1.75 0.59 1/467 12345\n"); err != nil || v != 1.75 {
		t.Errorf("got %v %v", v, err)
	}
	for _, bad := range []string{"", "0.5 0.6", "0.5 x 0.7 1/2 3", "0.5 -1 0.7 1/2 3"} {
		if _, err := parseLoadAvg(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-1\n": 2, "0-3,6,8-9": 7, "2-2": 1} {
		if n, err := parseCPUList(in); err != nil || n != want {
			t.Errorf("%q: %d %v, want %d", in, n, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "0-", "-1", "0,,1"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProcCPU: load5 / online CPUs * 100, as the WCS script computes it.
func TestProcCPU(t *testing.T) {
	dir := t.TempDir()
	la := writeFile(t, dir, "loadavg", "9.00 3.00 1.00 2/300 999\n")
	online := writeFile(t, dir, "online", "0-3\n")
	if v, err := (ProcCPU{LoadAvgPath: la, OnlinePath: online}).Percent(); err != nil || v != 75 {
		t.Errorf("3.00 on 4 CPUs: %v %v, want 75", v, err)
	}
	// Without sysfs, the CPU count falls back to the runtime's.
	v, err := ProcCPU{LoadAvgPath: la, OnlinePath: filepath.Join(dir, "missing")}.Percent()
	if want := 300 / float64(runtime.NumCPU()); err != nil || math.Abs(v-want) > 1e-9 {
		t.Errorf("fallback: %v %v, want %v", v, err, want)
	}
	bad := writeFile(t, dir, "bad-online", "garbage")
	if v, _ := (ProcCPU{LoadAvgPath: la, OnlinePath: bad}).Percent(); math.Abs(v-300/float64(runtime.NumCPU())) > 1e-9 {
		t.Errorf("unparsable online list: %v", v)
	}
	if _, err := (ProcCPU{LoadAvgPath: filepath.Join(dir, "nope")}).Percent(); err == nil || !strings.HasPrefix(err.Error(), "cpu: ") {
		t.Errorf("missing loadavg: %v", err)
	}
	garbled := writeFile(t, dir, "garbled", "load")
	if _, err := (ProcCPU{LoadAvgPath: garbled}).Percent(); err == nil || !strings.Contains(err.Error(), "garbled") {
		t.Errorf("garbled loadavg: %v", err)
	}
	if runtime.GOOS == "linux" {
		if v, err := (ProcCPU{}).Percent(); err != nil || v < 0 {
			t.Errorf("this host: %v %v", v, err)
		}
	}
}
