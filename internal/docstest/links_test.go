package docstest

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinksResolve: every relative link and #anchor in README.md and
// docs/*.md names a file of the repository and, for markdown files, a
// heading that exists.
func TestLinksResolve(t *testing.T) {
	root := Root(t)
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 9 {
		t.Fatalf("only %d pages in docs/", len(pages))
	}
	files := []string{"README.md"}
	for _, p := range pages {
		files = append(files, "docs/"+filepath.Base(p))
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		a := map[string]bool{}
		for _, h := range Headings(File(t, file)) {
			a[h.Anchor] = true
		}
		anchors[file] = a
		return a
	}
	n := 0
	for _, file := range files {
		for _, l := range Links(File(t, file)) {
			if l.Target == "" || strings.Contains(l.Target, "://") || strings.HasPrefix(l.Target, "mailto:") {
				continue
			}
			n++
			p, frag, _ := strings.Cut(l.Target, "#")
			dest := file
			if p != "" {
				dest = path.Clean(path.Join(path.Dir(file), p))
				if strings.HasPrefix(dest, "../") {
					t.Errorf("%s:%d: %s leaves the repository", file, l.Line, l.Target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
					t.Errorf("%s:%d: %s: no such file", file, l.Line, l.Target)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[frag] {
				t.Errorf("%s:%d: %s: %s has no heading #%s", file, l.Line, l.Target, dest, frag)
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d relative links checked", n)
	}
}

// Every page of docs/ is linked from README.md.
func TestReadmeLinksEveryPage(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(Root(t), "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, l := range Links(File(t, "README.md")) {
		p, _, _ := strings.Cut(l.Target, "#")
		linked[path.Clean(p)] = true
	}
	for _, p := range pages {
		if name := "docs/" + filepath.Base(p); !linked[name] {
			t.Errorf("README.md does not link %s", name)
		}
	}
}
