package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	if code := run([]string{"-out", dir}); code != 0 {
		t.Fatalf("run = %d", code)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 6 {
		t.Errorf("wrote %d dashboards", len(files))
	}
	if code := run([]string{"-out", filepath.Join(dir, "missing", "dir")}); code != 1 {
		t.Errorf("run into a missing directory = %d, want 1", code)
	}
	if code := run([]string{"-bogus"}); code != 2 {
		t.Errorf("run with a bad flag = %d, want 2", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "overview.json")); err != nil {
		t.Error(err)
	}
}
