package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"

	"github.com/lbpilot/lbpilot/agent"
	"github.com/lbpilot/lbpilot/internal/logging"
	"github.com/lbpilot/lbpilot/internal/webserver"
)

func init() {
	register("agent", "Answer HAProxy agent-checks (and GET /health) with load-aware weights from the local WCS, SRS or EMQX.", newAgentRole)
}

type agentRole struct {
	log           logging.Config
	configFile    string
	configCheck   bool
	webConfigFile string
	limits        webserver.Limits

	listen, httpListen, source, target, mode string
	allow                                    []string
	thresholds                               map[string]string
	knee                                     float64
	floor, maxconn                           int
	cacheTTL, upstreamTimeout                time.Duration
	emqxKeyFile, emqxNode                    string

	// set records which flags were given on the command line: those
	// override the configuration file, the others leave it alone.
	set map[string]*bool
}

func newAgentRole(cmd *kingpin.CmdClause) role {
	r := &agentRole{thresholds: map[string]string{}, set: map[string]*bool{}}
	flag := func(name, help string) *kingpin.FlagClause {
		b := new(bool)
		r.set[name] = b
		return cmd.Flag(name, help).IsSetByUser(b)
	}
	logging.AddFlags(cmd, &r.log)
	cmd.Flag("config.file", "Agent configuration file (an agent: section whose keys are these flags' names without agent., dashes as underscores). Flags given on the command line override it.").PlaceHolder("FILE").StringVar(&r.configFile)
	cmd.Flag("config.check", "Validate the configuration (file and flags) and exit.").BoolVar(&r.configCheck)
	cmd.Flag("web.config.file", "exporter-toolkit web configuration file (TLS, basic auth) for the HTTP listener.").PlaceHolder("FILE").StringVar(&r.webConfigFile)
	webserver.AddFlags(cmd, &r.limits)
	flag("agent.listen-address", "TCP address answering HAProxy's agent-check.").Default(agent.DefaultListenAddress).StringVar(&r.listen)
	flag("agent.http-listen-address", "Address serving GET /health (for ELB/ALB and nginx) and /metrics; empty turns HTTP off.").Default(agent.DefaultHTTPListenAddress).StringVar(&r.httpListen)
	flag("agent.allow", "Source network answered, as a CIDR or address (repeatable or comma-separated, like xinetd's only_from); others are closed without a reply. Default: every source.").PlaceHolder("CIDR").StringsVar(&r.allow)
	flag("agent.source", "Local upstream: wcs, srs or emqx.").Default(string(agent.WCS)).EnumVar(&r.source, string(agent.WCS), string(agent.SRS), string(agent.EMQX))
	flag("agent.target", "Upstream URL (default: "+agent.DefaultWCSTarget+" for wcs, http://localhost:1985 for srs, http://localhost:18083 for emqx).").PlaceHolder("URL").StringVar(&r.target)
	flag("agent.mode", "weight: up N% falling to the floor as the most loaded dimension reaches its threshold; updown: up 100% or down, as the WCS docs' script.").Default(string(agent.ModeWeight)).EnumVar(&r.mode, string(agent.ModeWeight), string(agent.ModeUpDown))
	flag("agent.threshold", "Threshold as NAME=VALUE, repeatable: cpu (percent of 5-minute load per CPU, default 90), publishers, subscribers, hls, band-in, band-out (Mbit/s), clients, streams, connections (default 100); VALUE off disables one.").PlaceHolder("NAME=VALUE").StringMapVar(&r.thresholds)
	flag("agent.weight.knee", "Weight mode: load, in percent of a threshold, up to which the weight stays 100%.").Default(strconv.Itoa(agent.DefaultKnee)).Float64Var(&r.knee)
	flag("agent.weight.floor", "Weight mode: weight in percent at and above a threshold (1..100; load alone never gives 0%).").Default(strconv.Itoa(agent.DefaultFloor)).IntVar(&r.floor)
	flag("agent.maxconn", "Add maxconn:N to every up reply (0: leave HAProxy's maxconn alone).").Default("0").IntVar(&r.maxconn)
	flag("agent.cache-ttl", "How long one upstream reading answers checks (0: read on every check; concurrent checks still share a reading).").Default(agent.DefaultCacheTTL.String()).DurationVar(&r.cacheTTL)
	flag("agent.upstream-timeout", "Bound on one upstream reading; keep it below HAProxy's timeout check (else agent-inter).").Default(agent.DefaultUpstreamTimeout.String()).DurationVar(&r.upstreamTimeout)
	flag("agent.emqx.api-key-file", "File whose first line is the EMQX API key and secret as key:secret (EMQX 4: AppID:secret), unless the config file sets credentials.").
		Envar("LBPILOT_EMQX_API_KEY_FILE").PlaceHolder("FILE").StringVar(&r.emqxKeyFile)
	flag("agent.emqx.node", "EMQX node to report on (default self: the node answering, EMQX 5; EMQX 4 and emqttd 2 need the name, e.g. emqx@10.0.0.11).").PlaceHolder("NODE").StringVar(&r.emqxNode)
	return r
}

func (r *agentRole) given(name string) bool { return *r.set[name] }

// config reads the file (if any) and lays the given flags over it.
func (r *agentRole) config() (*agent.Config, error) {
	cfg := &agent.Config{}
	if r.configFile != "" {
		var err error
		if cfg, err = agent.LoadFile(r.configFile); err != nil {
			return nil, err
		}
	}
	if r.given("agent.listen-address") {
		cfg.ListenAddress = r.listen
	}
	if r.given("agent.http-listen-address") {
		cfg.HTTPListenAddress = &r.httpListen
	}
	if r.given("agent.allow") {
		cfg.Allow = r.allow
	}
	if r.given("agent.source") {
		cfg.Source = r.source
	}
	if r.given("agent.target") {
		cfg.Target = r.target
	}
	if r.given("agent.mode") {
		cfg.Mode = r.mode
	}
	if r.given("agent.threshold") {
		if cfg.Thresholds == nil {
			cfg.Thresholds = map[string]string{}
		}
		for k, v := range r.thresholds {
			cfg.Thresholds[k] = v
		}
	}
	if r.given("agent.weight.knee") {
		cfg.Weight.Knee = &r.knee
	}
	if r.given("agent.weight.floor") {
		cfg.Weight.Floor = &r.floor
	}
	if r.given("agent.maxconn") {
		cfg.MaxConn = r.maxconn
	}
	if r.given("agent.cache-ttl") {
		cfg.CacheTTL = &r.cacheTTL
	}
	if r.given("agent.upstream-timeout") {
		cfg.UpstreamTimeout = r.upstreamTimeout
	}
	if r.given("agent.emqx.node") {
		cfg.EMQX.Node = r.emqxNode
	}
	// Like the exporter's flag: credentials for an emqx source that has
	// none of its own (the flag or its environment variable).
	if r.emqxKeyFile != "" && !cfg.EMQX.HasCredentials() {
		cfg.EMQX.APIKeyFile = r.emqxKeyFile
	}
	return cfg, nil
}

func (r *agentRole) run(ctx context.Context, stdout, stderr io.Writer) int {
	logger, err := logging.NewWriter(stderr, r.log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg, err := r.config()
	if err == nil {
		err = cfg.Complete()
	}
	if err == nil {
		err = r.limits.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "lbpilot agent:", err)
		return 1
	}
	cfg.LogDeprecation(logger)
	if r.configCheck {
		fmt.Fprintf(stdout, "agent configuration OK: source %s at %s, mode %s, thresholds %s\n", cfg.Source, cfg.Target, cfg.Mode, thresholdsOf(cfg))
		if h := cfg.HTTP(); h != nil && h.HTTPClientConfig != nil {
			// What the source's requests use, secrets hidden.
			var b strings.Builder
			enc := yaml.NewEncoder(&b)
			enc.SetIndent(2)
			if err := enc.Encode(map[string]any{cfg.Source: map[string]any{"http_client_config": h.HTTPClientConfig}}); err != nil {
				fmt.Fprintln(stderr, "lbpilot agent:", err)
				return 1
			}
			fmt.Fprint(stdout, b.String())
		}
		return 0
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts, err := cfg.Options(logger)
	if err != nil {
		level.Error(logger).Log("msg", "Building the agent", "err", err)
		return 1
	}
	opts.Registry = reg
	a, err := agent.New(opts)
	if err != nil {
		level.Error(logger).Log("msg", "Building the agent", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		level.Error(logger).Log("msg", "Listening for agent checks", "err", err)
		return 1
	}
	level.Info(logger).Log("msg", "Starting lbpilot agent", "version", version.Info(), "listen", ln.Addr(), "source", opts.Kind,
		"target", opts.Target, "mode", opts.Policy.Mode, "thresholds", opts.Policy.Thresholds, "allow", opts.Allow, "http", *cfg.HTTPListenAddress)
	var open []string
	if opts.Allow.Empty() && !webserver.Loopback(cfg.ListenAddress) {
		open = append(open, "agent checks on "+cfg.ListenAddress+" (no --agent.allow)")
	}
	if addr := *cfg.HTTPListenAddress; addr != "" {
		sd := false
		if len(webserver.Unauthenticated(&web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &sd, WebConfigFile: &r.webConfigFile})) > 0 {
			open = append(open, "HTTP on "+addr+" (no basic_auth_users in --web.config.file)")
		}
	}
	if len(open) > 0 {
		level.Warn(logger).Log("msg", "Serving without authentication on a non-loopback address: anyone who reaches it can read this host's load, or hold connections", "open", strings.Join(open, "; "))
	} else if opts.Allow.Empty() {
		level.Info(logger).Log("msg", "Answering agent checks from every source; --agent.allow restricts them")
	}
	if _, set := cfg.Thresholds["connections"]; opts.Kind == agent.EMQX && !set {
		level.Warn(logger).Log("msg", "The connections threshold is the WCS docs' default of 100; an EMQX node usually holds far more, set --agent.threshold=connections=N")
	}

	// Reload (SIGHUP, POST /-/reload): the file and the flags again; the
	// listeners cannot move while they are open.
	load := func() (agent.Options, error) {
		c, err := r.config()
		if err == nil {
			err = c.Complete()
		}
		switch {
		case err != nil:
			return agent.Options{}, err
		case c.ListenAddress != cfg.ListenAddress:
			return agent.Options{}, fmt.Errorf("listen_address cannot change on reload (%s → %s); restart the agent", cfg.ListenAddress, c.ListenAddress)
		case *c.HTTPListenAddress != *cfg.HTTPListenAddress:
			return agent.Options{}, fmt.Errorf("http_listen_address cannot change on reload (%q → %q); restart the agent", *cfg.HTTPListenAddress, *c.HTTPListenAddress)
		}
		c.LogDeprecation(logger)
		return c.Options(logger)
	}
	reload := func() error { return a.Reload(load) }
	mux, err := agentMux(a, reload)
	if err != nil {
		level.Error(logger).Log("msg", "Building HTTP handlers", "err", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer reloadOnHUP(ctx, reload)()
	errc := make(chan error, 2)
	running := 1
	go func() { errc <- a.Serve(ctx, ln) }()
	if addr := *cfg.HTTPListenAddress; addr != "" {
		running++
		flags := &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: new(bool), WebConfigFile: &r.webConfigFile}
		go func() { errc <- webserver.RunWith(ctx, mux, flags, r.limits, logger) }()
	}
	code := 0
	for ; running > 0; running-- {
		if err := <-errc; err != nil {
			level.Error(logger).Log("msg", "Agent stopped", "err", err)
			code = 1
		}
		cancel() // one listener failing stops the other
	}
	return code
}

func thresholdsOf(cfg *agent.Config) agent.Thresholds {
	k := agent.Kind(cfg.Source)
	t, _ := agent.DefaultThresholds(k).Apply(k, cfg.Thresholds)
	return t
}

// agentMux wires the agent's HTTP routes.
func agentMux(a *agent.Agent, reload func() error) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle("/-/reload", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost && req.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "This endpoint requires a POST request.", http.StatusMethodNotAllowed)
			return
		}
		if err := reload(); err != nil {
			http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "OK")
	}))
	mux.Handle("/health", a.HealthHandler())
	mux.Handle("/metrics", promhttp.HandlerFor(a.Registry(), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.Handle("/-/healthy", webserver.Healthy())
	mux.Handle("/-/ready", webserver.Healthy())
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "lbpilot agent",
		Description: "HAProxy agent-check with load-aware weights from the local WCS, SRS or EMQX",
		Version:     version.Info(),
		Profiling:   "false", // no pprof handlers are served: no links to them
		Links: []web.LandingLinks{
			{Address: "/health", Text: "Health (JSON verdict)"},
			{Address: "/metrics", Text: "Metrics"},
		},
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/", landing)
	return mux, nil
}
