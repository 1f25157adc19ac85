package haproxyapi

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Process selects a worker through the master CLI of a master-worker
// HAProxy (`haproxy -W -S <socket>`): "@<n>" is the worker of relative
// process number n (1.8–2.4 with nbproc; "@1" is the only worker since
// 2.5), "@!<pid>" the worker of that system pid, "@master" the master
// itself. The zero value sends commands as they are (a worker's own
// stats socket).
type Process struct{ prefix string }

// ParseProcess validates a master CLI prefix.
func ParseProcess(s string) (Process, error) {
	switch {
	case s == "@master":
		return Process{prefix: s}, nil
	case strings.HasPrefix(s, "@!") && isPositiveInt(s[2:]):
		return Process{prefix: s}, nil
	case strings.HasPrefix(s, "@") && isPositiveInt(s[1:]):
		return Process{prefix: s}, nil
	}
	return Process{}, fmt.Errorf("HAProxy master CLI process %q: want @<n>, @!<pid> or @master", s)
}

// WorkerPID selects a worker by its system pid ("@!<pid>").
func WorkerPID(pid int) Process {
	if pid <= 0 {
		return Process{}
	}
	return Process{prefix: "@!" + strconv.Itoa(pid)}
}

func (p Process) String() string { return p.prefix }

// IsZero reports a Process that sends commands unprefixed.
func (p Process) IsZero() bool { return p.prefix == "" }

func isPositiveInt(s string) bool {
	if s == "" || len(s) > 9 || s[0] == '0' {
		return false
	}
	return allDigits(s)
}

// WithProcess routes every command through the master CLI to one process:
// the client's address must then be the master socket. Each command of a
// batch carries the prefix, since the master applies a prefix to one
// command only.
func WithProcess(p Process) Option { return func(c *Client) { c.process = p } }

// prefixed returns line with the client's process prefix on each of its
// ';'-separated commands, and a final `quit` for the master: unlike a
// worker's socket, the master CLI keeps the connection open after a line.
func (c *Client) prefixed(line string) string {
	if c.process.IsZero() {
		return line
	}
	parts := strings.Split(line, ";")
	for i, p := range parts {
		parts[i] = c.process.prefix + " " + p
	}
	return strings.Join(parts, ";") + ";quit"
}

// Proc is one process listed by the master CLI's `show proc`.
type Proc struct {
	PID  int
	Type string // "master", "worker" or a program's type
	// RelativePID is the worker's relative process number when HAProxy
	// prints one (1.8–2.4); 0 otherwise.
	RelativePID int
	// Old marks a worker left over from an earlier reload, still
	// finishing its connections.
	Old     bool
	Version string
}

// ShowProc runs `show proc` on a master CLI socket. The master keeps a
// connection open after its own commands, so the line ends with `quit`.
func (c *Client) ShowProc(ctx context.Context) ([]Proc, error) {
	if !c.process.IsZero() {
		return nil, fmt.Errorf("show proc: client is bound to process %s; ask the master socket itself", c.process)
	}
	out, err := c.execStreamSized(ctx, "show proc;quit", 4<<10, nil)
	if err != nil {
		return nil, err
	}
	return ParseProc(out)
}

// CurrentWorkers returns the workers of the current generation, in the
// order `show proc` lists them (old workers of earlier reloads excluded).
func CurrentWorkers(procs []Proc) []Proc {
	var out []Proc
	for _, p := range procs {
		if p.Type == "worker" && !p.Old {
			out = append(out, p)
		}
	}
	return out
}

// ParseProc parses `show proc`. Its header names the columns
// ("#<PID> <type> [<relative PID>] <reloads> <uptime> <version>"); the
// "# workers", "# old workers" and "# programs" lines open sections.
func ParseProc(data []byte) ([]Proc, error) {
	lines := bytes.Split(data, []byte{'\n'})
	if len(lines) == 0 || !bytes.HasPrefix(lines[0], []byte("#<PID>")) {
		return nil, fmt.Errorf("show proc: no header, HAProxy said %s (is this the master CLI socket?)", quoteSnippet(data))
	}
	var cols []string
	for _, f := range strings.Split(string(lines[0][1:]), "<") {
		if f = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f), ">")); f != "" {
			cols = append(cols, f)
		}
	}
	rel, ver := -1, -1
	for i, c := range cols {
		switch c {
		case "relative PID":
			rel = i
		case "version":
			ver = i
		}
	}
	var out []Proc
	section := "master"
	for _, l := range lines[1:] {
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if l[0] == '#' {
			section = strings.TrimSpace(string(l[1:]))
			continue
		}
		f := strings.Fields(string(l))
		if len(f) < 2 {
			return nil, fmt.Errorf("show proc: malformed line %s", quoteSnippet(l))
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("show proc: bad pid in %s", quoteSnippet(l))
		}
		p := Proc{PID: pid, Type: f[1], Old: section == "old workers"}
		// "[failed: 0]" and "[was: 1]" hold spaces: fields after the
		// type are positional only up to the relative PID.
		if rel == 2 && len(f) > 2 && section == "workers" {
			p.RelativePID, _ = strconv.Atoi(f[2])
		}
		if ver >= 0 && len(f) > 0 && ver < len(cols) {
			p.Version = f[len(f)-1]
		}
		out = append(out, p)
	}
	return out, nil
}
