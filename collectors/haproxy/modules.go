package haproxy

import (
	"context"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// The families below come from runtime commands other than show stat:
// stick tables (show table) and DNS resolvers (show resolvers), named as
// promex names them (haproxy_sticktable_*, and haproxy_resolver_* as in
// HAProxy 3.x's promex; 2.6's promex has no resolver scope).

// resolverCounters maps show resolvers' counter names to promex's family
// names (HAProxy 3.4's promex renames snd_error to send_error). promex
// types them all as gauges; so does lbpilot, as the names lack _total.
var resolverCounters = []struct{ key, name, help string }{
	{"sent", "sent", "Queries sent to the nameserver."},
	{"snd_error", "send_error", "Queries that could not be sent."},
	{"valid", "valid", "Valid answers received."},
	{"update", "update", "Answers that updated a server's address."},
	{"cname", "cname", "CNAME answers."},
	{"cname_error", "cname_error", "CNAME answers that failed."},
	{"any_err", "any_err", "Answers with an error of any kind."},
	{"nx", "nx", "NXDOMAIN answers."},
	{"timeout", "timeout", "Queries that timed out."},
	{"refused", "refused", "REFUSED answers."},
	{"other", "other", "Answers with another error."},
	{"invalid", "invalid", "Invalid answers."},
	{"too_big", "too_big", "Answers too big to be read."},
	{"truncated", "truncated", "Truncated answers."},
	{"outdated", "outdated", "Answers that arrived after the query was done with."},
}

// nanIfAbsent are show info keys a HAProxy built without zlib leaves out,
// for which promex still prints NaN.
var nanIfAbsent = map[string]bool{"ZlibMemUsage": true, "MaxZlibMemUsage": true}

const tableEntryHelp = "A stored value of one stick table entry (sticktable_entries): data is the stored type as HAProxy prints it (http_req_rate(10000), gpc(0), …)."

// serverInfoLabels are haproxy_server_info's labels after proxy and server.
var serverInfoLabels = []string{"address", "port", "fqdn"}

// moduleDescs are the descriptors of the non-show-stat families, built
// once in New; nil when not selected.
type moduleDescs struct {
	node, description    *prometheus.Desc // show info's node and description
	tableSize, tableUsed *prometheus.Desc
	tableEntry           *prometheus.Desc            // opt-in per-key view
	resolver             map[string]*prometheus.Desc // by show resolvers key
}

// moduleData is what one scrape fetched for them.
type moduleData struct {
	tables    []haproxyapi.StickTable
	entries   [][]haproxyapi.StickTable // per table of sticktable_entries
	resolvers []haproxyapi.Nameserver
}

func (c *Collector) compileModules() {
	if c.client == nil {
		return // the stats page has neither command
	}
	cl := c.target.Labels
	m := &c.modules
	if c.opts.hasScope(ScopeProcess) {
		if c.opts.wanted("haproxy_process_node") {
			m.node = prometheus.NewDesc("haproxy_process_node", "The node name (global node), as a label; the value is 1.", []string{"node"}, cl)
		}
		if c.opts.wanted("haproxy_process_description") {
			m.description = prometheus.NewDesc("haproxy_process_description", "The global description, as a label; the value is 1. Absent without one.", []string{"desc"}, cl)
		}
	}
	if c.opts.hasScope(ScopeStickTable) {
		if c.opts.wanted("haproxy_sticktable_size") {
			m.tableSize = prometheus.NewDesc("haproxy_sticktable_size", "Stick table size (maximum number of entries).", []string{"name", "type"}, cl)
		}
		if c.opts.wanted("haproxy_sticktable_used") {
			m.tableUsed = prometheus.NewDesc("haproxy_sticktable_used", "Entries in use in the stick table.", []string{"name", "type"}, cl)
		}
		if len(c.opts.StickTableEntries.Tables) > 0 && c.opts.wanted("haproxy_sticktable_entry") {
			m.tableEntry = prometheus.NewDesc("haproxy_sticktable_entry", tableEntryHelp, []string{"name", "key", "data"}, cl)
		}
	}
	if c.opts.hasScope(ScopeResolver) {
		for _, rc := range resolverCounters {
			name := "haproxy_resolver_" + rc.name
			if !c.opts.wanted(name) {
				continue
			}
			if m.resolver == nil {
				m.resolver = map[string]*prometheus.Desc{}
			}
			m.resolver[rc.key] = prometheus.NewDesc(name, rc.help, []string{"resolver", "nameserver"}, cl)
		}
	}
}

func (m *moduleDescs) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.node, m.description, m.tableSize, m.tableUsed, m.tableEntry} {
		if d != nil {
			ch <- d
		}
	}
	for _, rc := range resolverCounters {
		if d := m.resolver[rc.key]; d != nil {
			ch <- d
		}
	}
}

// fetchModules adds the commands the selected families need to g. A
// HAProxy that does not know a command (ErrUnsupported) just has no such
// families; any other failure is the scrape's error.
func (c *Collector) fetchModules(ctx context.Context, g *errgroup.Group, client *haproxyapi.Client, mods *moduleData) {
	m := &c.modules
	if m.tableSize != nil || m.tableUsed != nil {
		g.Go(func() error {
			t, err := client.ShowTables(ctx, "", 0)
			if errors.Is(err, haproxyapi.ErrUnsupported) {
				return nil
			}
			mods.tables = t
			return err
		})
	}
	if m.tableEntry != nil {
		tables := c.opts.StickTableEntries.Tables
		mods.entries = make([][]haproxyapi.StickTable, len(tables))
		for i, name := range tables {
			g.Go(func() error {
				t, err := client.ShowTables(ctx, name, c.opts.StickTableEntries.MaxEntries)
				if errors.Is(err, haproxyapi.ErrUnsupported) {
					return nil
				}
				mods.entries[i] = t
				return err
			})
		}
	}
	if len(m.resolver) > 0 {
		g.Go(func() error {
			r, err := client.ShowResolvers(ctx)
			if errors.Is(err, haproxyapi.ErrUnsupported) {
				return nil
			}
			mods.resolvers = r
			return err
		})
	}
}

func (c *Collector) sendModules(s *snapshot, ch chan<- prometheus.Metric) {
	m := &c.modules
	for _, t := range s.mods.tables {
		if t.Size == 0 {
			continue // promex skips tables without storage
		}
		if m.tableSize != nil {
			ch <- prometheus.MustNewConstMetric(m.tableSize, prometheus.GaugeValue, float64(t.Size), t.Name, t.Type)
		}
		if m.tableUsed != nil {
			ch <- prometheus.MustNewConstMetric(m.tableUsed, prometheus.GaugeValue, float64(t.Used), t.Name, t.Type)
		}
	}
	for _, tables := range s.mods.entries {
		for _, t := range tables {
			for _, e := range t.Entries {
				for _, d := range e.Data {
					if d.Numeric {
						ch <- prometheus.MustNewConstMetric(m.tableEntry, prometheus.GaugeValue, d.Value, t.Name, e.Key, d.Name)
					}
				}
			}
		}
	}
	for _, ns := range s.mods.resolvers {
		for _, ctr := range ns.Counters {
			if d := m.resolver[ctr.Name]; d != nil {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, ctr.Value, ns.Resolvers, ns.Name)
			}
		}
	}
}

// serverInfo returns a server's show servers state line ("-" there reads
// as empty) for haproxy_server_info.
func (s *snapshot) serverInfo(vars []string) (*haproxyapi.ServerState, bool) {
	if s.addrs == nil || len(vars) < 2 {
		return nil, false
	}
	sv, ok := s.addrs[haproxyapi.ServerRef{Backend: vars[0], Server: vars[1]}]
	return sv, ok
}

// infoPort is the port label: empty when show servers state has none.
func infoPort(sv *haproxyapi.ServerState) string {
	if sv.Port <= 0 {
		return ""
	}
	return strconv.Itoa(sv.Port)
}

// sendNode sends haproxy_process_node and haproxy_process_description
// from show info's "node" and "description" (promex 3.x's form).
func (c *Collector) sendNode(s *snapshot, ch chan<- prometheus.Metric) {
	m := &c.modules
	if m.node != nil && s.info["node"] != "" {
		ch <- prometheus.MustNewConstMetric(m.node, prometheus.GaugeValue, 1, s.info["node"])
	}
	if m.description != nil && s.info["description"] != "" {
		ch <- prometheus.MustNewConstMetric(m.description, prometheus.GaugeValue, 1, s.info["description"])
	}
}

// mergeEntries sums the processes' stick table entries (sticktable_entries)
// by table, key and stored type: each process has its own table, so a key
// tracked by several processes adds up, as haproxy_sticktable_used does.
// Each table keeps the keys in the order first seen, at most as many as
// the most any process returned (so at most max_entries).
func mergeEntries(mods []moduleData) [][]haproxyapi.StickTable {
	var out [][]haproxyapi.StickTable
	for _, m := range mods {
		for len(out) < len(m.entries) {
			out = append(out, nil)
		}
	}
	for i := range out {
		var merged haproxyapi.StickTable
		keys := map[string]int{}
		limit := 0
		for _, m := range mods {
			if i >= len(m.entries) {
				continue
			}
			for _, t := range m.entries[i] {
				merged.Name, merged.Type = t.Name, t.Type
				limit = max(limit, len(t.Entries))
				for _, e := range t.Entries {
					k, ok := keys[e.Key]
					if !ok {
						if len(merged.Entries) >= limit {
							continue
						}
						keys[e.Key] = len(merged.Entries)
						merged.Entries = append(merged.Entries, haproxyapi.StickEntry{Key: e.Key})
						k = len(merged.Entries) - 1
					}
					dst := &merged.Entries[k]
				data:
					for _, d := range e.Data {
						for j := range dst.Data {
							if dst.Data[j].Name == d.Name {
								dst.Data[j].Value += d.Value
								continue data
							}
						}
						dst.Data = append(dst.Data, d)
					}
				}
			}
		}
		if merged.Name != "" {
			out[i] = []haproxyapi.StickTable{merged}
		}
	}
	return out
}
