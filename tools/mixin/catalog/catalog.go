// Package catalog lists the metric families lbpilot really emits, derived
// from lbpilot's own code and test outputs rather than from a hand-kept
// list, so that renaming a metric breaks every dashboard or rule that still
// uses the old name:
//
//   - every collector kind the exporter supports (exporter.Kinds), built
//     with every opt-in family switched on, describes its families;
//   - every collector's golden outputs (collectors/*/testdata/golden/*.prom)
//     add label values seen in real captures;
//   - the exporter itself is started, and its self registry, a /probe
//     answer and a /metrics answer with a static target are gathered;
//   - the rebalancer's and the agent's registries are gathered (see
//     sources.go);
//   - recording rules in alerts/*.rules.yml add the series they record;
//   - the few series Prometheus itself writes (up, ALERTS, …) are known.
package catalog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric is one metric family lbpilot emits.
type Metric struct {
	// Name is the family name (for histograms without _bucket/_sum/_count).
	Name string
	// Type is counter, gauge, histogram, summary, untyped, or "" when only
	// a descriptor was seen.
	Type string
	// Labels are the label names the family carries (variable and const
	// labels of its descriptors, labels seen on its samples).
	Labels map[string]bool
	// Values are the label values seen on samples, by label name.
	Values map[string]map[string]bool
	// OpenLabels: any label name may appear (Prometheus's ALERTS carries
	// the alert's labels).
	OpenLabels bool
	// Sources says where the family was seen, for error messages.
	Sources map[string]bool
}

// Catalog is a set of metric families.
type Catalog struct {
	families map[string]*Metric
	samples  []Sampled
}

// Sampled is what one source exposed, sample by sample.
type Sampled struct {
	Source   string
	Families []*dto.MetricFamily
}

// Samples returns every gathered or parsed exposition, by source (the
// descriptor-only sources have none): tests evaluate queries on them.
func (c *Catalog) Samples() []Sampled { return c.samples }

// New returns an empty catalog.
func New() *Catalog { return &Catalog{families: map[string]*Metric{}} }

func (c *Catalog) family(name, source string) *Metric {
	m := c.families[name]
	if m == nil {
		m = &Metric{Name: name, Labels: map[string]bool{}, Values: map[string]map[string]bool{}, Sources: map[string]bool{}}
		c.families[name] = m
	}
	m.Sources[source] = true
	return m
}

// AddFamily records a family with its type and label names.
func (c *Catalog) AddFamily(name, typ, source string, labels ...string) *Metric {
	m := c.family(name, source)
	if typ != "" {
		if m.Type != "" && m.Type != typ && m.Type != "untyped" && typ != "untyped" {
			// Keep the first type; conflicting types are reported by Conflicts.
			m.Sources["type conflict: "+typ+" from "+source] = true
		} else if m.Type == "" || m.Type == "untyped" {
			m.Type = typ
		}
	}
	for _, l := range labels {
		m.Labels[l] = true
	}
	return m
}

// AddValue records a label value seen on a sample of a family.
func (m *Metric) AddValue(label, value string) {
	m.Labels[label] = true
	if m.Values[label] == nil {
		m.Values[label] = map[string]bool{}
	}
	m.Values[label][value] = true
}

// Names returns the family names, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.families))
	for n := range c.families {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Len is the number of families.
func (c *Catalog) Len() int { return len(c.families) }

// Family returns a family by its name.
func (c *Catalog) Family(name string) (*Metric, bool) {
	m, ok := c.families[name]
	return m, ok
}

// Lookup resolves a series name as PromQL sees it: a family name, or a
// histogram's or summary's _bucket, _sum and _count series. The second
// result holds the extra label the suffix brings (le, quantile).
func (c *Catalog) Lookup(series string) (*Metric, []string, bool) {
	if m, ok := c.families[series]; ok {
		switch m.Type {
		case "summary":
			return m, []string{"quantile"}, true
		case "histogram":
			// A histogram family has no series of its bare name.
			return nil, nil, false
		}
		return m, nil, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(series, suf)
		if !ok {
			continue
		}
		m, ok := c.families[base]
		if !ok {
			continue
		}
		switch {
		case m.Type == "histogram" && suf == "_bucket":
			return m, []string{"le"}, true
		case suf != "_bucket" && (m.Type == "histogram" || m.Type == "summary"):
			return m, nil, true
		}
	}
	return nil, nil, false
}

// Conflicts lists families seen with two different types.
func (c *Catalog) Conflicts() []string {
	var out []string
	for _, n := range c.Names() {
		for s := range c.families[n].Sources {
			if strings.HasPrefix(s, "type conflict: ") {
				out = append(out, n+": "+s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// AddDesc records a descriptor (name, const and variable label names).
func (c *Catalog) AddDesc(d *prometheus.Desc, source string) error {
	name, labels, err := ParseDesc(d.String())
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	c.AddFamily(name, "", source, labels...)
	return nil
}

// ParseDesc reads the family name and the const and variable label names
// out of prometheus.Desc's String form:
//
//	Desc{fqName: "x", help: "…", unit: "", constLabels: {a="b"}, variableLabels: {c,d}}
//
// client_golang offers no other way to read a descriptor back. The help
// text and label values are Go-quoted, so they are skipped as quoted strings.
func ParseDesc(s string) (name string, labels []string, err error) {
	rest, ok := strings.CutPrefix(s, "Desc{fqName: ")
	if !ok {
		return "", nil, fmt.Errorf("descriptor %q: unexpected form", s)
	}
	next := func(prefix string) (string, error) {
		var ok bool
		if rest, ok = strings.CutPrefix(rest, prefix); !ok {
			return "", fmt.Errorf("descriptor %q: want %q at %q", s, prefix, rest)
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", fmt.Errorf("descriptor %q: %w", s, err)
		}
		rest = rest[len(q):]
		return strconv.Unquote(q)
	}
	if name, err = next(""); err != nil {
		return "", nil, err
	}
	if _, err = next(", help: "); err != nil {
		return "", nil, err
	}
	if _, err = next(", unit: "); err != nil {
		return "", nil, err
	}
	if rest, ok = strings.CutPrefix(rest, ", constLabels: {"); !ok {
		return "", nil, fmt.Errorf("descriptor %q: no constLabels", s)
	}
	for !strings.HasPrefix(rest, "}") {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return "", nil, fmt.Errorf("descriptor %q: bad const label at %q", s, rest)
		}
		labels = append(labels, rest[:eq])
		rest = rest[eq+1:]
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", nil, fmt.Errorf("descriptor %q: %w", s, err)
		}
		rest = strings.TrimPrefix(rest[len(q):], ",")
	}
	if rest, ok = strings.CutPrefix(rest, "}, variableLabels: {"); !ok {
		return "", nil, fmt.Errorf("descriptor %q: no variableLabels", s)
	}
	vl, ok := strings.CutSuffix(rest, "}}")
	if !ok {
		return "", nil, fmt.Errorf("descriptor %q: unterminated", s)
	}
	if vl != "" {
		for _, l := range strings.Split(vl, ",") {
			// Constrained labels print as c(name).
			if inner, ok := strings.CutPrefix(l, "c("); ok {
				l = strings.TrimSuffix(inner, ")")
			}
			labels = append(labels, l)
		}
	}
	if !model.LegacyValidation.IsValidMetricName(name) {
		return "", nil, fmt.Errorf("descriptor %q: invalid metric name %q", s, name)
	}
	return name, labels, nil
}

// AddFamilies records gathered or parsed metric families with their
// types, label names and label values.
func (c *Catalog) AddFamilies(mfs []*dto.MetricFamily, source string) {
	c.samples = append(c.samples, Sampled{Source: source, Families: mfs})
	for _, mf := range mfs {
		typ := strings.ToLower(mf.GetType().String())
		if mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM {
			typ = "histogram"
		}
		m := c.AddFamily(mf.GetName(), typ, source)
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				m.AddValue(lp.GetName(), lp.GetValue())
			}
		}
	}
}

// AddExposition parses the text exposition format and records its families.
func (c *Catalog) AddExposition(r io.Reader, source string) error {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	mfs := make([]*dto.MetricFamily, 0, len(fams))
	for _, mf := range fams {
		mfs = append(mfs, mf)
	}
	c.AddFamilies(mfs, source)
	return nil
}

// AddExpositionFiles parses every file matching the glob patterns; a
// pattern matching nothing is an error (a moved testdata directory must not
// silently empty the catalog).
func (c *Catalog) AddExpositionFiles(root string, patterns ...string) error {
	for _, pat := range patterns {
		files, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("no files match %s under %s", pat, root)
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, f)
			err = c.AddExposition(fh, rel)
			fh.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// AddGatherer gathers a registry and records its families.
func (c *Catalog) AddGatherer(g prometheus.Gatherer, source string) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("%s: gather: %w", source, err)
	}
	c.AddFamilies(mfs, source)
	return nil
}

// Prometheus adds the series Prometheus writes itself: the synthetic
// scrape series of every target and the ALERTS series of alerting rules.
func (c *Catalog) Prometheus() {
	const src = "prometheus (synthetic series)"
	for _, n := range []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"} {
		c.AddFamily(n, "gauge", src, "job", "instance")
	}
	alerts := c.AddFamily("ALERTS", "gauge", src, "alertname", "alertstate")
	alerts.OpenLabels = true
	alerts.AddValue("alertstate", "firing")
	alerts.AddValue("alertstate", "pending")
	c.AddFamily("ALERTS_FOR_STATE", "gauge", src, "alertname").OpenLabels = true
}
