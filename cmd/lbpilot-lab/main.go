// Command lbpilot-lab serves simulated Flashphoner WCS, SRS and EMQX APIs
// on loopback ports, for the demo, manual testing and the benchmarks, and
// drives client traffic through HAProxy's frontends.
//
// serve (the default command, so `lbpilot-lab --wcs=2` still works) runs
// the servers. Each server's load is set through its own control API
// (POST /lab/load, /lab/profile, /lab/fault, /lab/restart; see
// internal/lab). It prints the addresses (and writes them as JSON with
// --addresses-file) and runs until SIGINT or SIGTERM.
//
// traffic runs a plan (internal/traffic): sessions through loopback
// frontends, JSON lines over time, Prometheus metrics, and a summary of
// every session refused or cut. Exit codes: 0 done, 1 runtime failure, 2
// bad plan or flags.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// group is one kind of server and how many of it.
type group struct {
	prefix string
	count  int
	cfg    lab.Config
}

// usageTemplate is kingpin's default with each command's flags listed
// under it, so that `lbpilot-lab --help` shows serve's flags (it is the
// default command) as well as traffic's.
var usageTemplate = strings.Replace(kingpin.DefaultUsageTemplate,
	"{{.Help|Wrap 4}}\n{{end -}}",
	"{{.Help|Wrap 4}}\n{{with .Flags|FlagsToTwoColumns}}{{FormatTwoColumnsWithIndent . 4 2}}{{end}}\n{{end -}}", 1)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("lbpilot-lab", "Simulated WCS, SRS and EMQX APIs with settable load on loopback ports (serve), and a traffic generator driving sessions through HAProxy's frontends (traffic).")
	app.Version(version.Print("lbpilot-lab"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.UsageTemplate(usageTemplate)
	exit := -1
	app.Terminate(func(code int) {
		if exit < 0 {
			exit = code
		}
	})
	serve := app.Command("serve", "Serve the simulated servers until SIGINT or SIGTERM (the default command).").Default()
	traffic := app.Command("traffic", "Run a traffic plan through HAProxy's loopback frontends; report JSON lines, metrics and a summary.")
	var tf trafficFlags
	traffic.Flag("plan", "The plan (JSON): seed, caps, protocols, phases; see docs/lab.md.").Required().PlaceHolder("FILE").StringVar(&tf.plan)
	traffic.Flag("metrics-address", "Serve the run's Prometheus metrics on this loopback address (/metrics).").PlaceHolder("127.0.0.1:PORT").StringVar(&tf.metricsAddr)
	traffic.Flag("report", "Write JSON report lines (one per second, then the summary) to this file; - is stdout.").Default("-").PlaceHolder("FILE").StringVar(&tf.report)
	traffic.Flag("report-interval", "Time between report lines.").Default("1s").DurationVar(&tf.interval)
	var (
		nWCS, nOrigin, nEdge, nEMQX   int
		host, addrFile, profileFile   string
		basePort                      int
		srsVersion, emqxVersion, keyF string
		emqxNodes                     int
		loads                         = map[string]string{}
		capacities                    = map[string]string{}
		clientPorts                   bool
		logCfg                        logging.Config
	)
	serve.Flag("wcs", "Number of WCS servers (wcs1, wcs2, ...).").Default("1").IntVar(&nWCS)
	serve.Flag("srs-origin", "Number of SRS origin servers (srs-origin1, ...).").Default("1").IntVar(&nOrigin)
	serve.Flag("srs-edge", "Number of SRS edge servers (srs-edge1, ...).").Default("1").IntVar(&nEdge)
	serve.Flag("emqx", "Number of EMQX clusters (emqx1, ...), each answering for --emqx-nodes nodes.").Default("1").IntVar(&nEMQX)
	serve.Flag("srs-version", "SRS version whose API shapes to serve: 6.0.157, 5.0.216, 4.0.271 or 3.0.170.").Default("6.0.157").StringVar(&srsVersion)
	serve.Flag("emqx-version", "EMQX API generation: v5, v4 or v2.").Default("v5").StringVar(&emqxVersion)
	serve.Flag("emqx-nodes", "Nodes per simulated EMQX cluster.").Default("2").IntVar(&emqxNodes)
	serve.Flag("emqx-api-key-file", "Require these EMQX credentials (a file whose first line is key:secret).").PlaceHolder("FILE").StringVar(&keyF)
	serve.Flag("listen-host", "Address the servers listen on.").Default("127.0.0.1").StringVar(&host)
	serve.Flag("base-port", "First port; the servers take consecutive ports in the order wcs, srs-origin, srs-edge, emqx. 0 picks free ports.").Default("0").IntVar(&basePort)
	serve.Flag("addresses-file", "Write the servers' names, kinds and URLs to this JSON file.").PlaceHolder("FILE").StringVar(&addrFile)
	serve.Flag("load", "Initial load of a group or of one server as NAME=JSON, e.g. srs-origin='{\"publishers\":1000,\"subscribers\":9000}' (groups: wcs, srs-origin, srs-edge, emqx; a server such as wcs1 overrides its group). Repeatable.").StringMapVar(&loads)
	serve.Flag("capacity", "Capacity of a group's servers or of one server as NAME=JSON, e.g. wcs='{\"sessions\":100,\"refuse\":false}' or wcs1='{\"sessions\":50}' (a server overrides its group): past it a server reports rising CPU (WCS: degraded streams) and, with refuse, turns new sessions away. Repeatable.").StringMapVar(&capacities)
	serve.Flag("client-ports", "Open every server's client ports for real sessions: WCS's WebSocket API, RTMP on SRS origins, HTTP-FLV and HLS on SRS edges, MQTT on each EMQX node. With --base-port they take consecutive ports after all the API ports.").BoolVar(&clientPorts)
	serve.Flag("profile", "JSON file mapping server names to scripted profiles ({\"wcs1\": {\"steps\": [...], \"loop\": true}}), started at once.").PlaceHolder("FILE").StringVar(&profileFile)
	logging.AddFlags(app, &logCfg)
	cmd, err := app.Parse(args)
	if exit >= 0 {
		return exit // --help, --version
	}
	if err != nil {
		fmt.Fprintf(stderr, "lbpilot-lab: error: %v, try --help\n", err)
		return 2
	}
	logger, err := logging.NewWriter(stderr, logCfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cmd == traffic.FullCommand() {
		return runTraffic(ctx, tf, stdout, stderr, logger)
	}
	var key, secret string
	if keyF != "" {
		b, err := os.ReadFile(keyF)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		line, _, _ := strings.Cut(string(b), "\n")
		var ok bool
		if key, secret, ok = strings.Cut(strings.TrimSpace(line), ":"); !ok {
			fmt.Fprintf(stderr, "%s: the first line must be key:secret\n", keyF)
			return 2
		}
		secret, _, _ = strings.Cut(secret, ":")
	}
	groups := []group{
		{"wcs", nWCS, lab.Config{Kind: lab.WCS}},
		{"srs-origin", nOrigin, lab.Config{Kind: lab.SRS, SRSVersion: srsVersion, SRSRole: "origin"}},
		{"srs-edge", nEdge, lab.Config{Kind: lab.SRS, SRSVersion: srsVersion, SRSRole: "edge"}},
		{"emqx", nEMQX, lab.Config{Kind: lab.EMQX, EMQXVersion: emqxVersion, EMQXNodes: emqxNodes, APIKey: key, APISecret: secret}},
	}
	// --load and --capacity take a group (wcs) or one server (wcs1); a
	// server's own value wins over its group's.
	known := map[string]bool{}
	for _, g := range groups {
		known[g.prefix] = true
		for i := 1; i <= g.count; i++ {
			known[fmt.Sprintf("%s%d", g.prefix, i)] = true
		}
	}
	serverLoads, serverCaps := map[string]lab.Load{}, map[string]lab.Capacity{}
	for name, js := range loads {
		if !known[name] {
			fmt.Fprintf(stderr, "--load %s: unknown group or server (want wcs, srs-origin, srs-edge, emqx or one of their servers, e.g. wcs1)\n", name)
			return 2
		}
		var l lab.Load
		if err := decodeStrict(js, &l); err != nil {
			fmt.Fprintf(stderr, "--load %s: %v\n", name, err)
			return 2
		}
		serverLoads[name] = l
		for i := range groups {
			if groups[i].prefix == name {
				groups[i].cfg.Load = l
			}
		}
	}
	for name, js := range capacities {
		if !known[name] {
			fmt.Fprintf(stderr, "--capacity %s: unknown group or server (want wcs, srs-origin, srs-edge, emqx or one of their servers, e.g. wcs1)\n", name)
			return 2
		}
		var c lab.Capacity
		if err := decodeStrict(js, &c); err != nil {
			fmt.Fprintf(stderr, "--capacity %s: %v\n", name, err)
			return 2
		}
		if err := c.Validate(); err != nil {
			fmt.Fprintf(stderr, "--capacity %s: %v\n", name, err)
			return 2
		}
		serverCaps[name] = c
		for i := range groups {
			if groups[i].prefix == name {
				groups[i].cfg.Capacity = c
			}
		}
	}
	profiles := map[string]lab.Profile{}
	if profileFile != "" {
		b, err := os.ReadFile(profileFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		if err := json.Unmarshal(b, &profiles); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", profileFile, err)
			return 2
		}
	}

	var servers []*lab.Server
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	port := basePort
	next := func() string {
		if basePort == 0 {
			return host + ":0"
		}
		port++
		return fmt.Sprintf("%s:%d", host, port-1)
	}
	// API ports first (their numbers do not move when client ports are
	// added), then the client ports in the same order.
	var cfgs []lab.Config
	var apiAddrs []string
	for _, g := range groups {
		for i := 1; i <= g.count; i++ {
			cfg := g.cfg
			cfg.Name = fmt.Sprintf("%s%d", g.prefix, i)
			if l, ok := serverLoads[cfg.Name]; ok {
				cfg.Load = l
			}
			if c, ok := serverCaps[cfg.Name]; ok {
				cfg.Capacity = c
			}
			cfgs = append(cfgs, cfg)
			apiAddrs = append(apiAddrs, next())
		}
	}
	if clientPorts {
		for i := range cfgs {
			n := 1
			if cfgs[i].Kind == lab.EMQX {
				n = cfgs[i].EMQXNodes
				if n <= 0 {
					n = 2 // the simulator's default cluster size
				}
			}
			for range n {
				cfgs[i].ClientAddrs = append(cfgs[i].ClientAddrs, next())
			}
		}
	}
	for i, cfg := range cfgs {
		s, err := lab.Start(cfg, apiAddrs[i])
		if err != nil {
			level.Error(logger).Log("msg", "Starting a lab server", "name", cfg.Name, "err", err)
			return 1
		}
		servers = append(servers, s)
		if p, ok := profiles[cfg.Name]; ok {
			if err := s.SetProfile(p); err != nil {
				level.Error(logger).Log("msg", "Bad profile", "name", cfg.Name, "err", err)
				return 2
			}
			delete(profiles, cfg.Name)
		}
	}
	if len(profiles) > 0 {
		var names []string
		for n := range profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(stderr, "%s: no server named %s\n", profileFile, strings.Join(names, ", "))
		return 2
	}
	var list []lab.Status
	for _, s := range servers {
		st := s.Status()
		list = append(list, st)
		fmt.Fprintf(stdout, "%-14s %-5s %s", st.Name, st.Kind, st.URL)
		for _, c := range st.Clients {
			fmt.Fprintf(stdout, " %s", c)
		}
		fmt.Fprintln(stdout)
	}
	if addrFile != "" {
		b, _ := json.MarshalIndent(list, "", "  ")
		tmp := addrFile + ".tmp"
		if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
			level.Error(logger).Log("msg", "Writing the addresses file", "err", err)
			return 1
		}
		if err := os.Rename(tmp, addrFile); err != nil {
			level.Error(logger).Log("msg", "Writing the addresses file", "err", err)
			return 1
		}
	}
	level.Info(logger).Log("msg", "Lab servers running; set their load with POST <url>/lab/load", "servers", len(servers))
	<-ctx.Done()
	level.Info(logger).Log("msg", "Stopping lab servers")
	return 0
}

// decodeStrict decodes one JSON object, refusing unknown fields.
func decodeStrict(js string, v any) error {
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
