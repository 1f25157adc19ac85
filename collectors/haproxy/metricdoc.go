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
	} {
		for _, f := range set.fams {
			labels := set.labels
			switch f.kind {
			case statusState, checkState, aggState, adminState:
				labels = append(labels[:len(labels):len(labels)], "state")
			case httpCodes:
				labels = append(labels[:len(labels):len(labels)], "code")
			}
			out = append(out, collectors.MetricDoc{
				Names:  []string{"haproxy_" + set.scope + "_" + f.name},
				Type:   typeName(f.typ),
				Labels: strings.Join(labels, ", "),
				Help:   f.help,
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
	case adminState:
		return "`show servers state` srv_admin_state"
	}
	s := "`" + f.col + "`"
	if f.scale == ms {
		s += " (ms ÷ 1000)"
	}
	return s
}

func typeName(t prometheus.ValueType) string {
	if t == counter {
		return "counter"
	}
	return "gauge"
}
