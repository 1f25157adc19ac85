package demo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildPrograms compiles lbpilot and lbpilot-lab from the repository at
// repo into dir with the Go command goBin (the build cache of `make build`
// makes it quick), for the tests and tools that start a stack of their
// own, and returns the two programs' paths.
func BuildPrograms(ctx context.Context, goBin, repo, dir string) (lbpilot, lab string, err error) {
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", dir+string(filepath.Separator), "./cmd/lbpilot", "./cmd/lbpilot-lab")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/lbpilot ./cmd/lbpilot-lab in %s: %v\n%s", repo, err, out)
	}
	return filepath.Join(dir, "lbpilot"), filepath.Join(dir, "lbpilot-lab"), nil
}
