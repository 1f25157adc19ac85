package exporter

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/probe/probetest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// The probe kinds through the real handlers: /probe with the built-in
// modules, a static target with its labels on /metrics, the deadline from
// Prometheus's header, and bad targets as 400s.
func TestProbeKindsEndToEnd(t *testing.T) {
	broker := probetest.Mosquitto(t, "")
	silent := probetest.Silent(t)
	e, _ := newTestExporter(t, `
modules:
  mqtt_qos0: {kind: mqtt, mqtt: {qos: 0}}
targets:
  - {name: broker-a, module: mqtt_qos0, url: "mqtt://`+broker+`", labels: {cluster: emqx}}
  - {name: broker-b, module: mqtt, url: "`+broker+`", labels: {cluster: emqx}}
`, Options{Kinds: Kinds()})

	rec, body := get(t, e.ProbeHandler(), "/probe?module=mqtt&target=mqtt://"+broker, nil)
	mfs := parse(t, body)
	if v, _ := sample(mfs, "probe_success", nil); rec.Code != 200 || v != 1 {
		t.Fatalf("%d probe_success %v:\n%s", rec.Code, v, body)
	}
	if v, ok := sample(mfs, "lbpilot_up", map[string]string{"module": "mqtt"}); !ok || v != 1 {
		t.Errorf("lbpilot_up %v", v)
	}
	if v, _ := sample(mfs, "probe_mqtt_duration_seconds", map[string]string{"phase": "deliver"}); v <= 0 {
		t.Errorf("deliver phase %v", v)
	}

	// The deadline comes from the scrape timeout header (minus the offset).
	start := time.Now()
	_, body = get(t, e.ProbeHandler(), "/probe?module=mqtt&target="+silent, map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "1"})
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v with a 1s scrape timeout", el)
	}
	mfs = parse(t, body)
	if v, _ := sample(mfs, "probe_success", nil); v != 0 {
		t.Errorf("silent broker: probe_success %v", v)
	}
	if _, ok := sample(mfs, "probe_failure_info", map[string]string{"reason": "timeout"}); !ok {
		t.Errorf("no timeout reason:\n%s", body)
	}

	// Static targets: each probe's series carry its target and labels.
	_, body = get(t, e.MetricsHandler(), "/metrics", nil)
	mfs = parse(t, body)
	for _, name := range []string{"broker-a", "broker-b"} {
		if v, _ := sample(mfs, "probe_success", map[string]string{"target": name, "cluster": "emqx"}); v != 1 {
			t.Errorf("%s: probe_success %v", name, v)
		}
	}
	if v, _ := sample(mfs, "probe_mqtt_qos", map[string]string{"target": "broker-a"}); v != 0 {
		t.Errorf("broker-a qos %v", v)
	}

	for _, tt := range []struct{ query, want string }{
		{"module=mqtt&target=http://x:1", "Bad target"},
		{"module=flv&target=rtmp://x/live/s", "Bad target"},
		{"module=hls&target=ftp://x/s.m3u8", "Bad target"},
		{"module=websocket&target=tcp://x:1", "Bad target"},
		{"module=rtmp&target=http://x/live/s", "Bad target"},
		{"module=rtmpx&target=rtmp://x/live/s", "Unknown module"},
	} {
		rec, body := get(t, e.ProbeHandler(), "/probe?"+tt.query, nil)
		if rec.Code != http.StatusBadRequest || !strings.Contains(body, tt.want) || strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("%s: %d %q", tt.query, rec.Code, body)
		}
	}
}

// A refused connection through the handler: a failed probe, not a 500.
func TestProbeKindRefused(t *testing.T) {
	e, _ := newTestExporter(t, "", Options{Kinds: Kinds()})
	_, body := get(t, e.ProbeHandler(), "/probe?module=flv&target=http://"+testenv.ClosedPort(t)+"/live/s.flv", nil)
	mfs := parse(t, body)
	if _, ok := sample(mfs, "probe_failure_info", map[string]string{"reason": "connection_refused"}); !ok {
		t.Errorf("no connection_refused:\n%s", body)
	}
}
