// Command dashpreview draws every dashboard (dashboards/*.json) with the
// data recorded from a demo run (dashboards/preview/data.json, written by
// cmd/dashrecord: make previews) to PNG files in dashboards/preview/, for
// the README and for reviewing changes without a Grafana.
//
//	cd tools/mixin && go run ./cmd/dashpreview     # or: make dashboards
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lbpilot/lbpilot/tools/mixin/preview"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("dashpreview", flag.ContinueOnError)
	in := fs.String("dashboards", "../../dashboards", "directory holding the dashboards' JSON")
	data := fs.String("data", "", "recorded panel data (default: <out>/data.json, written by make previews)")
	out := fs.String("out", "../../dashboards/preview", "directory to write the PNG files into")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dataFile := *data
	if dataFile == "" {
		dataFile = filepath.Join(*out, "data.json")
	}
	files, err := preview.RenderDir(*in, dataFile, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashpreview:", err)
		return 1
	}
	for _, f := range files {
		fmt.Println(f)
	}
	return 0
}
