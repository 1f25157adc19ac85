// Package benchutil is what the benchmark programs of tools/bench share:
// a free loopback port for the processes they start, a process's peak
// memory, and writing the markdown fragment they produce.
package benchutil

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePort returns a loopback TCP port nothing listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// MustFreePort is FreePort for the programs that cannot go on without
// one: it panics when the system has no port to give.
func MustFreePort() int {
	p, err := FreePort()
	if err != nil {
		panic(err)
	}
	return p
}

// PeakRSS is a process's peak resident set (VmHWM), in bytes; 0 when it
// cannot be read (the process is gone, or there is no /proc).
func PeakRSS(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			kb, _ := strconv.ParseFloat(f[0], 64)
			return kb * 1024
		}
	}
	return 0
}

// WriteOutput writes a program's markdown fragment to the file out, or
// to stdout when out is "" (the -out flag's default).
func WriteOutput(stdout io.Writer, out, md string) error {
	if out == "" {
		_, err := io.WriteString(stdout, md)
		return err
	}
	return os.WriteFile(out, []byte(md), 0o644)
}

// Finish runs a program's measurement and writes its fragment as
// WriteOutput does; nothing is written when run fails.
func Finish(stdout io.Writer, out string, run func() (string, error)) error {
	md, err := run()
	if err != nil {
		return err
	}
	return WriteOutput(stdout, out, md)
}

// Fail ends a program that could not measure: the error on stderr after
// the program's name (bench/<name>), exit status 1.
func Fail(prog string, err error) {
	fmt.Fprintln(os.Stderr, prog+":", err)
	os.Exit(1)
}
