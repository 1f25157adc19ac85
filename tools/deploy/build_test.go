package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

type binaries struct{ lbpilot, lab string }

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	buildOut  []byte
	buildDir  string
)

// buildBinaries runs `make build` into a temporary folder once per test
// binary: the same command the Dockerfile's build stage runs.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	mk := testenv.Binary(t, "make")
	testenv.Binary(t, "go")
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "lbpilot-deploy-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command(mk, "-s", "build", "BIN="+buildDir)
		cmd.Dir = root
		buildOut, buildErr = cmd.CombinedOutput()
		built = binaries{lbpilot: filepath.Join(buildDir, "lbpilot"), lab: filepath.Join(buildDir, "lbpilot-lab")}
	})
	if buildErr != nil {
		t.Fatalf("make build: %v\n%s", buildErr, buildOut)
	}
	return built
}

// isStatic reports whether an ELF file needs no dynamic loader.
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return false, nil
		}
	}
	return true, nil
}

// `make build` (the Dockerfile's build step) gives static binaries, which
// distroless/static needs.
func TestMakeBuildIsStatic(t *testing.T) {
	b := buildBinaries(t)
	for _, p := range []string{b.lbpilot, b.lab} {
		ok, err := isStatic(p)
		if err != nil || !ok {
			t.Errorf("%s: static %v (%v)", p, ok, err)
		}
	}
	// The check tells a dynamic binary apart.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := isStatic(sh); err != nil || ok {
		t.Errorf("%s reads as static (%v)", sh, err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
