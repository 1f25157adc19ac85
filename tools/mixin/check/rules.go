package check

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/lbpilot/lbpilot/tools/mixin/catalog"
)

// RuleExprs parses a Prometheus rule file with Prometheus's own rule
// format package (which also validates names, durations and templates) and
// returns its expressions keyed by "file group/rule".
func RuleExprs(file string) (map[string]string, []string) {
	rgs, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		var probs []string
		for _, e := range errs {
			probs = append(probs, e.Error())
		}
		return nil, probs
	}
	out := map[string]string{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			out[fmt.Sprintf("%s %s/%s", filepath.Base(file), g.Name, name)] = r.Expr
		}
	}
	return out, nil
}

// LintRules checks every expression of a rule file against the catalog.
func LintRules(file string, cat *catalog.Catalog) []string {
	exprs, probs := RuleExprs(file)
	if len(probs) > 0 {
		return probs
	}
	parsed, probs := ParseAll(exprs)
	for where, e := range parsed {
		probs = append(probs, CheckSelectors(cat, e, where)...)
	}
	return probs
}
