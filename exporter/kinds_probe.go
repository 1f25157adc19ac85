package exporter

import (
	"github.com/go-kit/log"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/probe/flv"
	"github.com/lbpilot/lbpilot/internal/probe/hls"
	"github.com/lbpilot/lbpilot/internal/probe/mqtt"
	"github.com/lbpilot/lbpilot/internal/probe/rtmp"
	"github.com/lbpilot/lbpilot/internal/probe/wcsws"
)

// probeKinds are the end-to-end protocol probes (internal/probe): each
// target is probed like a player or a client would use it, usually
// through HAProxy, and reported blackbox-style (probe_success and the
// reason of a failure) rather than as lbpilot_up 0.
func probeKinds() map[string]Kind {
	return map[string]Kind{
		"mqtt": {
			Protocol: true,
			Prepare: func(m *Module) error {
				if m.MQTT == nil {
					m.MQTT = mqtt.DefaultOptions()
				}
				return m.MQTT.Validate()
			},
			CheckURL: mqtt.CheckTarget,
			New: func(m *Module, t collectors.Target, _ log.Logger) (collectors.Collector, error) {
				return mqtt.New(*m.MQTT, t.URL, t.Labels)
			},
		},
		"flv": {
			Protocol: true,
			Prepare: func(m *Module) error {
				if m.FLV == nil {
					m.FLV = flv.DefaultOptions()
				}
				return m.FLV.Validate()
			},
			CheckURL: flv.CheckTarget,
			New: func(m *Module, t collectors.Target, _ log.Logger) (collectors.Collector, error) {
				return flv.New(*m.FLV, t.URL, t.Labels)
			},
		},
		"hls": {
			Protocol: true,
			Prepare: func(m *Module) error {
				if m.HLS == nil {
					m.HLS = hls.DefaultOptions()
				}
				return m.HLS.Validate()
			},
			CheckURL: hls.CheckTarget,
			New: func(m *Module, t collectors.Target, _ log.Logger) (collectors.Collector, error) {
				return hls.New(*m.HLS, t.URL, t.Labels)
			},
		},
		"rtmp": {
			Protocol: true,
			Prepare: func(m *Module) error {
				if m.RTMP == nil {
					m.RTMP = rtmp.DefaultOptions()
				}
				return m.RTMP.Validate()
			},
			CheckURL: rtmp.CheckTarget,
			New: func(m *Module, t collectors.Target, _ log.Logger) (collectors.Collector, error) {
				return rtmp.New(*m.RTMP, t.URL, t.Labels)
			},
		},
		"websocket": {
			Protocol: true,
			Prepare: func(m *Module) error {
				if m.WebSocket == nil {
					m.WebSocket = wcsws.DefaultOptions()
				}
				return m.WebSocket.Validate()
			},
			CheckURL: wcsws.CheckTarget,
			New: func(m *Module, t collectors.Target, _ log.Logger) (collectors.Collector, error) {
				return wcsws.New(*m.WebSocket, t.URL, t.Labels)
			},
		},
	}
}
