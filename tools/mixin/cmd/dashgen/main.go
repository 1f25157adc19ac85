// Command dashgen writes lbpilot's Grafana dashboards (tools/mixin/dashboards)
// as JSON files into a directory, by default the repository's dashboards/.
//
//	cd tools/mixin && go run ./cmd/dashgen            # or: make dashboards
//	go run ./cmd/dashgen -out /tmp/x
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/lbpilot/lbpilot/tools/mixin/dashboards"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("dashgen", flag.ContinueOnError)
	out := fs.String("out", "../../dashboards", "directory to write the dashboards into")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "dashgen:", err)
		return 1
	}
	return 0
}

// Write renders every dashboard into dir.
func Write(dir string) error {
	all, err := dashboards.All()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := dashboards.JSON(all[n])
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
