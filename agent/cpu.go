package agent

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// CPUReader returns the host's cpu dimension: the 5-minute load average
// divided by the number of online CPUs, in percent. That is what the WCS
// script computes with uptime, /proc/cpuinfo and bc (so 100 means one
// runnable task per CPU on average).
type CPUReader interface {
	Percent() (float64, error)
}

// CPUFunc adapts a function to CPUReader (tests).
type CPUFunc func() (float64, error)

// Percent calls f.
func (f CPUFunc) Percent() (float64, error) { return f() }

// ProcCPU reads Linux's /proc/loadavg and /sys/devices/system/cpu/online.
// The zero value reads the real files.
type ProcCPU struct {
	LoadAvgPath string // default /proc/loadavg
	OnlinePath  string // default /sys/devices/system/cpu/online
}

// Percent implements CPUReader.
func (p ProcCPU) Percent() (float64, error) {
	la := p.LoadAvgPath
	if la == "" {
		la = "/proc/loadavg"
	}
	b, err := os.ReadFile(la)
	if err != nil {
		return 0, fmt.Errorf("cpu: %w", err)
	}
	load5, err := parseLoadAvg(string(b))
	if err != nil {
		return 0, fmt.Errorf("cpu: %s: %w", la, err)
	}
	return load5 / float64(p.cpus()) * 100, nil
}

// cpus counts the online CPUs. The load average is host-wide, so it is
// divided by the host's CPUs, not by this process's affinity mask
// (runtime.NumCPU), which is only the fallback where sysfs is missing.
func (p ProcCPU) cpus() int {
	path := p.OnlinePath
	if path == "" {
		path = "/sys/devices/system/cpu/online"
	}
	if b, err := os.ReadFile(path); err == nil {
		if n, err := parseCPUList(string(b)); err == nil {
			return n
		}
	}
	return runtime.NumCPU()
}

// parseLoadAvg returns the second field of /proc/loadavg
// ("0.52 0.58 0.59 1/467 12345").
func parseLoadAvg(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return 0, fmt.Errorf("want three load averages, got %q", strings.TrimSpace(s))
	}
	v, err := strconv.ParseFloat(f[1], 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("5-minute load average %q is not a number", f[1])
	}
	return v, nil
}

// parseCPUList counts the CPUs of a kernel CPU list ("0-3,6,8-9" is 7).
func parseCPUList(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty CPU list")
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("CPU list %q: bad entry %q", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		n += b - a + 1
	}
	return n, nil
}
