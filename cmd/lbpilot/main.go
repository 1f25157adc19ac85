// Command lbpilot watches WCS, SRS and EMQX clusters behind HAProxy and
// steers HAProxy when they get into trouble. One binary, three roles:
// exporter, rebalancer and agent.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"

	"github.com/lbpilot/lbpilot/internal/redact"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// role is one lbpilot command: it registers its flags on its kingpin
// command and runs until the context ends, returning the exit code.
type role interface {
	run(ctx context.Context, stdout, stderr io.Writer) int
}

// roles is filled by each role's file (exporter.go, rebalancer.go, agent.go).
var roles = map[string]func(*kingpin.CmdClause) role{}

// roleHelp gives each role's one-line description for --help.
var roleHelp = map[string]string{}

// roleOrder keeps --help stable.
var roleOrder []string

func register(name, help string, f func(*kingpin.CmdClause) role) {
	roles[name] = f
	roleHelp[name] = help
	roleOrder = append(roleOrder, name)
}

// terminated carries kingpin's exit code (after --help or --version) out of
// Parse without calling os.Exit, so run stays testable.
type terminated int

func run(args []string, stdout, stderr io.Writer) (code int) {
	// Whatever any path prints, a password written into a URL is hidden.
	stdout, stderr = redact.Writer(stdout), redact.Writer(stderr)
	defer func() {
		switch p := recover().(type) {
		case nil:
		case terminated:
			code = int(p)
		default:
			panic(p)
		}
	}()
	app := kingpin.New("lbpilot", "Watches media and messaging clusters behind HAProxy and steers HAProxy when they get into trouble.")
	app.Version(version.Print("lbpilot"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Terminate(func(c int) { panic(terminated(c)) })

	cmds := map[string]role{}
	for _, name := range roleOrder {
		cmds[name] = roles[name](app.Command(name, roleHelp[name]))
	}
	app.Command("version", "Print version information and exit.")

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "lbpilot: error: %v, try --help\n", err)
		return 2
	}
	if cmd == "version" {
		fmt.Fprintln(stdout, version.Print("lbpilot"))
		return 0
	}
	applyMemoryLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Nested commands (lbpilot ctl status) run their top-level role.
	top, _, _ := strings.Cut(cmd, " ")
	return cmds[top].run(ctx, stdout, stderr)
}
