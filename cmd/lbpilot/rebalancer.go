package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/lbpilot/lbpilot/internal/logging"
	"github.com/lbpilot/lbpilot/internal/webserver"
	"github.com/lbpilot/lbpilot/rebalancer"
)

func init() {
	register("rebalancer", "Receive Alertmanager webhooks and drain / maint / re-weight HAProxy servers through the runtime socket, back to ready when the alerts end.", newRebalancerRole)
}

type rebalancerRole struct {
	web           *web.FlagConfig
	log           logging.Config
	telemetryPath string
	disableSelf   bool
	configFile    string
	configCheck   bool

	sockets           []string
	stateFile         string
	reconcileInterval time.Duration
	minHold           time.Duration
	bearerTokenFile   string
	alertmanagerURL   string
	dryRun            bool
	limits            webserver.Limits

	set map[string]*bool // flags given on the command line override the config file
}

func newRebalancerRole(cmd *kingpin.CmdClause) role {
	r := &rebalancerRole{set: map[string]*bool{}}
	r.web = kingpinflag.AddFlags(cmd, ":9709")
	webserver.AddFlags(cmd, &r.limits)
	logging.AddFlags(cmd, &r.log)
	flag := func(name, help string) *kingpin.FlagClause {
		b := new(bool)
		r.set[name] = b
		return cmd.Flag(name, help).IsSetByUser(b)
	}
	cmd.Flag("web.telemetry-path", "Path under which to expose the rebalancer's metrics.").Default("/metrics").StringVar(&r.telemetryPath)
	cmd.Flag("web.disable-exporter-metrics", "Exclude go_* and process_* metrics.").BoolVar(&r.disableSelf)
	cmd.Flag("config.file", "Rebalancer configuration file (rules, guard, Alertmanager API, and the keys of the flags below). Without it the built-in rule applies: alerts labelled lbpilot_action=drain|maint, haproxy_backend, haproxy_server.").Default("").StringVar(&r.configFile)
	cmd.Flag("config.check", "Validate the configuration (file and flags) and exit.").BoolVar(&r.configCheck)
	flag("haproxy.socket", "HAProxy runtime socket at admin level: unix:/path or tcp://host:port. Repeat for every HAProxy process of this host; actions are applied to all. Config key haproxy.sockets.").StringsVar(&r.sockets)
	flag("rebalancer.state-file", "File holding alerts, ownership and releases (written atomically). Config key rebalancer.state_file.").Default(rebalancer.DefaultStateFile).StringVar(&r.stateFile)
	flag("rebalancer.reconcile-interval", "How often to re-check HAProxy (reloads, ended alerts, deferred actions) and refresh alerts from Alertmanager. Config key rebalancer.reconcile_interval.").Default(rebalancer.DefaultReconcileInterval.String()).DurationVar(&r.reconcileInterval)
	flag("rebalancer.min-hold", "Minimum time a server stays drained (or re-weighted) before it is restored. Config key rebalancer.min_hold.").Default("0s").DurationVar(&r.minHold)
	flag("rebalancer.bearer-token-file", "File with a token that webhook and state requests must send as 'Authorization: Bearer <token>'. Config key rebalancer.bearer_token_file.").Default("").StringVar(&r.bearerTokenFile)
	flag("alertmanager.url", "Alertmanager to refresh active alerts from (API v2) on every reconcile, e.g. http://127.0.0.1:9093. Config key alertmanager.url.").Default("").StringVar(&r.alertmanagerURL)
	flag("dry-run", "Plan and log every action, change nothing (no runtime commands, no state file writes). Config key rebalancer.dry_run.").BoolVar(&r.dryRun)
	return r
}

// config loads the file (or the defaults) and lays the flags given on the
// command line over it.
func (r *rebalancerRole) config() (*rebalancer.Config, error) {
	cfg := rebalancer.Default()
	if r.configFile != "" {
		var err error
		if cfg, err = rebalancer.LoadFile(r.configFile); err != nil {
			return nil, err
		}
	}
	if *r.set["haproxy.socket"] {
		cfg.HAProxy.Sockets = r.sockets
	}
	if *r.set["rebalancer.state-file"] {
		cfg.Rebalancer.StateFile = r.stateFile
	}
	if *r.set["rebalancer.reconcile-interval"] {
		cfg.Rebalancer.ReconcileInterval = r.reconcileInterval
	}
	if *r.set["rebalancer.min-hold"] {
		cfg.Rebalancer.MinHold = r.minHold
	}
	if *r.set["rebalancer.bearer-token-file"] {
		if r.bearerTokenFile == "" {
			// An empty value would silently turn the API's authentication off.
			return nil, fmt.Errorf("--rebalancer.bearer-token-file is empty: give the token file, or leave the flag out to run without a bearer token")
		}
		cfg.Rebalancer.BearerTokenFile = r.bearerTokenFile
	}
	if *r.set["alertmanager.url"] {
		cfg.Alertmanager.URL = r.alertmanagerURL
	}
	if *r.set["dry-run"] {
		cfg.Rebalancer.DryRun = r.dryRun
	}
	if err := cfg.Complete(); err != nil {
		return nil, err
	}
	if len(cfg.HAProxy.Sockets) == 0 {
		return nil, fmt.Errorf("no HAProxy socket: give --haproxy.socket (or haproxy.sockets in the config file)")
	}
	return cfg, nil
}

func (r *rebalancerRole) run(ctx context.Context, stdout, stderr io.Writer) int {
	logger, err := logging.NewWriter(stderr, r.log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg, err := r.config()
	if err == nil {
		err = r.limits.Validate()
	}
	if err != nil {
		if r.configCheck {
			fmt.Fprintln(stderr, err)
			return 1
		}
		level.Error(logger).Log("msg", "Invalid configuration", "err", err)
		return 2
	}
	cfg.LogDeprecations(logger)
	if r.configCheck {
		fmt.Fprintf(stdout, "rebalancer configuration OK: %d socket(s), %d rule(s)\n", len(cfg.HAProxy.Sockets), len(cfg.CompiledRules()))
		return 0
	}
	level.Info(logger).Log("msg", "Starting lbpilot rebalancer", "version", version.Info(), "build_context", version.BuildContext())
	if open := webserver.Unauthenticated(r.web); len(open) > 0 && cfg.Rebalancer.BearerTokenFile == "" {
		level.Warn(logger).Log("msg", "Serving without authentication on a non-loopback address: anyone who reaches it can post alerts that drain servers; set --rebalancer.bearer-token-file or basic_auth_users in --web.config.file, or listen on 127.0.0.1", "addresses", strings.Join(open, ","))
	}
	if !cfg.Rebalancer.DryRun {
		// A dry run never writes the state file, so it may shadow a real one.
		lock, err := rebalancer.LockStateFile(cfg.Rebalancer.StateFile)
		if err != nil {
			level.Error(logger).Log("msg", "Cannot start the rebalancer", "err", err)
			return 1
		}
		defer lock.Release()
	}
	load := func() (*rebalancer.Config, error) {
		c, err := r.config()
		if err == nil {
			c.LogDeprecations(logger)
		}
		return c, err
	}
	rb, err := rebalancer.New(rebalancer.Options{Config: cfg, Logger: logger, DisableExporterMetrics: r.disableSelf, Load: load})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot start the rebalancer", "err", err)
		return 1
	}
	mux := rb.Mux(r.telemetryPath) // with the operator page at "/"
	defer reloadOnHUP(ctx, rb.Reload)()
	loopCtx, stopLoop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = rb.Run(loopCtx)
	}()
	code := 0
	if err := webserver.RunWith(ctx, http.Handler(mux), r.web, r.limits, logger); err != nil {
		level.Error(logger).Log("msg", "HTTP server failed", "err", err)
		code = 1
	}
	stopLoop()
	wg.Wait()
	return code
}
