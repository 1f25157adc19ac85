// Command lbpilot-demo runs lbpilot's whole loop on loopback and narrates
// it (`make demo`): lbpilot-lab's simulated WCS, SRS and EMQX, a real
// haproxy in front of them, one lbpilot agent per WCS node, the exporter,
// the rebalancer, Prometheus with the shipped rules and Alertmanager with
// the shipped configuration (demo timers). It plays the overload scenario,
// prints the URLs, and keeps everything running until Ctrl-C; then it
// stops exactly the processes it started.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/lbpilot/lbpilot/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("lbpilot-demo", "lbpilot's whole loop on loopback, narrated: lab upstreams, haproxy, agents, exporter, rebalancer, Prometheus, Alertmanager.")
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	var (
		dir, bin, repo string
		portBase       int
		noWait         bool
	)
	app.Flag("dir", "Folder for the rendered configuration, data, logs and the pid file.").Default(".demo").StringVar(&dir)
	app.Flag("bin", "Folder holding lbpilot and lbpilot-lab (make build).").Default("bin").StringVar(&bin)
	app.Flag("repo", "Repository root (its alerts/ are loaded).").Default(".").StringVar(&repo)
	app.Flag("port-base", "Use 18 consecutive ports from this one instead of the documented fixed ports.").Default("0").IntVar(&portBase)
	app.Flag("no-wait", "Stop everything after the scenario instead of waiting for Ctrl-C.").BoolVar(&noWait)
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "lbpilot-demo: error: %v, try --help\n", err)
		return 2
	}
	say := func(format string, a ...any) {
		fmt.Fprintf(stdout, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	ports := demo.DefaultPorts()
	if portBase != 0 {
		ports = demo.PortsFrom(portBase)
	}
	logs := filepath.Join(dir, "logs")

	say("lbpilot demo: everything on 127.0.0.1; configuration in %s/, logs in %s/", dir, logs)
	t0 := time.Now()
	s, err := demo.Start(ctx, demo.Options{
		Dir: dir, Repo: repo,
		Lbpilot: filepath.Join(bin, "lbpilot"), Lab: filepath.Join(bin, "lbpilot-lab"),
		Ports: ports, Say: say,
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			say("interrupted during start-up; stopped what was started")
			return 130
		}
		fmt.Fprintf(stderr, "lbpilot-demo: %v\n", err)
		fmt.Fprintf(stderr, "lbpilot-demo: logs are in %s/\n", logs)
		return 1
	}
	say("stack up in %.1f s; pids in %s", time.Since(t0).Seconds(), s.Procs.PidFile)
	say("")
	say("scenario: a flash crowd of real players overloads wcs1; it is drained, its players leave, and it is set ready again")
	results, err := s.Scenario(ctx, say)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			say("interrupted; stopping")
		} else {
			fmt.Fprintf(stderr, "lbpilot-demo: %v\n", err)
			fmt.Fprintf(stderr, "lbpilot-demo: logs are in %s/ (rebalancer.log, alertmanager.log, prometheus.log, …); stopping\n", logs)
		}
		stopAll(s, say)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	var total time.Duration
	for _, r := range results[1:] { // the settling step is not part of the story
		total += r.Took
	}
	say("scenario done: overload → drained → ready in %.1f s", total.Seconds())
	say("")
	p := s.Ports
	if noWait {
		say("the stack's URLs (it stops now: --no-wait):")
	} else {
		say("the stack keeps running:")
	}
	say("  Prometheus        %s/alerts", demo.URL(p.Prometheus))
	say("  Alertmanager      %s/#/alerts", demo.URL(p.Alertmanager))
	say("  exporter          %s/metrics", demo.URL(p.Exporter))
	say("  rebalancer page   %s/  (user %s, password in %s)", demo.URL(p.Rebalancer), demo.WebhookUser, s.Files.Password)
	say("  rebalancer state  curl -u %s:$(cat %s) %s/api/v1/state", demo.WebhookUser, s.Files.Password, demo.URL(p.Rebalancer))
	say("  HAProxy stats     %s/stats", demo.URL(p.HAProxyStats))
	say("  agents            %s/health, %s/health", demo.URL(p.AgentHTTP[0]), demo.URL(p.AgentHTTP[1]))
	say("  play it again     curl -d '%s' %s/lab/load   (and back: -d '%s')", demo.HighLoad, demo.URL(p.LabPort("wcs1")), demo.LowLoad)
	if noWait {
		stopAll(s, say)
		return 0
	}
	// Light real traffic on every kind keeps the dashboards' panels fed
	// while the stack waits.
	steady, err := s.KeepTraffic(ctx)
	if err != nil {
		say("the after-scenario traffic did not start: %v", err)
	} else {
		say("traffic keeps flowing: %d WebSocket publishers and %d players via fe_wcs, an RTMP publish via fe_rtmp with %d HTTP-FLV and %d HLS players via fe_play, %d MQTT clients via fe_mqtt (subscribed to demo/#, publishing once a second)",
			demo.SteadyWCSPublishers, demo.SteadyWCSPlayers, demo.SteadyFLVPlayers, demo.SteadyHLSPlayers, demo.SteadyMQTT)
	}
	say("press Ctrl-C to stop everything")
	watch(ctx, s, say)
	say("")
	if steady != nil {
		steady.Stop()
		say("closed the after-scenario traffic's clients")
	}
	stopAll(s, say)
	return 0
}

// watch waits for ctx, and tells once when a process of the stack ends on
// its own.
func watch(ctx context.Context, s *demo.Stack, say func(string, ...any)) {
	told := map[string]bool{}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, name := range []string{demo.ProcLab, demo.ProcAgent1, demo.ProcAgent2, demo.ProcHAProxy, demo.ProcExporter, demo.ProcRebalancer, demo.ProcAlertmanager, demo.ProcPrometheus} {
				p := s.Procs.Get(name)
				if p == nil || told[name] {
					continue
				}
				if ended, err := p.Exited(); ended {
					told[name] = true
					say("%s exited (%v); see %s", name, err, p.Log)
				}
			}
		}
	}
}

func stopAll(s *demo.Stack, say func(string, ...any)) {
	say("stopping the processes the demo started (pids from %s)", s.Procs.PidFile)
	t0 := time.Now()
	s.Stop()
	say("stopped in %s; logs stay in %s/", time.Since(t0).Round(time.Millisecond), s.Files.Logs)
}
