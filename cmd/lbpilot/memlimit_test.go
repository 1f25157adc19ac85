package main

import (
	"errors"
	"testing"
)

func TestDefaultMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		env     string
		content string
		err     error
		want    int64
	}{
		{"", "1073741824\n", nil, 966367641},
		{"", "max\n", nil, 0},
		{"", "", errors.New("no cgroup v2"), 0},
		{"512MiB", "1073741824\n", nil, 0}, // the operator's GOMEMLIMIT wins
		{"", "garbage", nil, 0},
	} {
		got := defaultMemoryLimit(func(string) string { return tt.env }, func(string) ([]byte, error) { return []byte(tt.content), tt.err })
		if got != tt.want {
			t.Errorf("GOMEMLIMIT=%q memory.max=%q: %d, want %d", tt.env, tt.content, got, tt.want)
		}
	}
}
