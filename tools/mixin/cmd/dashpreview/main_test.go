package main

import (
	"path/filepath"
	"testing"
)

func TestRun(t *testing.T) {
	out := t.TempDir()
	if code := run([]string{"-dashboards", "../../../../dashboards", "-data", "../../../../dashboards/preview/data.json", "-out", out}); code != 0 {
		t.Fatalf("run = %d", code)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(files) != 6 {
		t.Errorf("wrote %d previews", len(files))
	}
	if code := run([]string{"-dashboards", t.TempDir(), "-data", "../../../../dashboards/preview/data.json", "-out", out}); code != 1 {
		t.Errorf("run without dashboards = %d, want 1", code)
	}
	if code := run([]string{"-dashboards", "../../../../dashboards", "-out", t.TempDir()}); code != 1 {
		t.Errorf("run without recorded data = %d, want 1", code)
	}
	if code := run([]string{"-x"}); code != 2 {
		t.Errorf("run with a bad flag = %d, want 2", code)
	}
}
