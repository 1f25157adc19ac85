package exporter

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// promexConfig is a haproxy with HAProxy's own exporter on /metrics and
// everything promex has a scope for: listeners (option socket-stats), two
// stick tables, a resolvers section, backup servers, a server in
// maintenance and one resolved by DNS.
const promexConfig = `
resolvers dns1
    nameserver ns1 {{.Closed}}
    nameserver ns2 {{.Closed}}

frontend fe_http
    mode http
    description public web entry
    bind 127.0.0.1:{{.HTTP}} name plain
    bind 127.0.0.1:{{.HTTP2}} name second
    option socket-stats
    http-request track-sc0 src table st_src
    http-request use-service prometheus-exporter if { path /metrics }
    default_backend bk_web

frontend fe_tcp
    mode tcp
    bind 127.0.0.1:{{.TCP}}
    default_backend bk_tcp

backend st_src
    stick-table type ip size 1k expire 1m store http_req_cnt,conn_cur,gpc0

backend st_str
    stick-table type string len 32 size 100 expire 1m store server_id

backend bk_web
    mode http
    balance roundrobin
    server web1 {{.Up}} check inter 200ms
    server web2 {{.Closed}} check inter 200ms weight 50
    server web3 localhost:{{.UpPort}} maxconn 10
    server bk1 {{.Up}} backup check inter 200ms
    server byname example.invalid:80 resolvers dns1 init-addr none
    server maint1 {{.Up}} disabled

backend bk_tcp
    mode tcp
    server t1 {{.Up}}
    server t2 {{.Up}} backup
`

// TestPromexDropIn scrapes HAProxy 2.6's own exporter and lbpilot's
// /probe on the same haproxy with the same promex parameters, and checks
// that every family promex has is in lbpilot's answer with the same type
// and exactly the same series (label names and values).
func TestPromexDropIn(t *testing.T) {
	bin := testenv.Binary(t, "haproxy")
	if out, _ := exec.Command(bin, "-vv").CombinedOutput(); !strings.Contains(string(out), "Prometheus exporter") {
		if testenv.InCI() {
			t.Fatal("this haproxy is built without the Prometheus exporter (USE_PROMEX)")
		}
		t.Skip("haproxy without the Prometheus exporter")
	}
	up := haproxytest.Listener(t)
	_, upPort, _ := strings.Cut(up, ":")
	httpPort := testenv.FreePort(t)
	r := strings.NewReplacer("{{.Closed}}", testenv.ClosedPort(t), "{{.Up}}", up, "{{.UpPort}}", upPort,
		"{{.HTTP}}", fmt.Sprint(httpPort), "{{.HTTP2}}", fmt.Sprint(testenv.FreePort(t)), "{{.TCP}}", fmt.Sprint(testenv.FreePort(t)))
	global := strings.Replace(haproxytest.Global, "global\n", "global\n    description edge lb one\n", 1)
	inst := haproxytest.Start(t, global+r.Replace(promexConfig))
	promexURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort)
	// Traffic for the stick table; checks need a few intervals to settle.
	for i := 0; i < 3; i++ {
		if _, err := fetch(promexURL); err != nil {
			t.Fatal(err)
		}
	}
	// Checks every 200ms, rise 2 and fall 3: settled well within 1.5s.
	time.Sleep(1500 * time.Millisecond)

	e, logs := newExporter(t, Options{})
	for _, query := range []string{
		"",
		"scope=global",
		"scope=frontend&scope=backend",
		"scope=server",
		"scope=server&no-maint",
		"scope=listener",
		"scope=sticktable",
		"scope=*&scope=&scope=backend",
	} {
		t.Run(query, func(t *testing.T) {
			body, err := fetch(promexURL + "?" + query)
			if err != nil {
				t.Fatal(err)
			}
			promex := parseText(t, body)
			ours := scrape(t, e.ProbeHandler(), probe("haproxy", inst.Socket)+"&"+query)
			var valueChecks [][2]*dto.MetricFamily
			if len(promex) == 0 {
				t.Fatal("promex answered no family")
			}
			for name, pf := range promex {
				ourName := name
				if name == "haproxy_process_failed_resolutions" {
					ourName += "_total"
				}
				of, ok := ours[ourName]
				if !ok {
					t.Errorf("%s: missing from lbpilot; %s", name, logs)
					continue
				}
				if pf.GetType() != of.GetType() {
					t.Errorf("%s: type %v, promex %v", name, of.GetType(), pf.GetType())
				}
				have := map[string]bool{}
				for _, m := range of.GetMetric() {
					have[labelKey(m)] = true
				}
				if sameValues[name] {
					valueChecks = append(valueChecks, [2]*dto.MetricFamily{pf, of})
				}
				promexHas := map[string]bool{}
				for _, m := range pf.GetMetric() {
					k := labelKey(m)
					promexHas[k] = true
					if !have[k] {
						t.Errorf("%s{%s}: promex has this series, lbpilot not", name, k)
					}
				}
				// And the other way: the same label sets, not more.
				for k := range have {
					if !promexHas[k] {
						t.Errorf("%s{%s}: lbpilot has this series, promex not", name, k)
					}
				}
			}
			// States and configuration read the same in both (the
			// health checks settled before the first query).
			if query == "" && len(valueChecks) != len(sameValues) {
				t.Errorf("values of %d families compared, want all %d", len(valueChecks), len(sameValues))
			}
			for _, pair := range valueChecks {
				want := map[string]float64{}
				for _, m := range pair[0].GetMetric() {
					want[labelKey(m)] = metricValue(m)
				}
				for _, m := range pair[1].GetMetric() {
					if w, ok := want[labelKey(m)]; ok && w != metricValue(m) && !(math.IsNaN(w) && math.IsNaN(metricValue(m))) {
						t.Errorf("%s{%s} = %v, promex %v", pair[0].GetName(), labelKey(m), metricValue(m), w)
					}
				}
			}
			// Scopes promex leaves out, lbpilot leaves out too.
			for name := range ours {
				if strings.HasPrefix(name, "lbpilot_") {
					continue
				}
				scope := strings.SplitN(strings.TrimPrefix(name, "haproxy_"), "_", 2)[0]
				// promex 2.6 has no resolver scope; 3.x exports it by default.
				implicit := !strings.Contains(query, "scope=") || strings.HasSuffix(query, "scope=*")
				if !scopeIn(promex, scope) && !(scope == "resolver" && implicit) {
					t.Errorf("%s: lbpilot exports scope %s, promex none of it", name, scope)
				}
			}
		})
	}
}

// sameValues are the families whose value does not move between the two
// scrapes: states, weights, limits and table sizes.
var sameValues = map[string]bool{
	"haproxy_server_status": true, "haproxy_backend_status": true, "haproxy_frontend_status": true, "haproxy_listener_status": true,
	"haproxy_server_check_status": true, "haproxy_backend_agg_server_status": true, "haproxy_backend_agg_check_status": true,
	"haproxy_server_weight": true, "haproxy_server_uweight": true, "haproxy_backend_weight": true,
	"haproxy_backend_active_servers": true, "haproxy_backend_backup_servers": true,
	"haproxy_server_limit_sessions": true, "haproxy_server_queue_limit": true, "haproxy_frontend_limit_sessions": true,
	"haproxy_sticktable_size": true, "haproxy_sticktable_used": true, "haproxy_process_nbthread": true,
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

func scopeIn(mfs map[string]*dto.MetricFamily, scope string) bool {
	for name := range mfs {
		if strings.HasPrefix(name, "haproxy_"+scope+"_") {
			return true
		}
	}
	return false
}

func labelKey(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func parseText(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func fetch(u string) (string, error) {
	if _, err := url.Parse(u); err != nil {
		return "", err
	}
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return string(b), err
}
