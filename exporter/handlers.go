package exporter

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/redact"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// MetricsHandler serves the exporter's own metrics plus every static
// target, scraped concurrently.
func (e *Exporter) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := e.state.Load()
		upDesc := prometheus.NewDesc("lbpilot_up", upHelp, st.upLabels, nil)
		durDesc := prometheus.NewDesc("lbpilot_scrape_duration_seconds", durHelp, st.upLabels, nil)
		jobs := make([]*job, 0, len(st.targets))
		for _, t := range st.targets {
			c, err := e.withParams(t, r.URL.RawQuery)
			if err != nil {
				http.Error(w, fmt.Sprintf("Bad parameter for target %q: %v", t.cfg.Name, err), http.StatusBadRequest)
				return
			}
			jobs = append(jobs, &job{
				module: t.cfg.Module, name: t.cfg.Name, url: t.cfg.URL, timeout: t.module.Timeout,
				collector: c, upDesc: upDesc, durDesc: durDesc, upValues: t.upValues,
			})
		}
		e.serve(w, r, jobs, true)
		e.mem.scraped()
	})
}

// withParams returns a static target's collector for a request: the one
// built at load time, or, when the query holds parameters of the target's
// kind (promex's scope, metrics, … for haproxy), one built for this
// request with them applied.
func (e *Exporter) withParams(t *staticTarget, rawQuery string) (collectors.Collector, error) {
	k := e.kinds[t.module.Kind]
	if k.Params == nil || rawQuery == "" {
		return t.collector, nil
	}
	m, err := k.Params(t.module, rawQuery)
	if err != nil || m == t.module {
		return t.collector, err
	}
	return k.New(m, t.target, log.With(e.logger, "target", t.cfg.Name))
}

var (
	probeUpDesc  = prometheus.NewDesc("lbpilot_up", upHelp, []string{"module"}, nil)
	probeDurDesc = prometheus.NewDesc("lbpilot_scrape_duration_seconds", durHelp, []string{"module"}, nil)
)

// ProbeHandler serves /probe?module=M&target=T: one target, a fresh
// registry per request, no exporter self-metrics. An unknown module or a
// missing or malformed target answers 400; a target that fails to scrape
// answers 200 with lbpilot_up 0.
func (e *Exporter) ProbeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		st := e.state.Load()
		modName := q.Get("module")
		if modName == "" {
			e.probeInvalid.WithLabelValues("missing_module").Inc()
			http.Error(w, "Module parameter is missing (e.g. module=haproxy)", http.StatusBadRequest)
			return
		}
		m, ok := st.cfg.Modules[modName]
		if !ok {
			e.probeInvalid.WithLabelValues("unknown_module").Inc()
			http.Error(w, fmt.Sprintf("Unknown module %q", modName), http.StatusBadRequest)
			return
		}
		target := q.Get("target")
		if target == "" {
			e.probeInvalid.WithLabelValues("missing_target").Inc()
			msg := "Target parameter is missing"
			if strings.Contains(r.URL.RawQuery, ";") {
				// Go drops query pairs holding a raw ';' (";csv" pages).
				msg += ": the query holds an unescaped ';' (write it as %3B, or give the stats page URL without ;csv)"
			}
			http.Error(w, msg, http.StatusBadRequest)
			return
		}
		if err := m.probeAllowed(target); err != nil {
			e.probeInvalid.WithLabelValues("target_not_allowed").Inc()
			level.Warn(e.logger).Log("msg", "Refused /probe of a target the module may not be pointed at", "module", modName, "target", upstream.RedactURL(target), "remote", r.RemoteAddr, "reason", err)
			http.Error(w, fmt.Sprintf("Target %q not allowed for module %q: %v", upstream.RedactURL(target), modName, err), http.StatusBadRequest)
			return
		}
		k := e.kinds[m.Kind]
		if k.Params != nil {
			pm, err := k.Params(m, r.URL.RawQuery)
			if err != nil {
				e.probeInvalid.WithLabelValues("bad_param").Inc()
				http.Error(w, fmt.Sprintf("Bad parameter for module %q: %v", modName, err), http.StatusBadRequest)
				return
			}
			m = pm
		}
		if k.CheckURL != nil {
			if err := k.CheckURL(target); err != nil {
				e.probeInvalid.WithLabelValues("bad_target").Inc()
				http.Error(w, fmt.Sprintf("Bad target for module %q: %v", modName, redact.Error(err)), http.StatusBadRequest)
				return
			}
		}
		e.probeShared(w, r, r.URL.Query().Encode(), k.Protocol, func() (*job, error) {
			c, err := k.New(m, collectors.Target{URL: target}, e.logger)
			if err != nil {
				e.probeInvalid.WithLabelValues("bad_target").Inc()
				return nil, badTarget{fmt.Sprintf("Bad target for module %q: %v", modName, redact.Error(err))}
			}
			return &job{
				module: modName, url: target, timeout: m.Timeout, collector: c,
				upDesc: probeUpDesc, durDesc: probeDurDesc, upValues: []string{modName},
			}, nil
		})
	})
}

// ReloadHandler serves POST /-/reload: 200 when the new config is live,
// 500 with the error when it was refused (the old one stays), 405 for any
// other method.
func (e *Exporter) ReloadHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "This endpoint requires a POST request.", http.StatusMethodNotAllowed)
			return
		}
		start := time.Now()
		if err := e.Reload(); err != nil {
			http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
			return
		}
		level.Info(e.logger).Log("msg", "Reloaded config via /-/reload", "duration_seconds", time.Since(start).Seconds())
		fmt.Fprintln(w, "OK")
	})
}
