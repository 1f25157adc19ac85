package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/lbpilot/lbpilot/exporter"
	"github.com/lbpilot/lbpilot/internal/logging"
	"github.com/lbpilot/lbpilot/internal/sched"
	"github.com/lbpilot/lbpilot/internal/webserver"
)

func init() {
	register("exporter", "Serve Prometheus metrics of HAProxy, WCS, SRS and EMQX (/metrics, /probe).", newExporterRole)
}

type exporterRole struct {
	web            *web.FlagConfig
	log            logging.Config
	telemetryPath  string
	disableSelf    bool
	configFile     string
	configCheck    bool
	timeoutOffset  float64
	maxConcurrency int
	maxProbes      int
	maxProtoProbes int
	emqxKeyFile    string
	schedBatch     bool
	limits         webserver.Limits
}

func newExporterRole(cmd *kingpin.CmdClause) role {
	r := &exporterRole{}
	r.web = kingpinflag.AddFlags(cmd, ":9708")
	webserver.AddFlags(cmd, &r.limits)
	logging.AddFlags(cmd, &r.log)
	cmd.Flag("web.telemetry-path", "Path under which to expose the exporter's own metrics and every configured target.").Default("/metrics").StringVar(&r.telemetryPath)
	cmd.Flag("web.disable-exporter-metrics", "Exclude go_* and process_* metrics about the exporter itself from the telemetry path.").BoolVar(&r.disableSelf)
	cmd.Flag("config.file", "lbpilot exporter configuration file (modules and static targets). Without it the built-in modules haproxy, wcs, srs and emqx serve /probe.").Default("").StringVar(&r.configFile)
	cmd.Flag("config.check", "Validate the configuration file and exit.").BoolVar(&r.configCheck)
	cmd.Flag("timeout-offset", "Seconds subtracted from Prometheus's scrape timeout to leave time for the response.").Default("0.5").Float64Var(&r.timeoutOffset)
	cmd.Flag("scrape.concurrency", "Maximum number of targets one request scrapes at the same time.").Default("16").IntVar(&r.maxConcurrency)
	cmd.Flag("probe.max-concurrent", "Maximum number of /probe scrapes running at once (concurrent probes of the same target share one); past it /probe answers 503.").Default(fmt.Sprint(exporter.DefaultMaxProbes)).IntVar(&r.maxProbes)
	cmd.Flag("probe.max-concurrent-protocol", "Maximum number of /probe requests of the protocol probe kinds (mqtt, rtmp, flv, hls, websocket) running at once, in slots apart from those of the --probe.max-concurrent flag; past it they answer 503.").Default(fmt.Sprint(exporter.DefaultMaxProtocolProbes)).IntVar(&r.maxProtoProbes)
	cmd.Flag("collector.emqx.api-key-file", "File whose first line is the EMQX API key and secret as key:secret (EMQX 4: AppID:secret); used by every emqx module that sets no credentials itself, the built-in one included.").
		Envar("LBPILOT_EMQX_API_KEY_FILE").PlaceHolder("FILE").StringVar(&r.emqxKeyFile)
	cmd.Flag("runtime.sched-batch", "Run the exporter's threads under Linux's SCHED_BATCH policy (nice value kept): woken by a server on this host sending its answer, a thread waits for a free core instead of preempting that server, so a large scrape does not slow down the dump it reads. --no-runtime.sched-batch keeps the default policy.").Default("true").BoolVar(&r.schedBatch)
	return r
}

func (r *exporterRole) run(ctx context.Context, stdout, stderr io.Writer) int {
	logger, err := logging.NewWriter(stderr, r.log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if r.configCheck {
		if r.configFile == "" {
			fmt.Fprintln(stderr, "--config.check needs --config.file")
			return 2
		}
		cfg, err := exporter.CheckConfig(r.configFile, exporter.KindsWith(exporter.KindOptions{EMQXAPIKeyFile: r.emqxKeyFile}))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		cfg.LogDeprecations(logger)
		fmt.Fprintf(stdout, "%s: OK (%d modules, %d targets)\n", r.configFile, len(cfg.Modules), len(cfg.Targets))
		// The effective configuration, secrets hidden.
		out, err := cfg.YAML()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "---\n%s", out)
		return 0
	}
	if r.timeoutOffset < 0 {
		fmt.Fprintln(stderr, "--timeout-offset must not be negative")
		return 2
	}
	if r.maxProbes < 1 {
		fmt.Fprintln(stderr, "--probe.max-concurrent must be at least 1")
		return 2
	}
	if r.maxProtoProbes < 1 {
		fmt.Fprintln(stderr, "--probe.max-concurrent-protocol must be at least 1")
		return 2
	}
	if err := r.limits.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	level.Info(logger).Log("msg", "Starting lbpilot exporter", "version", version.Info(), "build_context", version.BuildContext())
	if r.schedBatch {
		applySchedBatch(logger)
	}
	if open := webserver.Unauthenticated(r.web); len(open) > 0 {
		level.Warn(logger).Log("msg", "Serving without authentication on a non-loopback address: anyone who reaches it can scrape, reload and probe; set basic_auth_users in --web.config.file or listen on 127.0.0.1", "addresses", strings.Join(open, ","))
	}
	e, err := exporter.New(exporter.Options{
		ConfigFile:             r.configFile,
		TimeoutOffset:          time.Duration(r.timeoutOffset * float64(time.Second)),
		Concurrency:            r.maxConcurrency,
		MaxProbes:              r.maxProbes,
		MaxProtocolProbes:      r.maxProtoProbes,
		DisableExporterMetrics: r.disableSelf,
		EMQXAPIKeyFile:         r.emqxKeyFile,
		Logger:                 logger,
	})
	if err != nil {
		return 1
	}
	defer reloadOnHUP(ctx, e.Reload)()
	h, err := exporterMux(e, r.telemetryPath, logger)
	if err != nil {
		level.Error(logger).Log("msg", "Building HTTP handlers", "err", err)
		return 1
	}
	if err := webserver.RunWith(ctx, h, r.web, r.limits, logger); err != nil {
		level.Error(logger).Log("msg", "HTTP server failed", "err", err)
		return 1
	}
	return 0
}

// exporterMux wires the exporter's routes.
func exporterMux(e *exporter.Exporter, telemetryPath string, logger log.Logger) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle(telemetryPath, e.MetricsHandler())
	mux.Handle("/probe", e.ProbeHandler())
	mux.Handle("/-/reload", e.ReloadHandler())
	mux.Handle("/-/healthy", webserver.Healthy())
	mux.Handle("/-/ready", webserver.Healthy())
	if telemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "lbpilot exporter",
			Description: "Prometheus metrics for HAProxy, Flashphoner WCS, SRS and EMQX",
			Version:     version.Info(),
			Profiling:   "false", // no pprof handlers are served: no links to them
			Form: web.LandingForm{
				Action: "/probe",
				Inputs: []web.LandingFormInput{
					{Label: "Module", Type: "text", Name: "module", Placeholder: "haproxy", Value: "haproxy"},
					{Label: "Target", Type: "text", Name: "target", Placeholder: "unix:/run/haproxy/admin.sock"},
				},
			},
			Links: []web.LandingLinks{
				{Address: telemetryPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
			},
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", landing)
	}
	_ = logger
	return mux, nil
}

// applySchedBatch moves the process's threads to SCHED_BATCH; failing
// that, the exporter runs as before, and says why.
func applySchedBatch(logger log.Logger) {
	n, err := sched.Batch()
	switch {
	case errors.Is(err, sched.ErrUnsupported):
		level.Debug(logger).Log("msg", "Scheduling policy left as it is", "reason", err)
	case err != nil:
		level.Warn(logger).Log("msg", "Could not move the exporter's threads to SCHED_BATCH; they keep the default policy (--no-runtime.sched-batch silences this)", "err", err)
	default:
		level.Debug(logger).Log("msg", "Threads moved to SCHED_BATCH", "threads", n)
	}
}
