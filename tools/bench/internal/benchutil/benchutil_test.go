package benchutil

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if p <= 0 || p > 65535 || MustFreePort() <= 0 {
		t.Fatalf("port %d", p)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("the port is not free: %v", err)
	}
	_ = l.Close()
}

func TestPeakRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		if testenv.InCI() {
			t.Fatalf("no /proc: %v", err)
		}
		t.Skip("no /proc")
	}
	// The test binary holds several MiB at its peak.
	if rss := PeakRSS(os.Getpid()); rss < 1<<20 || rss != float64(int64(rss)/1024*1024) {
		t.Errorf("peak RSS %v bytes, want whole KiB above 1 MiB", rss)
	}
	if rss := PeakRSS(-1); rss != 0 {
		t.Errorf("no such process: %v", rss)
	}
}

func TestFinish(t *testing.T) {
	dir := t.TempDir()
	md := func() (string, error) { return "| a | b |\n", nil }
	var stdout bytes.Buffer
	if err := Finish(&stdout, "", md); err != nil || stdout.String() != "| a | b |\n" {
		t.Errorf("stdout %q, %v", stdout.String(), err)
	}
	file := filepath.Join(dir, "out.md")
	stdout.Reset()
	if err := Finish(&stdout, file, md); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "| a | b |\n" || stdout.Len() != 0 {
		t.Errorf("file %q, stdout %q", b, stdout.String())
	}
	if err := Finish(&stdout, filepath.Join(dir, "no", "such", "dir.md"), md); err == nil {
		t.Error("writing into a missing directory passed")
	}
	failed := filepath.Join(dir, "failed.md")
	boom := errors.New("boom")
	if err := Finish(&stdout, failed, func() (string, error) { return "partial", boom }); !errors.Is(err, boom) {
		t.Errorf("run's error: %v", err)
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Errorf("a failed run wrote its fragment: %v", err)
	}
}

// Fail exits 1 with the program's name before the error; it runs in a
// child process, as it ends the process.
func TestFail(t *testing.T) {
	if os.Getenv("BENCHUTIL_FAIL") == "1" {
		Fail("bench/x", errors.New("no haproxy"))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFail$")
	cmd.Env = append(os.Environ(), "BENCHUTIL_FAIL=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "bench/x: no haproxy") {
		t.Errorf("exit %v, stderr %q", err, stderr.String())
	}
}
