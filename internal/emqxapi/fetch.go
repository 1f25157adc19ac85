package emqxapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/lbpilot/lbpilot/internal/upstream"
	"golang.org/x/sync/errgroup"
)

// SelfNode asks for the node that answers the API (EMQX 5's /cluster).
const SelfNode = "self"

// Stats is one reading of an EMQX cluster (or of one node of it): what
// the collector exports and what other packages (the agent) read without
// Prometheus.
type Stats struct {
	API   Version
	Nodes []Node
	// Stats and Metrics hold each node's values under EMQX 5 key names:
	// stats as "<name>.count" / "<name>.max" gauges, metrics as
	// cumulative counters since the node started.
	Stats   map[string]Values
	Metrics map[string]Values
	// Unplaced are the values of the stats and metrics answers that had
	// no place (see DecodePerNodeUnplaced), for the caller to count.
	Unplaced []Unplaced
}

// Node returns the named node.
func (s *Stats) Node(name string) (*Node, bool) {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i], true
		}
	}
	return nil, false
}

// RunningNodes and StoppedNodes count the nodes by status.
func (s *Stats) RunningNodes() int {
	n := 0
	for i := range s.Nodes {
		if s.Nodes[i].Running {
			n++
		}
	}
	return n
}

// StoppedNodes counts the nodes that are not running.
func (s *Stats) StoppedNodes() int { return len(s.Nodes) - s.RunningNodes() }

func (s *Stats) sum(key string) float64 {
	var t float64
	for _, v := range s.Stats {
		t += v[key]
	}
	return t
}

// Connections is connections.count summed over the nodes read.
func (s *Stats) Connections() float64 { return s.sum("connections.count") }

// LiveConnections is live_connections.count summed over the nodes read
// (EMQX 4.4+ and 5): the clients connected right now.
func (s *Stats) LiveConnections() float64 { return s.sum("live_connections.count") }

// Sessions is sessions.count summed over the nodes read.
func (s *Stats) Sessions() float64 { return s.sum("sessions.count") }

// API reads one EMQX's management API.
type API struct {
	// HTTP is the client to use; nil means a shared pooled one.
	HTTP *http.Client
	// BaseURL is the dashboard/management listener, e.g.
	// http://10.0.0.11:18083 (EMQX 5), :8081 (EMQX 4), :8080 (emqttd 2).
	BaseURL string
	// Version is the API generation; "" detects it (once per base URL).
	Version Version
	// Auth is the API key and secret (v5), AppID and secret (v4) or
	// dashboard user (v2).
	Auth upstream.Auth
	// Node restricts the reading to one node ("" reads the whole cluster;
	// SelfNode is the answering node, EMQX 5 only).
	Node string
	// OnDetect, if set, is called when this call detected the generation
	// (not when it came from the cache), so it can be logged once.
	OnDetect func(Version)
}

// Fetch reads the whole cluster behind the EMQX management API at
// baseURL, detecting the API generation.
func Fetch(ctx context.Context, hc *http.Client, baseURL string, auth upstream.Auth) (*Stats, error) {
	return (&API{HTTP: hc, BaseURL: baseURL, Auth: auth}).Fetch(ctx)
}

// endpoints of one generation, in cluster and node form.
type endpoints struct {
	nodes, mgmtNodes, stats, metrics string
}

func (a *API) endpoints(v Version, node string) endpoints {
	if node == "" {
		switch v {
		case V4:
			return endpoints{nodes: "/api/v4/nodes", stats: "/api/v4/stats", metrics: "/api/v4/metrics"}
		case V2:
			return endpoints{nodes: "/api/v2/monitoring/nodes", mgmtNodes: "/api/v2/management/nodes", stats: "/api/v2/monitoring/stats", metrics: "/api/v2/monitoring/metrics"}
		}
		return endpoints{nodes: "/api/v5/nodes", stats: "/api/v5/stats", metrics: "/api/v5/metrics"}
	}
	n := url.PathEscape(node)
	switch v {
	case V4:
		return endpoints{nodes: "/api/v4/nodes/" + n, stats: "/api/v4/nodes/" + n + "/stats", metrics: "/api/v4/nodes/" + n + "/metrics"}
	case V2:
		return endpoints{nodes: "/api/v2/monitoring/nodes/" + n, mgmtNodes: "/api/v2/management/nodes/" + n, stats: "/api/v2/monitoring/stats/" + n, metrics: "/api/v2/monitoring/metrics/" + n}
	}
	// /nodes/{node}/metrics exists too, but ?node= on the list is what
	// every 5.x answers the same way (an unknown node: an empty list).
	return endpoints{nodes: "/api/v5/nodes/" + n, stats: "/api/v5/nodes/" + n + "/stats", metrics: "/api/v5/metrics?node=" + url.QueryEscape(node)}
}

// Fetch reads nodes, stats and metrics concurrently; the first failure
// fails the reading and cancels the other requests.
func (a *API) Fetch(ctx context.Context) (*Stats, error) {
	v := a.Version
	if v == "" {
		var (
			fresh bool
			err   error
		)
		if v, fresh, err = detect(ctx, a.HTTP, a.BaseURL, a.Auth); err != nil {
			return nil, err
		}
		if fresh && a.OnDetect != nil {
			a.OnDetect(v)
		}
	}
	node := a.Node
	if node == SelfNode {
		if v != V5 {
			return nil, fmt.Errorf("node: %s needs the EMQX 5 API (this is %s); name the node", SelfNode, v)
		}
		self, err := a.self(ctx)
		if err != nil {
			return nil, err
		}
		node = self
	}
	ep := a.endpoints(v, node)
	st := &Stats{API: v}
	var mgmt []Node
	// The first failure cancels the requests still in flight.
	g, ctx := errgroup.WithContext(ctx)
	run := func(path string, f func(u string, body []byte) error) {
		g.Go(func() error {
			u := a.url(path)
			body, err := a.get(ctx, u)
			if err != nil {
				return err
			}
			if err := f(u, body); err != nil {
				return fmt.Errorf("GET %s: %w", upstream.RedactURL(u), err)
			}
			return nil
		})
	}
	run(ep.nodes, func(_ string, b []byte) (err error) { st.Nodes, err = DecodeNodes(v, b); return err })
	if ep.mgmtNodes != "" {
		run(ep.mgmtNodes, func(_ string, b []byte) (err error) { mgmt, err = DecodeNodes(v, b); return err })
	}
	var statsBad, metricsBad []Unplaced
	run(ep.stats, func(_ string, b []byte) (err error) { st.Stats, statsBad, err = decodePerNode(v, b, node); return err })
	run(ep.metrics, func(_ string, b []byte) (err error) {
		st.Metrics, metricsBad, err = decodePerNode(v, b, node)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	st.Unplaced = append(statsBad, metricsBad...)
	if node != "" {
		if _, ok := st.Metrics[node]; !ok {
			return nil, fmt.Errorf("GET %s: node %s not found (the answer lists %s)", upstream.RedactURL(a.url(ep.metrics)), node, listNodes(st.Metrics))
		}
	}
	mergeManagement(st.Nodes, mgmt)
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].Name < st.Nodes[j].Name })
	return st, nil
}

// mergeManagement adds emqttd 2's management/nodes fields (version,
// uptime) to its monitoring/nodes list.
func mergeManagement(nodes, mgmt []Node) {
	for _, m := range mgmt {
		for i := range nodes {
			if nodes[i].Name != m.Name {
				continue
			}
			if nodes[i].Version == "" {
				nodes[i].Version = m.Version
			}
			if nodes[i].OTPRelease == "" {
				nodes[i].OTPRelease = m.OTPRelease
			}
			if nodes[i].UptimeSeconds != nodes[i].UptimeSeconds { // NaN
				nodes[i].UptimeSeconds = m.UptimeSeconds
			}
		}
	}
}

func listNodes(m map[string]Values) string {
	if len(m) == 0 {
		return "no node"
	}
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// self asks EMQX 5 which node answers (/api/v5/cluster's "self").
func (a *API) self(ctx context.Context) (string, error) {
	u := a.url("/api/v5/cluster")
	body, err := a.get(ctx, u)
	if err != nil {
		return "", err
	}
	doc, err := decodeJSON(body)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", upstream.RedactURL(u), err)
	}
	m, _ := doc.(map[string]any)
	self := str(m["self"])
	if self == "" {
		return "", fmt.Errorf("GET %s: no \"self\" in the answer", upstream.RedactURL(u))
	}
	return self, nil
}

func (a *API) url(path string) string {
	p, q, _ := strings.Cut(path, "?")
	u := upstream.Join(a.BaseURL, p)
	if q != "" {
		u += "?" + q
	}
	return u
}

// get returns a 200 answer's body; any other status is an *APIError with
// EMQX's code and message when the body has them.
func (a *API) get(ctx context.Context, u string) ([]byte, error) {
	resp, err := upstream.Get(ctx, a.HTTP, u, a.Auth, 0)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		code, msg := errorBody(resp.Body)
		if msg == "" && code == "" && resp.Status == http.StatusUnauthorized {
			msg = "credentials refused or missing"
		}
		return nil, &APIError{URL: upstream.RedactURL(u), Status: resp.Status, Code: code, Message: msg}
	}
	return resp.Body, nil
}
