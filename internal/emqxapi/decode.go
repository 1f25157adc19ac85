package emqxapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Version is an EMQX management API generation.
type Version string

// The API generations lbpilot reads.
const (
	V5 Version = "v5" // EMQX 5.x: /api/v5, API key + secret
	V4 Version = "v4" // EMQX 4.x: /api/v4, {"code":0,"data":...}, AppID + secret
	V2 Version = "v2" // emqttd / EMQ 2.x: /api/v2, {"code":0,"result":...}, dashboard user
)

// Node is one broker node as the nodes endpoint describes it. Quantities
// the API did not report are NaN (a stopped node reports only its name
// and status).
type Node struct {
	Name       string
	Status     string // as reported: running, Running, stopped, Stopped
	Running    bool
	Version    string
	Role       string // core or replicant (EMQX 5)
	Edition    string // Opensource or Enterprise (EMQX 5.1+)
	OTPRelease string

	UptimeSeconds  float64
	Load1          float64
	Load5          float64
	Load15         float64
	MemoryTotal    float64 // bytes
	MemoryUsed     float64 // bytes
	MaxFDs         float64
	Processes      float64 // Erlang processes in use
	ProcessesLimit float64
	Connections    float64 // as the nodes endpoint reports it (emqttd 2: clients)
}

func newNode() Node {
	n := math.NaN()
	return Node{UptimeSeconds: n, Load1: n, Load5: n, Load15: n, MemoryTotal: n, MemoryUsed: n, MaxFDs: n, Processes: n, ProcessesLimit: n, Connections: n}
}

// Values maps normalized keys (EMQX 5 spelling: "connections.count",
// "messages.received") to values, for one node.
type Values map[string]float64

// decodeNumber reads a JSON number or a numeric string (EMQX 5.0 and 4
// send loads as strings).
func decodeNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	return 0, false
}

var memRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)B?\s*$`)

// decodeMemory reads EMQX's memory figures: "15.51G", "962.34M",
// "512.00K" (1024-based), bare digits, or a JSON integer (older 4.x).
func decodeMemory(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		return decodeNumber(x)
	case string:
		m := memRE.FindStringSubmatch(strings.ToUpper(x))
		if m == nil {
			return 0, false
		}
		f, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, false
		}
		if m[2] == "" {
			return f, true // bare bytes (under 1 KiB)
		}
		return f * math.Pow(1024, float64(strings.Index("KMGT", m[2])+1)), true
	}
	return 0, false
}

var uptimeUnits = map[string]float64{"week": 604800, "day": 86400, "hour": 3600, "minute": 60, "second": 1}

// decodeUptime reads an uptime: milliseconds as a JSON integer (EMQX 5)
// or "10 days, 0 hours, 2 minutes, 3 seconds" (EMQX 4, emqttd 2; units
// with a zero value in front may be left out).
func decodeUptime(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, ok := decodeNumber(x)
		return f / 1000, ok && f >= 0
	case string:
		var total float64
		parts := strings.Split(x, ",")
		for _, p := range parts {
			f := strings.Fields(p)
			if len(f) != 2 {
				return 0, false
			}
			n, err := strconv.ParseFloat(f[0], 64)
			unit := strings.TrimSuffix(strings.ToLower(f[1]), "s")
			mult, ok := uptimeUnits[unit]
			if err != nil || !ok || n < 0 {
				return 0, false
			}
			total += n * mult
		}
		return total, len(parts) > 0
	}
	return 0, false
}

// Status is the answer of /status (or /api/v5/status): unauthenticated,
// node-local and cheap, the broker's own health check.
type Status struct {
	Node       string
	Started    bool // the Erlang node is started
	AppRunning bool // the emqx (emqttd) application is running
}

var statusRE = regexp.MustCompile(`(?m)^Node (\S+) is (started|stopped)\s*$\n^(emqx|emqttd) is (running|not_running)\s*$`)

// ParseStatus reads /status in its text form ("Node emqx@h is started\n
// emqx is running"; emqttd 2 says emqttd) or its JSON form (format=json,
// EMQX 5).
func ParseStatus(body []byte) (*Status, error) {
	if m := statusRE.FindSubmatch(body); m != nil {
		return &Status{Node: upstream.ValidUTF8(string(m[1])), Started: string(m[2]) == "started", AppRunning: string(m[4]) == "running"}, nil
	}
	var j struct {
		NodeName     string `json:"node_name"`
		BrokerStatus string `json:"broker_status"`
		AppStatus    string `json:"app_status"`
	}
	if json.Unmarshal(body, &j) == nil && j.NodeName != "" {
		return &Status{Node: upstream.ValidUTF8(j.NodeName), Started: j.BrokerStatus == "started", AppRunning: j.AppStatus == "running"}, nil
	}
	return nil, fmt.Errorf("not an EMQX status answer: %s", upstream.Shorten(string(body), 100))
}

func str(v any) string {
	s, _ := v.(string)
	return upstream.ValidUTF8(s)
}

// nodeFrom reads one node object of any generation.
func nodeFrom(m map[string]any) (Node, error) {
	n := newNode()
	n.Name = str(m["node"])
	if n.Name == "" {
		n.Name = str(m["name"]) // stopped nodes in 5.0, 4.x and 2.x
	}
	if n.Name == "" {
		return n, errors.New("node without a name")
	}
	n.Status = str(m["node_status"])
	n.Running = strings.EqualFold(n.Status, "running")
	n.Version, n.Role, n.Edition, n.OTPRelease = str(m["version"]), str(m["role"]), str(m["edition"]), str(m["otp_release"])
	set := func(dst *float64, key string, dec func(any) (float64, bool)) error {
		v, ok := m[key]
		if !ok || v == nil {
			return nil
		}
		f, ok := dec(v)
		if !ok {
			return fmt.Errorf("node %s: %s=%s is not a number", n.Name, key, upstream.Shorten(fmt.Sprint(v), 100))
		}
		*dst = f
		return nil
	}
	for _, f := range []struct {
		dst *float64
		key string
		dec func(any) (float64, bool)
	}{
		{&n.UptimeSeconds, "uptime", decodeUptime},
		{&n.Load1, "load1", decodeNumber}, {&n.Load5, "load5", decodeNumber}, {&n.Load15, "load15", decodeNumber},
		{&n.MemoryTotal, "memory_total", decodeMemory}, {&n.MemoryUsed, "memory_used", decodeMemory},
		{&n.MaxFDs, "max_fds", decodeNumber},
		{&n.Processes, "process_used", decodeNumber}, {&n.ProcessesLimit, "process_available", decodeNumber},
		{&n.Connections, "connections", decodeNumber}, {&n.Connections, "clients", decodeNumber},
	} {
		if err := set(f.dst, f.key, f.dec); err != nil {
			return n, err
		}
	}
	return n, nil
}

// decodeJSON parses a body with numbers kept exact.
func decodeJSON(body []byte) (any, error) { return decodeJSONNumbers(body, true) }

// decodeJSONNumbers parses a body; exact keeps numbers as json.Number
// (node fields), else they are float64 directly (the hundreds of stats
// and counters, exported as float64 anyway: no string per value).
func decodeJSONNumbers(body []byte, exact bool) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if exact {
		dec.UseNumber()
	}
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v: %s", err, upstream.Shorten(string(body), 100))
	}
	if dec.More() {
		return nil, fmt.Errorf("invalid JSON: trailing data: %s", upstream.Shorten(string(body), 100))
	}
	return v, nil
}

// unwrap removes the v4 ({"code":0,"data":...}) and v2 ({"code":0,
// "result":...}) envelopes. Both send their errors as HTTP 200 with a
// non-zero code and a message, or (v4, a node that is down) a message
// alone.
func unwrap(v Version, doc any) (any, error) {
	if v == V5 {
		return doc, nil
	}
	key := "data"
	if v == V2 {
		key = "result"
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("answer is a JSON %s, want an object with %q", upstream.JSONType(doc), key)
	}
	if c, ok := m["code"]; ok {
		code, isNum := decodeNumber(c)
		if !isNum || code != 0 {
			return nil, fmt.Errorf("EMQX API error code %s: %s", upstream.Shorten(fmt.Sprint(c), 100), message(m))
		}
	}
	payload, ok := m[key]
	if !ok || payload == nil {
		if msg := message(m); msg != "" {
			return nil, fmt.Errorf("EMQX API error: %s (no %q in the answer)", msg, key)
		}
		return nil, fmt.Errorf("answer has no %q (it has %s)", key, strings.Join(keysOf(m), ", "))
	}
	return payload, nil
}

func message(m map[string]any) string {
	for _, k := range []string{"message", "reason"} {
		if s, ok := m[k].(string); ok && s != "" {
			return upstream.Shorten(s, 100)
		}
	}
	return ""
}

// DecodeNodes reads a nodes answer (a list, or one node for the
// /nodes/{node} form).
func DecodeNodes(v Version, body []byte) ([]Node, error) {
	doc, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	payload, err := unwrap(v, doc)
	if err != nil {
		return nil, err
	}
	var list []any
	switch p := payload.(type) {
	case []any:
		list = p
	case map[string]any:
		list = []any{p}
	default:
		return nil, fmt.Errorf("nodes: a JSON %s, want a list of nodes", upstream.JSONType(payload))
	}
	out := make([]Node, 0, len(list))
	seen := map[string]bool{}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("nodes[%d]: a JSON %s, want an object", i, upstream.JSONType(e))
		}
		n, err := nodeFrom(m)
		if err != nil {
			return nil, fmt.Errorf("nodes[%d]: %v", i, err)
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("nodes: %s listed twice", n.Name)
		}
		seen[n.Name] = true
		out = append(out, n)
	}
	return out, nil
}

// Unplaced is a value of a stats or metrics answer that has no place:
// not a number where EMQX puts numbers (a string, an object, a list).
// Keys lbpilot does not export are not unplaced values; they are left
// out by design.
type Unplaced struct {
	Node, Key string
	Type      string // the JSON type found
}

// DecodePerNode reads a stats or metrics answer into values per node. It
// accepts every shape EMQX uses:
//   - v5 list: [{"node": "n1", "k": 1, ...}, ...]
//   - v4 list: [{"node": "n1", "stats"|"metrics": {...}}, ...]
//   - v2 list: [{"n1": {...}, "n2": {...}}]
//   - emqttd 2.1: {"n1": {...}, "n2": {...}} (an object of nodes: every
//     value is an object)
//   - one node or the aggregate: {"k": 1, ...} (filed under single)
//
// Keys are normalized to the EMQX 5 spelling.
func DecodePerNode(v Version, body []byte, single string) (map[string]Values, error) {
	out, _, err := decodePerNode(v, body, single)
	return out, err
}

// DecodePerNodeUnplaced is DecodePerNode that also returns the values it
// could not place, for the caller to count.
func DecodePerNodeUnplaced(v Version, body []byte, single string) (map[string]Values, []Unplaced, error) {
	return decodePerNode(v, body, single)
}

func decodePerNode(v Version, body []byte, single string) (map[string]Values, []Unplaced, error) {
	doc, err := decodeJSONNumbers(body, false)
	if err != nil {
		return nil, nil, err
	}
	payload, err := unwrap(v, doc)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]Values{}
	var unplaced []Unplaced
	perNode := func(m map[string]any, where string) error {
		for _, name := range upstream.SortedKeys(m) {
			inner, ok := m[name].(map[string]any)
			if !ok {
				return fmt.Errorf("%s%s: a JSON %s, want an object", where, upstream.ValidUTF8(name), upstream.JSONType(m[name]))
			}
			vals, bad := valuesFrom(inner, "")
			node := upstream.ValidUTF8(name)
			unplaced = appendUnplaced(unplaced, node, inner, bad)
			if err := put(out, node, vals); err != nil {
				return err
			}
		}
		return nil
	}
	switch p := payload.(type) {
	case map[string]any:
		if nodesObject(p) {
			if err := perNode(p, ""); err != nil {
				return nil, nil, err
			}
			break
		}
		vals, bad := valuesFrom(p, "")
		unplaced = appendUnplaced(unplaced, single, p, bad)
		out[single] = vals
	case []any:
		for i, e := range p {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, nil, fmt.Errorf("[%d]: a JSON %s, want an object", i, upstream.JSONType(e))
			}
			if name, ok := m["node"].(string); ok {
				// v5 flat, or v4 with a nested "stats"/"metrics" object.
				src := m
				for _, nested := range []string{"stats", "metrics"} {
					if inner, ok := m[nested].(map[string]any); ok {
						src = inner
					}
				}
				vals, bad := valuesFrom(src, "node")
				node := upstream.ValidUTF8(name)
				unplaced = appendUnplaced(unplaced, node, src, bad)
				if err := put(out, node, vals); err != nil {
					return nil, nil, err
				}
				continue
			}
			// v2: one object keyed by node name.
			if err := perNode(m, fmt.Sprintf("[%d].", i)); err != nil {
				return nil, nil, err
			}
		}
	default:
		return nil, nil, fmt.Errorf("a JSON %s, want an object or a list", upstream.JSONType(payload))
	}
	return out, unplaced, nil
}

// nodesObject tells emqttd 2.1's stats and metrics answers, an object
// keyed by node name whose values are the nodes' flat maps, from a flat
// map of one node or of the aggregate, whose values are numbers.
func nodesObject(m map[string]any) bool {
	if len(m) == 0 {
		return false
	}
	for _, x := range m {
		if _, ok := x.(map[string]any); !ok {
			return false
		}
	}
	return true
}

func appendUnplaced(out []Unplaced, node string, m map[string]any, keys []string) []Unplaced {
	for _, k := range keys {
		out = append(out, Unplaced{Node: node, Key: upstream.ValidUTF8(k), Type: upstream.JSONType(m[k])})
	}
	return out
}

func put(out map[string]Values, node string, v Values) error {
	if _, dup := out[node]; dup {
		return fmt.Errorf("node %s listed twice", node)
	}
	out[node] = v
	return nil
}

// valuesFrom reads the numeric keys of one object (skip names a key that
// is not a value, such as "node"). Values that are not numbers are left
// out rather than failing the scrape (the keys are EMQX's open-ended
// counter and stat names, and a future non-numeric one must not blank
// the rest); their keys are returned, sorted, for the caller to count.
func valuesFrom(m map[string]any, skip string) (Values, []string) {
	vals := make(Values, len(m))
	var bad []string
	for k, x := range m {
		if k == skip || k == "stats" || k == "metrics" {
			continue
		}
		if f, ok := decodeNumber(x); ok {
			vals[NormalizeKey(k)] = f
		} else {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return vals, bad
}

// APIError is a non-success answer of the management API, with EMQX's
// error code and message when the body carried them.
type APIError struct {
	URL     string
	Status  int
	Code    string // e.g. BAD_API_KEY_OR_SECRET (v5)
	Message string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// errorBody reads an error answer: v5's {"code":"ATOM","message":"..."}
// (or "reason", as the docs say), else a one-line excerpt (v4's
// "UNAUTHORIZED", "Not found.").
func errorBody(body []byte) (code, msg string) {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		if c, ok := m["code"]; ok {
			code = upstream.Shorten(fmt.Sprint(c), 100)
		}
		msg = message(m)
		if code != "" || msg != "" {
			return code, msg
		}
	}
	return "", upstream.Shorten(string(body), 100)
}

func keysOf(m map[string]any) []string {
	k := upstream.SortedKeys(m)
	if len(k) == 0 {
		return []string{"nothing"}
	}
	for i := range k {
		k[i] = upstream.Shorten(k[i], 100)
	}
	return k
}
