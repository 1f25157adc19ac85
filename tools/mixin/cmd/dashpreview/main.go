// Command dashpreview draws every dashboard's layout (dashboards/*.json)
// to PNG files in dashboards/preview/, for the README and for reviewing
// layout changes without a Grafana.
//
//	cd tools/mixin && go run ./cmd/dashpreview     # or: make dashboards
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/lbpilot/lbpilot/tools/mixin/preview"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("dashpreview", flag.ContinueOnError)
	in := fs.String("dashboards", "../../dashboards", "directory holding the dashboards' JSON")
	out := fs.String("out", "../../dashboards/preview", "directory to write the PNG files into")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files, err := preview.RenderDir(*in, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashpreview:", err)
		return 1
	}
	for _, f := range files {
		fmt.Println(f)
	}
	return 0
}
