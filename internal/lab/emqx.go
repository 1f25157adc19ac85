package lab

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// emqxVersion is a management API generation.
type emqxVersion string

// emqxSim answers EMQX 5's /api/v5, EMQX 4's /api/v4 or emqttd 2's
// /api/v2 with the fixtures' shapes, for a cluster of nodes.
type emqxSim struct {
	version emqxVersion
	name    string
	nodes   []string
	auth    [2]string

	clock    float64
	counters []map[string]float64 // per node, EMQX 5 key names
	maxes    []map[string]float64 // per node, stats high-water marks
	lastConn []int

	// brokers are the nodes' MQTT brokers (emqx_mqtt.go), nil without
	// client ports; sessions reads their admitted connections and
	// capacity is Config.Capacity.Sessions, per node.
	brokers  []*mqttNode
	sessions func() []int
	capacity int
	// view is what the brokers carry, read once per request.
	view emqxLiveView
}

// emqxLiveView is what the brokers carry at one moment; each node's part
// is added to its share of the background.
type emqxLiveView struct {
	g        []mqttGauges
	c        []map[string]int64
	sessions []int // admitted connections per node (CPU)
	// cluster-wide: distinct topic filters and shared subscriptions (as
	// EMQX counts topics), sessions, live connections, subscriptions
	topics, shared, sessionsAll, liveAll, subsAll int
}

// readView takes the view of the brokers (no brokers: an empty view).
func (s *emqxSim) readView() emqxLiveView {
	var v emqxLiveView
	if len(s.brokers) == 0 {
		return v
	}
	filters := map[string]bool{}
	v.sessions = s.sessions()
	for _, n := range s.brokers {
		g := n.gauges()
		for f := range g.filters {
			filters[f] = true
		}
		v.shared += g.shared
		v.sessionsAll += g.sessions
		v.liveAll += g.live
		v.subsAll += g.subscriptions
		v.g = append(v.g, g)
		v.c = append(v.c, n.counters())
	}
	v.topics = len(filters)
	return v
}

// liveNode is node i's part of the view (zero without brokers).
func (v *emqxLiveView) node(i int) (mqttGauges, map[string]int64, int) {
	if i >= len(v.g) {
		return mqttGauges{}, nil, 0
	}
	return v.g[i], v.c[i], v.sessions[i]
}

func newEMQX(cfg Config) (*emqxSim, error) {
	v := emqxVersion(strings.ToLower(cfg.EMQXVersion))
	switch v {
	case "":
		v = "v5"
	case "v5", "v4", "v2":
	default:
		return nil, fmt.Errorf("lab: EMQX version %q: want v5, v4 or v2", cfg.EMQXVersion)
	}
	n := cfg.EMQXNodes
	if n <= 0 {
		n = 2
	}
	s := &emqxSim{version: v, name: cfg.Name, auth: [2]string{cfg.APIKey, cfg.APISecret}}
	prefix := "emqx"
	if v == "v2" {
		prefix = "emq"
	}
	for i := 0; i < n; i++ {
		s.nodes = append(s.nodes, fmt.Sprintf("%s@%s-n%d.lab", prefix, cfg.Name, i+1))
	}
	s.reset()
	return s, nil
}

func (s *emqxSim) reset() {
	s.clock = 0
	s.counters = make([]map[string]float64, len(s.nodes))
	s.maxes = make([]map[string]float64, len(s.nodes))
	s.lastConn = make([]int, len(s.nodes))
	for i := range s.nodes {
		s.counters[i] = map[string]float64{}
		s.maxes[i] = map[string]float64{}
	}
	for _, n := range s.brokers {
		n.restart()
	}
}

func (s *emqxSim) running(l Load) int { return max(len(s.nodes)-l.StoppedNodes, 0) }

// share splits total over the running nodes, the first taking the
// remainder.
func share(total, nodes, i int) int {
	if nodes == 0 || i >= nodes {
		return 0
	}
	v := total / nodes
	if i < total%nodes {
		v++
	}
	return v
}

func (s *emqxSim) advance(l Load, dt float64) {
	s.clock += dt
	run := s.running(l)
	for i := 0; i < run; i++ {
		c := s.counters[i]
		conn := share(l.Connections, run, i)
		if d := conn - s.lastConn[i]; d > 0 {
			for _, k := range []string{"client.connect", "client.connack", "client.connected", "client.authenticate", "packets.connect.received",
				"packets.connack.sent", "session.created", "authentication.success", "authorization.cache_miss"} {
				c[k] += float64(d)
			}
			c["packets.received"] += float64(d)
			c["packets.sent"] += float64(d)
		} else if d < 0 {
			for _, k := range []string{"client.disconnected", "packets.disconnect.received", "session.terminated"} {
				c[k] += float64(-d)
			}
			c["packets.received"] += float64(-d)
		}
		s.lastConn[i] = conn
		in := l.MessagesInRate * dt / float64(run)
		out := l.MessagesOutRate * dt / float64(run)
		ping := float64(conn) / 60 * dt // 60 s keep-alive
		for k, v := range map[string]float64{
			"messages.received": in, "messages.qos0.received": 0.8 * in, "messages.qos1.received": 0.18 * in, "messages.qos2.received": in - 0.8*in - 0.18*in,
			"messages.sent": out, "messages.qos0.sent": 0.8 * out, "messages.qos1.sent": 0.18 * out, "messages.qos2.sent": out - 0.8*out - 0.18*out,
			"messages.publish": in, "messages.delivered": out, "messages.acked": 0.2 * out,
			"packets.publish.received": in, "packets.publish.sent": out, "packets.puback.received": 0.18 * out, "packets.puback.sent": 0.18 * in,
			"packets.pingreq.received": ping, "packets.pingresp.sent": ping, "packets.received": in + ping + 0.18*out, "packets.sent": out + ping + 0.18*in,
			"bytes.received": l.BandwidthInMbps * 125000 * dt / float64(run), "bytes.sent": l.BandwidthOutMbps * 125000 * dt / float64(run),
			"client.authorize": in, "authorization.allow": in, "authorization.cache_hit": in,
		} {
			c[k] += v
		}
	}
}

// stats is one node's /stats object (EMQX 5 keys).
func (s *emqxSim) stats(l Load, i int) map[string]float64 {
	run := s.running(l)
	g, _, _ := s.view.node(i)
	live := share(l.Connections, run, i) + g.live
	sessions := share(max(l.Sessions, l.Connections), run, i) + g.sessions
	subs := share(l.Subscriptions, run, i)
	topics := l.Topics + s.view.topics
	v := map[string]float64{
		"connections": float64(sessions), "live_connections": float64(live), "sessions": float64(sessions), "channels": float64(sessions),
		"subscriptions": float64(subs + g.subscriptions), "subscribers": float64(subs + g.subscribers), "suboptions": float64(subs + g.subscriptions),
		"topics": float64(topics), "retained": float64(l.Retained + g.retained), "subscriptions.shared": float64(l.Subscriptions/50 + s.view.shared),
		"cluster_sessions": float64(max(l.Sessions, l.Connections) + s.view.sessionsAll), "delayed": 0, "routes": float64(topics), "resources": 0,
	}
	out := map[string]float64{}
	for k, x := range v {
		out[k+".count"] = x
		s.maxes[i][k] = math.Max(s.maxes[i][k], x)
		out[k+".max"] = s.maxes[i][k]
	}
	return out
}

func (s *emqxSim) serve(w http.ResponseWriter, r *http.Request, l Load, uptime time.Duration) {
	s.view = s.readView()
	p := r.URL.Path
	if p == "/status" || p == "/api/v5/status" && s.version == "v5" {
		s.status(w, r, l)
		return
	}
	prefix := "/api/" + string(s.version) + "/"
	if !strings.HasPrefix(p, prefix) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("Not found."))
		return
	}
	if s.auth[0] != "" {
		if u, pw, ok := r.BasicAuth(); !ok || u != s.auth[0] || pw != s.auth[1] {
			s.unauthorized(w, ok)
			return
		}
	}
	rest := strings.TrimPrefix(p, prefix)
	var body any
	var ok bool
	switch s.version {
	case "v5":
		body, ok = s.v5(rest, r.URL.Query(), l, uptime)
	case "v4":
		body, ok = s.v4(rest, l, uptime)
	default:
		body, ok = s.v2(rest, l, uptime)
	}
	if !ok {
		s.notFound(w, rest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(body)
}

func (s *emqxSim) status(w http.ResponseWriter, r *http.Request, l Load) {
	up := s.running(l) > 0
	app, broker, word := "running", "started", "emqx"
	if !up {
		app, broker = "not_running", "stopped"
	}
	if s.version == "v2" {
		word = "emqttd"
	}
	w.Header().Set("Retry-After", "15")
	if r.URL.Query().Get("format") == "json" && s.version == "v5" {
		w.Header().Set("Content-Type", "application/json")
		if !up {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"node_name": s.nodes[0], "rel_vsn": "v5.8.9", "broker_status": broker, "app_status": app})
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	if !up && s.version != "v2" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = fmt.Fprintf(w, "Node %s is %s\n%s is %s", s.nodes[0], broker, word, app)
}

func (s *emqxSim) unauthorized(w http.ResponseWriter, sentAuth bool) {
	switch s.version {
	case "v5":
		w.Header().Set("WWW-Authenticate", `Basic Realm="emqx-dashboard"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		if sentAuth {
			_, _ = w.Write([]byte(`{"code":"BAD_API_KEY_OR_SECRET","message":"Check api_key/api_secret"}`))
		} else {
			_, _ = w.Write([]byte(`{"code":"AUTHORIZATION_HEADER_ERROR","message":"Support authorization: basic/bearer "}`))
		}
	case "v4":
		w.Header().Set("WWW-Authenticate", `Basic Realm="minirest-server"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("UNAUTHORIZED"))
	default:
		w.Header().Set("WWW-Authenticate", `Basic Realm="emqx control center"`)
		w.WriteHeader(http.StatusUnauthorized)
	}
}

func (s *emqxSim) notFound(w http.ResponseWriter, rest string) {
	if s.version == "v5" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":"NOT_FOUND","message":"Not found: ` + strings.ReplaceAll(rest, `"`, "") + `"}`))
		return
	}
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("Not found."))
}

// nodeIndex finds a node by its (path-escaped) name.
func (s *emqxSim) nodeIndex(esc string) int {
	name, err := url.PathUnescape(esc)
	if err != nil {
		return -1
	}
	for i, n := range s.nodes {
		if n == name {
			return i
		}
	}
	return -1
}

func gb(v float64) string {
	switch {
	case v >= 1<<30:
		return strconv.FormatFloat(v/(1<<30), 'f', 2, 64) + "G"
	case v >= 1<<20:
		return strconv.FormatFloat(v/(1<<20), 'f', 2, 64) + "M"
	case v >= 1<<10:
		return strconv.FormatFloat(v/(1<<10), 'f', 2, 64) + "K"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func uptimeText(d time.Duration) string {
	secs := int(d.Seconds())
	parts := []string{}
	for _, u := range []struct {
		n    string
		secs int
	}{{"days", 86400}, {"hours", 3600}, {"minutes", 60}} {
		if v := secs / u.secs; v > 0 || len(parts) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", v, u.n))
		}
		secs %= u.secs
	}
	return strings.Join(append(parts, fmt.Sprintf("%d seconds", secs)), ", ")
}

// node is one node's /nodes object.
func (s *emqxSim) node(l Load, i int, uptime time.Duration) map[string]any {
	run := s.running(l)
	if i >= run {
		switch s.version {
		case "v5":
			return map[string]any{"node": s.nodes[i], "node_status": "stopped", "role": "core"}
		default:
			return map[string]any{"name": s.nodes[i], "node_status": "Stopped"}
		}
	}
	g, _, admitted := s.view.node(i)
	conns := share(l.Connections, run, i) + g.live
	load := round((l.CPU+sessionCPU(admitted, s.capacity))*4, 2)
	used := 2e9 + float64(conns)*2e5
	m := map[string]any{
		"node": s.nodes[i], "max_fds": 1048576, "memory_total": gb(16653664256), "memory_used": gb(used),
		"process_available": 2097152, "process_used": 900 + 7*conns, "connections": share(max(l.Sessions, l.Connections), run, i) + g.sessions,
		"otp_release": "26.2.5.2-1/14.2.5.2",
	}
	switch s.version {
	case "v5":
		m["node_status"], m["role"], m["version"], m["edition"] = "running", "core", "5.8.9", "Opensource"
		m["uptime"] = uptime.Milliseconds()
		m["load1"], m["load5"], m["load15"] = load, round(load*0.9, 2), round(load*0.8, 2)
		m["live_connections"], m["cluster_sessions"] = conns, max(l.Sessions, l.Connections)+s.view.sessionsAll
		m["sys_path"], m["log_path"] = "/opt/emqx", "/opt/emqx/log"
	case "v4":
		m["node_status"], m["version"], m["otp_release"] = "Running", "4.4.19", "24.3.4.2/12.3.2.2"
		m["uptime"] = uptimeText(uptime)
		m["load1"], m["load5"], m["load15"] = fmt.Sprintf("%.2f", load), fmt.Sprintf("%.2f", load*0.9), fmt.Sprintf("%.2f", load*0.8)
		m["live_connections"] = conns
	default:
		delete(m, "node")
		delete(m, "connections")
		m["name"], m["node_status"], m["otp_release"], m["clients"] = s.nodes[i], "Running", "R20/9.3.3", conns
		m["load1"], m["load5"], m["load15"] = fmt.Sprintf("%.2f", load), fmt.Sprintf("%.2f", load*0.9), fmt.Sprintf("%.2f", load*0.8)
	}
	return m
}

// metrics is one node's counters under a generation's key names.
func (s *emqxSim) metrics(i int) map[string]int64 {
	c := s.counters[i]
	_, lc, _ := s.view.node(i)
	out := map[string]int64{}
	get := func(k string) int64 { return int64(math.Floor(c[k])) + lc[k] }
	switch s.version {
	case "v5":
		for _, k := range emqxV5Metrics {
			out[k] = get(k)
		}
	case "v4":
		rename := map[string]string{"session.takeovered": "session.takenover", "client.check_acl": "client.authorize", "messages.dropped.expired": "messages.dropped.await_pubrel_timeout"}
		for _, k := range emqxV4Metrics {
			src := k
			if r, ok := rename[k]; ok {
				src = r
			}
			out[k] = get(src)
		}
	default:
		alias := map[string]string{"packets/connect": "packets.connect.received", "packets/connack": "packets.connack.sent",
			"packets/subscribe": "packets.subscribe.received", "packets/suback": "packets.suback.sent", "packets/unsubscribe": "packets.unsubscribe.received",
			"packets/unsuback": "packets.unsuback.sent", "packets/pingreq": "packets.pingreq.received", "packets/pingresp": "packets.pingresp.sent",
			"packets/disconnect": "packets.disconnect.received"}
		for _, k := range emqxV2Metrics {
			src := strings.ReplaceAll(k, "/", ".")
			if a, ok := alias[k]; ok {
				src = a
			}
			out[k] = get(src)
		}
	}
	return out
}

func (s *emqxSim) statsFor(l Load, i int) map[string]int64 {
	st := s.stats(l, i)
	out := map[string]int64{}
	switch s.version {
	case "v5":
		for _, k := range emqxV5Stats {
			out[k] = int64(st[k])
		}
	case "v4":
		for _, k := range emqxV4Stats {
			out[k] = int64(st[k])
		}
	default:
		for _, k := range emqxV2Stats {
			src := strings.ReplaceAll(k, "/", ".")
			if strings.HasPrefix(k, "clients/") {
				src = "connections." + strings.TrimPrefix(k, "clients/")
			}
			out[k] = int64(st[src])
		}
	}
	return out
}

func (s *emqxSim) v5(rest string, q url.Values, l Load, uptime time.Duration) (any, bool) {
	run := s.running(l)
	parts := strings.Split(rest, "/")
	switch {
	case rest == "nodes":
		var out []any
		for i := range s.nodes {
			out = append(out, s.node(l, i, uptime))
		}
		return out, true
	case len(parts) == 2 && parts[0] == "nodes":
		if i := s.nodeIndex(parts[1]); i >= 0 && i < run {
			return s.node(l, i, uptime), true
		}
	case len(parts) == 3 && parts[0] == "nodes" && (parts[2] == "stats" || parts[2] == "metrics"):
		if i := s.nodeIndex(parts[1]); i >= 0 && i < run {
			if parts[2] == "stats" {
				return s.statsFor(l, i), true
			}
			return s.metrics(i), true
		}
	case rest == "stats" || rest == "metrics":
		agg := q.Get("aggregate") == "true"
		var list []map[string]any
		sum := map[string]int64{}
		for i := 0; i < run; i++ {
			if n := q.Get("node"); rest == "metrics" && n != "" && n != s.nodes[i] {
				continue
			}
			var vals map[string]int64
			if rest == "stats" {
				vals = s.statsFor(l, i)
			} else {
				vals = s.metrics(i)
			}
			e := map[string]any{"node": s.nodes[i]}
			for k, v := range vals {
				e[k] = v
				sum[k] += v
			}
			list = append(list, e)
		}
		if agg {
			return sum, true
		}
		if list == nil {
			return []any{}, true
		}
		return list, true
	case rest == "monitor_current" || (len(parts) == 3 && parts[0] == "monitor_current"):
		var m map[string]any
		if len(parts) == 3 {
			i := s.nodeIndex(parts[2])
			if i < 0 || i >= run {
				return nil, false
			}
			st := s.stats(l, i)
			m = map[string]any{"connections": st["connections.count"], "live_connections": st["live_connections.count"],
				"subscriptions": st["subscriptions.count"], "node_uptime": uptime.Milliseconds()}
		} else {
			v := &s.view
			m = map[string]any{"connections": max(l.Sessions, l.Connections) + v.sessionsAll, "live_connections": l.Connections + v.liveAll,
				"subscriptions": l.Subscriptions + v.subsAll, "subscriptions_ram": l.Subscriptions + v.subsAll, "subscriptions_durable": 0,
				"disconnected_durable_sessions": 0}
		}
		retained := l.Retained
		if g, _, _ := s.view.node(0); len(s.brokers) > 0 {
			retained += g.retained // every node holds the cluster's retained messages
		}
		for k, v := range map[string]any{"received_msg_rate": int(l.MessagesInRate), "sent_msg_rate": int(l.MessagesOutRate), "dropped_msg_rate": 0,
			"persisted_rate": 0, "topics": l.Topics + s.view.topics, "retained_msg_count": retained, "shared_subscriptions": l.Subscriptions/50 + s.view.shared,
			"validation_succeeded_rate": 0, "validation_failed_rate": 0, "transformation_succeeded_rate": 0, "transformation_failed_rate": 0} {
			m[k] = v
		}
		return m, true
	case rest == "cluster":
		var running []string
		for i := 0; i < run; i++ {
			running = append(running, s.nodes[i])
		}
		return map[string]any{"name": "emqxcl", "nodes": running, "self": s.nodes[0]}, true
	}
	return nil, false
}

func (s *emqxSim) v4(rest string, l Load, uptime time.Duration) (any, bool) {
	run := s.running(l)
	wrap := func(v any) (any, bool) { return map[string]any{"code": 0, "data": v}, true }
	parts := strings.Split(rest, "/")
	switch {
	case rest == "nodes" || rest == "brokers":
		var out []any
		for i := range s.nodes {
			if rest == "brokers" {
				if i >= run {
					continue
				}
				out = append(out, s.broker(i, uptime))
				continue
			}
			out = append(out, s.node(l, i, uptime))
		}
		return wrap(out)
	case len(parts) == 2 && (parts[0] == "nodes" || parts[0] == "brokers"):
		i := s.nodeIndex(parts[1])
		if i < 0 {
			return nil, false
		}
		if i >= run {
			return map[string]any{"message": "nodedown"}, true
		}
		if parts[0] == "brokers" {
			return wrap(s.broker(i, uptime))
		}
		return wrap(s.node(l, i, uptime))
	case len(parts) == 3 && parts[0] == "nodes" && (parts[2] == "stats" || parts[2] == "metrics"):
		i := s.nodeIndex(parts[1])
		if i < 0 {
			return nil, false
		}
		if i >= run {
			return map[string]any{"message": "nodedown"}, true
		}
		if parts[2] == "stats" {
			return wrap(s.statsFor(l, i))
		}
		return wrap(s.metrics(i))
	case rest == "stats" || rest == "metrics":
		var out []any
		for i := 0; i < run; i++ {
			if rest == "stats" {
				out = append(out, map[string]any{"node": s.nodes[i], "stats": s.statsFor(l, i)})
			} else {
				out = append(out, map[string]any{"node": s.nodes[i], "metrics": s.metrics(i)})
			}
		}
		return wrap(out)
	}
	return nil, false
}

func (s *emqxSim) broker(i int, uptime time.Duration) map[string]any {
	return map[string]any{"version": "4.4.19", "uptime": uptimeText(uptime), "sysdescr": "EMQX Broker", "otp_release": "24.3.4.2/12.3.2.2",
		"node_status": "Running", "node": s.nodes[i], "datetime": time.Unix(1795288528+int64(s.clock), 0).UTC().Format("2006-01-02 15:04:05")}
}

func (s *emqxSim) v2(rest string, l Load, uptime time.Duration) (any, bool) {
	run := s.running(l)
	wrap := func(v any) (any, bool) { return map[string]any{"code": 0, "result": v}, true }
	mgmt := func(i int) map[string]any {
		return map[string]any{"name": s.nodes[i], "version": "2.3.11", "sysdescr": "Erlang MQTT Broker", "uptime": uptimeText(uptime),
			"datetime": time.Unix(1795288528+int64(s.clock), 0).UTC().Format("2006-01-02 15:04:05"), "otp_release": "R20/9.3.3", "node_status": "Running"}
	}
	parts := strings.Split(rest, "/")
	switch {
	case rest == "monitoring/nodes":
		var out []any
		for i := range s.nodes {
			out = append(out, s.node(l, i, uptime))
		}
		return wrap(out)
	case rest == "management/nodes":
		var out []any
		for i := 0; i < run; i++ {
			out = append(out, mgmt(i))
		}
		return wrap(out)
	case len(parts) == 3 && parts[0] == "monitoring" && parts[1] == "nodes":
		if i := s.nodeIndex(parts[2]); i >= 0 {
			return wrap(s.node(l, i, uptime))
		}
	case len(parts) == 3 && parts[0] == "management" && parts[1] == "nodes":
		if i := s.nodeIndex(parts[2]); i >= 0 && i < run {
			return wrap(mgmt(i))
		}
	case rest == "monitoring/stats" || rest == "monitoring/metrics":
		all := map[string]any{}
		for i := 0; i < run; i++ {
			if rest == "monitoring/stats" {
				all[s.nodes[i]] = s.statsFor(l, i)
			} else {
				all[s.nodes[i]] = s.metrics(i)
			}
		}
		return wrap([]any{all})
	case len(parts) == 3 && parts[0] == "monitoring" && (parts[1] == "stats" || parts[1] == "metrics"):
		if i := s.nodeIndex(parts[2]); i >= 0 && i < run {
			if parts[1] == "stats" {
				return wrap(s.statsFor(l, i))
			}
			return wrap(s.metrics(i))
		}
	}
	return nil, false
}
