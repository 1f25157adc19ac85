package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is cgroup v2's memory limit of this process's group
// (systemd's MemoryMax=, a container's memory limit).
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// memoryLimitShare of the cgroup limit becomes the Go runtime's soft
// limit: near it the garbage collector runs harder and returns memory to
// the system, before the kernel's OOM killer would end the process.
const memoryLimitShare = 0.9

// defaultMemoryLimit returns the soft memory limit to set when the
// operator set none (GOMEMLIMIT), or 0 to leave the runtime alone (no
// cgroup limit, or GOMEMLIMIT given).
func defaultMemoryLimit(getenv func(string) string, readFile func(string) ([]byte, error)) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	b, err := readFile(cgroupMemoryMax)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 { // "max": no limit
		return 0
	}
	return int64(float64(n) * memoryLimitShare)
}

// applyMemoryLimit sets the default soft memory limit, if any applies.
func applyMemoryLimit() {
	if l := defaultMemoryLimit(os.Getenv, os.ReadFile); l > 0 {
		debug.SetMemoryLimit(l)
	}
}
