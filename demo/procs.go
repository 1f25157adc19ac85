package demo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process of the stack: its own process group, its output in
// <logs>/<name>.log.
type Proc struct {
	Name string
	Args []string // Args[0] is the program's path
	Log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// Pid returns the process id (0 when not running).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return true, nil
	}
	select {
	case <-done:
		return true, p.err
	default:
		return false, nil
	}
}

// Procs starts and stops the processes of a stack and keeps their pids in
// a file, so that a later run can stop what an interrupted one left.
type Procs struct {
	PidFile string
	LogDir  string

	mu    sync.Mutex
	procs []*Proc
}

// Start runs args (args[0] a program path) as name. Its output goes to
// <LogDir>/<name>.log (appended: a restarted process keeps its history).
func (ps *Procs) Start(name string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Args: args, Log: filepath.Join(ps.LogDir, name+".log")}
	if err := ps.run(p); err != nil {
		return nil, err
	}
	ps.mu.Lock()
	ps.procs = append(ps.procs, p)
	ps.mu.Unlock()
	return p, ps.writePids()
}

func (ps *Procs) run(p *Proc) error {
	out, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	// A process group of its own: Ctrl-C in the terminal reaches the demo,
	// which stops everything in order, not every process at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Get returns the process called name (nil if none).
func (ps *Procs) Get(name string) *Proc {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Signal sends sig to the process and waits up to wait for it to exit
// (wait 0: do not wait).
func (ps *Procs) Signal(p *Proc, sig syscall.Signal, wait time.Duration) error {
	pid := p.Pid()
	if ended, _ := p.Exited(); ended || pid == 0 {
		return fmt.Errorf("%s is not running", p.Name)
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s (pid %d): %w", p.Name, pid, err)
	}
	if wait == 0 {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s (pid %d) still running %s after %v", p.Name, pid, wait, sig)
	}
}

// Stop ends one process: SIGTERM, then SIGKILL to its process group after
// grace.
func (ps *Procs) Stop(p *Proc, grace time.Duration) {
	pid := p.Pid()
	if ended, _ := p.Exited(); ended || pid == 0 {
		return
	}
	if ps.Signal(p, syscall.SIGTERM, grace) != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		p.mu.Lock()
		done := p.done
		p.mu.Unlock()
		<-done
	}
}

// Restart starts a stopped (or killed) process again with the same
// arguments.
func (ps *Procs) Restart(p *Proc) error {
	if ended, _ := p.Exited(); !ended {
		return fmt.Errorf("%s is still running", p.Name)
	}
	if err := ps.run(p); err != nil {
		return err
	}
	return ps.writePids()
}

// StopAll stops every process, the last started first, and removes the
// pid file.
func (ps *Procs) StopAll(grace time.Duration) {
	ps.mu.Lock()
	procs := append([]*Proc(nil), ps.procs...)
	ps.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		ps.Stop(procs[i], grace)
	}
	_ = os.Remove(ps.PidFile)
}

// writePids records "<pid> <name> <program>" for every running process.
func (ps *Procs) writePids() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var b strings.Builder
	b.WriteString("# pid name program — processes of a running lbpilot demo\n")
	for _, p := range ps.procs {
		if pid := p.Pid(); pid != 0 {
			if ended, _ := p.Exited(); !ended {
				fmt.Fprintf(&b, "%d %s %s\n", pid, p.Name, p.Args[0])
			}
		}
	}
	tmp := ps.PidFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, ps.PidFile)
}

// Leftover is a process an earlier run recorded in its pid file.
type Leftover struct {
	Pid     int
	Name    string
	Program string
}

// StopLeftovers stops the processes an earlier run recorded in pidFile
// that are still running and still ours: the same program, with dir on
// the command line (every process of the stack gets a path in its
// folder). It returns what it stopped; the pid file is removed.
func StopLeftovers(pidFile, dir string, grace time.Duration) ([]Leftover, error) {
	f, err := os.Open(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var found []Leftover
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil || pid <= 1 {
			continue
		}
		if ours(pid, fields[2], dir) {
			found = append(found, Leftover{Pid: pid, Name: fields[1], Program: fields[2]})
		}
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", pidFile, err)
	}
	// Stop them in reverse start order, as StopAll does.
	for i := len(found) - 1; i >= 0; i-- {
		stopPid(found[i].Pid, grace)
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return found, err
	}
	return found, nil
}

// ours reports whether pid runs program with dir somewhere on its
// command line (a recycled pid runs something else).
func ours(pid int, program, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) == 0 || args[0] != program {
		return false
	}
	for _, a := range args[1:] {
		if strings.Contains(a, dir) {
			return true
		}
	}
	return false
}

// stopPid sends SIGTERM, waits up to grace, then SIGKILLs the process
// group the demo gave the process.
func stopPid(pid int, grace time.Duration) {
	if syscall.Kill(pid, syscall.SIGTERM) != nil {
		return
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
