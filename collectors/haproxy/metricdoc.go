package haproxy

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
)

// MetricDocs documents every family of the catalog (docs/metrics.md).
func MetricDocs() []collectors.MetricDoc {
	var out []collectors.MetricDoc
	for _, set := range []struct {
		scope  string
		labels []string
		fams   []family
	}{
		{ScopeFrontend, []string{"proxy"}, frontendFamilies},
		{ScopeBackend, []string{"proxy"}, backendFamilies},
		{ScopeServer, []string{"proxy", "server"}, serverFamilies},
		{ScopeListener, []string{"proxy", "listener"}, listenerFamilies},
	} {
		for _, f := range set.fams {
			labels := set.labels
			switch f.kind {
			case statusState, checkState, aggState, adminState, listenerState, aggCheck:
				labels = append(labels[:len(labels):len(labels)], "state")
			case httpCodes:
				labels = append(labels[:len(labels):len(labels)], "code")
			case modeInfo:
				labels = append(labels[:len(labels):len(labels)], "mode")
			case serverInfo:
				labels = append(labels[:len(labels):len(labels)], serverInfoLabels...)
			}
			help := f.help
			if set.scope == ScopeServer && extraServerFamilies[f.name] {
				help += " Opt-in (extra_server_families)."
			}
			out = append(out, collectors.MetricDoc{
				Names:  []string{"haproxy_" + set.scope + "_" + f.name},
				Type:   typeName(f.typ),
				Labels: strings.Join(labels, ", "),
				Help:   help,
				Source: familySource(f),
			})
		}
	}
	out = append(out, collectors.MetricDoc{
		Names: []string{"haproxy_process_build_info"}, Type: "gauge", Labels: "version",
		Help: "HAProxy version, as a label; the value is 1.", Source: "`Version`",
	})
	for _, f := range infoFamilies {
		src := "`" + f.key + "`"
		if mb, ok := infoMB[f.key]; ok {
			src += " (2.0–2.2: `" + mb + "` × 1,048,576)"
		}
		out = append(out, collectors.MetricDoc{
			Names:  []string{"haproxy_process_" + f.name},
			Type:   typeName(f.typ),
			Help:   f.help,
			Source: src,
		})
	}
	out = append(out,
		collectors.MetricDoc{Names: []string{"haproxy_process_node"}, Type: "gauge", Labels: "node",
			Help: "The node name (global node), as a label; the value is 1.", Source: "`node`"},
		collectors.MetricDoc{Names: []string{"haproxy_process_description"}, Type: "gauge", Labels: "desc",
			Help: "The global description, as a label; the value is 1. Absent without one.", Source: "`description`"},
		collectors.MetricDoc{Names: []string{"haproxy_sticktable_size"}, Type: "gauge", Labels: "name, type",
			Help: "Stick table size (maximum number of entries).", Source: "`show table` size"},
		collectors.MetricDoc{Names: []string{"haproxy_sticktable_used"}, Type: "gauge", Labels: "name, type",
			Help: "Entries in use in the stick table.", Source: "`show table` used"},
		collectors.MetricDoc{Names: []string{"haproxy_sticktable_entry"}, Type: "gauge", Labels: "name, key, data",
			Help: tableEntryHelp + " Opt-in, at most `max_entries` per table.", Source: "`show table <name>`"},
	)
	for _, e := range extraCounters {
		typ := "untyped"
		if e.gauge {
			typ = "gauge"
		}
		var names []string
		for _, scope := range []string{ScopeFrontend, ScopeBackend, ScopeServer, ScopeListener} {
			names = append(names, "haproxy_"+scope+"_"+e.col)
		}
		out = append(out, collectors.MetricDoc{
			Names: names, Type: typ, Labels: "proxy (server, listener), mod (`" + e.mod + "`)",
			Help: e.help + " Only with `extra_counters` or `extra-counters`, where HAProxy fills the column.", Source: extraSource + " `" + e.col + "`",
		})
	}
	for _, rc := range resolverCounters {
		out = append(out, collectors.MetricDoc{
			Names: []string{"haproxy_resolver_" + rc.name}, Type: "gauge", Labels: "resolver, nameserver",
			Help: rc.help, Source: "`show resolvers` " + rc.key,
		})
	}
	out = append(out, collectors.AnomaliesDoc("`unknown_row_type`: a `show stat` row whose type is empty or not 0–3; "+
		"`duplicate_proxy`: a frontend, or a backend and its servers, named like an earlier one of the same kind with another `iid`; "+
		"`duplicate_row`: a row repeating an earlier one; "+
		"`unparsable_info`: a `show info` field of an exported family that is not a number"))
	return out
}

func familySource(f family) string {
	switch f.kind {
	case httpCodes:
		return "`hrsp_1xx` … `hrsp_other`"
	case aggState:
		return "computed from server `status`"
	case aggCheck:
		return "computed from server `check_status`"
	case adminState:
		return "`show servers state` srv_admin_state"
	case serverInfo:
		return "`show servers state` srv_addr, srv_port, srv_fqdn"
	}
	s := "`" + f.col + "`"
	if f.scale == ms {
		s += " (ms ÷ 1000)"
	}
	return s
}

// extraSource starts the Source of the extra counters' rows.
const extraSource = "stats module column"

func typeName(t prometheus.ValueType) string {
	switch t {
	case counter:
		return "counter"
	case prometheus.UntypedValue:
		return "untyped"
	}
	return "gauge"
}
