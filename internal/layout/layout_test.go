package layout

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/lbpilot/lbpilot"

// pkg is the part of `go list -json` the rules read.
type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Dir        string
	Deps       []string

	GoFiles, TestGoFiles, XTestGoFiles []string
}

// listPackages runs `go list -deps=false -json ./...` from the module root.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs, err := decodePackages(strings.NewReader(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; the module has dozens", len(pkgs))
	}
	return pkgs
}

// decodePackages reads the stream of JSON objects go list writes.
func decodePackages(r io.Reader) ([]pkg, error) {
	var pkgs []pkg
	dec := json.NewDecoder(r)
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}

func TestAgentNeverImportsACollector(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/agent" {
			continue
		}
		if bad := collectorDeps(p.Deps); len(bad) > 0 {
			t.Errorf("agent depends on %v; it reads upstreams through internal/*api, never through a collector", bad)
		}
		return
	}
	t.Fatal("go list did not list the agent package")
}

// collectorDeps returns the collectors packages among deps.
func collectorDeps(deps []string) []string {
	var bad []string
	for _, d := range deps {
		if d == module+"/collectors" || strings.HasPrefix(d, module+"/collectors/") {
			bad = append(bad, d)
		}
	}
	return bad
}

func TestNoProgramUnderInternal(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.Name == "main" && isInternal(p.ImportPath) {
			t.Errorf("%s is package main; programs live under cmd/ or tools/", p.ImportPath)
		}
	}
}

func isInternal(path string) bool {
	return strings.HasPrefix(path, module+"/internal/")
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment saying its job", p.ImportPath)
		}
	}
}

// renamedOwnImports returns the imports of this module that carry a name
// other than the blank one.
func renamedOwnImports(specs []*ast.ImportSpec) []string {
	var bad []string
	for _, s := range specs {
		path := strings.Trim(s.Path.Value, `"`)
		if s.Name == nil || s.Name.Name == "_" {
			continue
		}
		if path == module || strings.HasPrefix(path, module+"/") {
			bad = append(bad, s.Name.Name+" "+s.Path.Value)
		}
	}
	return bad
}

func TestRuleHelpersFindViolations(t *testing.T) {
	if got := collectorDeps([]string{"fmt", module + "/collectors", module + "/collectors/wcs", module + "/collectorsx", module + "/internal/wcsapi"}); len(got) != 2 {
		t.Errorf("collectorDeps found %v, want the two collectors packages", got)
	}
	if !isInternal(module+"/internal/lab") || isInternal(module+"/tools/bench") {
		t.Error("isInternal misjudges internal/lab or tools/bench")
	}
	pkgs, err := decodePackages(strings.NewReader(`{"ImportPath":"a"}{"ImportPath":"b"}`))
	if err != nil || len(pkgs) != 2 {
		t.Errorf("decodePackages = %v, %v; want two packages", pkgs, err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", `package x
import (
	"fmt"
	other "example.com/x"
	_ "`+module+`/internal/lab"
	mq "`+module+`/internal/probe/mqtt"
)`, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	if got := renamedOwnImports(f.Imports); len(got) != 1 || !strings.HasPrefix(got[0], "mq ") {
		t.Errorf("renamedOwnImports = %v, want only the mq import", got)
	}
	if _, err := decodePackages(strings.NewReader(`{"ImportPath":`)); err == nil {
		t.Error("decodePackages accepted a truncated stream")
	}
}

func TestOwnImportsNeedNoSecondName(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	for _, p := range listPackages(t) {
		files := append(append(append([]string{}, p.GoFiles...), p.TestGoFiles...), p.XTestGoFiles...)
		for _, name := range files {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, bad := range renamedOwnImports(f.Imports) {
				t.Errorf("%s imports %s; our packages are named so that no import needs an alias", path, bad)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked %d files; the module has hundreds", checked)
	}
}
