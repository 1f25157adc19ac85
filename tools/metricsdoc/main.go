// Command metricsdoc writes docs/metrics.md: the prose of metrics.md.tmpl
// with each collector's metric table rendered from the MetricDocs of its
// package (collectors/haproxy, wcs, srs, emqx), which the tests of this
// program keep equal to the families the collectors describe.
//
//	go run ./tools/metricsdoc -out docs/metrics.md   (make docs)
package main

import (
	"bytes"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/collectors/emqx"
	"github.com/lbpilot/lbpilot/collectors/haproxy"
	"github.com/lbpilot/lbpilot/collectors/srs"
	"github.com/lbpilot/lbpilot/collectors/wcs"
	"github.com/lbpilot/lbpilot/internal/probe/flv"
	"github.com/lbpilot/lbpilot/internal/probe/hls"
	"github.com/lbpilot/lbpilot/internal/probe/mqtt"
	"github.com/lbpilot/lbpilot/internal/probe/rtmp"
	"github.com/lbpilot/lbpilot/internal/probe/wcsws"
)

//go:embed metrics.md.tmpl
var tmpl string

// catalogs are the collectors' metric tables, by kind.
var catalogs = map[string]func() []collectors.MetricDoc{
	"haproxy": haproxy.MetricDocs,
	"wcs":     wcs.MetricDocs,
	"srs":     srs.MetricDocs,
	"emqx":    emqx.MetricDocs,
	// The protocol probes (internal/probe).
	"mqtt":      mqtt.MetricDocs,
	"rtmp":      rtmp.MetricDocs,
	"flv":       flv.MetricDocs,
	"hls":       hls.MetricDocs,
	"websocket": wcsws.MetricDocs,
}

// nativeHeader names the column of the upstream's own exporter, per kind.
var nativeHeader = map[string]string{
	"emqx": "EMQX built-in",
}

func main() {
	out := flag.String("out", "docs/metrics.md", "file to write")
	flag.Parse()
	b, err := Render()
	if err != nil {
		fmt.Fprintln(os.Stderr, "metricsdoc:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "metricsdoc:", err)
		os.Exit(1)
	}
}

// Render returns the content of docs/metrics.md.
func Render() ([]byte, error) {
	t, err := template.New("metrics.md").Funcs(template.FuncMap{
		// table renders a kind's rows; with types given, only rows of
		// those types.
		"table": func(kind string, types ...string) (string, error) {
			f, ok := catalogs[kind]
			if !ok {
				return "", fmt.Errorf("no catalog for kind %q", kind)
			}
			rows := f()
			if len(types) > 0 {
				var keep []collectors.MetricDoc
				for _, r := range rows {
					for _, ty := range types {
						if r.Type == ty {
							keep = append(keep, r)
						}
					}
				}
				rows = keep
			}
			if len(rows) == 0 {
				return "", fmt.Errorf("kind %q has no rows of types %v", kind, types)
			}
			return table(rows, nativeHeader[kind]), nil
		},
	}).Parse(tmpl)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// table renders rows as a markdown table: metric, type, labels, meaning,
// source, and the upstream's own name when any row has one. A column no
// row fills is left out.
func table(rows []collectors.MetricDoc, nativeTitle string) string {
	type column struct {
		title string
		cell  func(collectors.MetricDoc) string
	}
	cols := []column{
		{"metric", func(r collectors.MetricDoc) string {
			q := make([]string, len(r.Names))
			for i, n := range r.Names {
				q[i] = "`" + n + "`"
			}
			return strings.Join(q, ", ")
		}},
		{"type", func(r collectors.MetricDoc) string { return r.Type }},
		{"labels", func(r collectors.MetricDoc) string { return r.Labels }},
		{"meaning", func(r collectors.MetricDoc) string { return r.Help }},
		{"source", func(r collectors.MetricDoc) string { return r.Source }},
		{nativeTitle, func(r collectors.MetricDoc) string { return r.Native }},
	}
	var used []column
	for _, c := range cols {
		if c.title == "" {
			continue
		}
		for _, r := range rows {
			if c.cell(r) != "" {
				used = append(used, c)
				break
			}
		}
	}
	var b strings.Builder
	b.WriteString("|")
	for _, c := range used {
		b.WriteString(" " + c.title + " |")
	}
	b.WriteString("\n|")
	for range used {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("|")
		for _, c := range used {
			s := strings.ReplaceAll(c.cell(r), "\n", " ")
			if s != "" {
				s = " " + s + " "
			} else {
				s = " "
			}
			b.WriteString(s + "|")
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}
