// Package docstest finds what tests check in the documentation (README.md
// and docs/*.md) by file and heading anchor, so that a test keeps working
// when text moves between sections or pages, as long as its heading stays.
//
//	s := docstest.Section(t, "docs/agent.md", "thresholds")
//
// Anchors are GitHub's: the heading's text in lower case, without
// punctuation, spaces as hyphens, and -1, -2, … on repeated headings.
package docstest

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// modulePath is the root module, whose go.mod marks the repository root.
const modulePath = "github.com/lbpilot/lbpilot"

// Root returns the repository root: the first directory upward from the
// working directory whose go.mod declares the root module (a nested
// module such as tools/deploy is passed over).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declares(string(b), modulePath) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func declares(gomod, module string) bool {
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == module
		}
	}
	return false
}

// File returns a documentation file's text; path is relative to the
// repository root, e.g. "docs/agent.md".
func File(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root(t), filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Section returns the part of a documentation file under the heading
// whose anchor is anchor: the heading line and everything up to the next
// heading of the same or a higher level. The test fails when the file
// has no such heading.
func Section(t testing.TB, path, anchor string) string {
	t.Helper()
	md := File(t, path)
	for _, h := range Headings(md) {
		if h.Anchor != anchor {
			continue
		}
		end := len(md)
		for _, next := range Headings(md) {
			if next.Offset > h.Offset && next.Level <= h.Level {
				end = next.Offset
				break
			}
		}
		return md[h.Offset:end]
	}
	t.Fatalf("%s has no heading with the anchor #%s", path, anchor)
	return ""
}

// Heading is one ATX heading of a markdown text.
type Heading struct {
	Level  int    // 1 for #, 2 for ##, …
	Text   string // as written, without the #s
	Anchor string // GitHub's anchor, made unique within the text
	Offset int    // byte offset of the heading line
}

// Headings returns the headings of md in order, skipping fenced code
// blocks (a shell comment in a ```sh block is not a heading).
func Headings(md string) []Heading {
	var out []Heading
	seen := map[string]int{}
	fence := ""
	off := 0
	for _, line := range strings.SplitAfter(md, "\n") {
		start := off
		off += len(line)
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		level := 0
		for level < len(line) && line[level] == '#' {
			level++
		}
		if level == 0 || level > 6 || level >= len(line) || (line[level] != ' ' && line[level] != '\t') {
			continue
		}
		text := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(line[level:]), "#"))
		a := Anchor(text)
		if n, dup := seen[a]; dup {
			seen[a] = n + 1
			a += "-" + strconv.Itoa(n+1)
		} else {
			seen[a] = 0
		}
		out = append(out, Heading{Level: level, Text: text, Anchor: a, Offset: start})
	}
	return out
}

var inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// Anchor returns the anchor GitHub gives a heading: its rendered text
// (links reduced to their text, code without backticks) in lower case,
// every character that is not a letter, digit, mark, underscore, hyphen
// or space dropped, and spaces turned into hyphens.
func Anchor(heading string) string {
	s := inlineLink.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Link is one inline link or image of a markdown text.
type Link struct {
	Target string // as written, e.g. "docs/agent.md#flags"
	Line   int    // 1-based
}

// Links returns the inline links and images of md, outside fenced code
// blocks and code spans.
func Links(md string) []Link {
	var out []Link
	fence := ""
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		for _, m := range linkTarget.FindAllStringSubmatch(withoutCodeSpans(line), -1) {
			target := strings.TrimSpace(m[1])
			if t, _, ok := strings.Cut(target, " "); ok {
				target = t // [text](url "title")
			}
			out = append(out, Link{Target: strings.Trim(target, "<>"), Line: i + 1})
		}
	}
	return out
}

var linkTarget = regexp.MustCompile(`\]\(([^)]*)\)`)

// withoutCodeSpans blanks `code spans`, in which brackets are no links.
func withoutCodeSpans(line string) string {
	parts := strings.Split(line, "`")
	for i := 1; i < len(parts); i += 2 {
		if i < len(parts)-1 { // an unclosed backtick is literal
			parts[i] = ""
		}
	}
	return strings.Join(parts, "`")
}

// YAMLKeys lists the YAML keys of the config type of v: every field's key,
// recursing into struct fields (through pointers, slices and maps) whose
// types are lbpilot's own. Keys of other projects' types (such as
// prometheus/common's http_client_config) are left to their own docs.
func YAMLKeys(v any) []string {
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	visited := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || visited[t] || !ours(t.PkgPath()) {
			return
		}
		visited[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if strings.Contains(opts, "inline") {
				walk(f.Type)
				continue
			}
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			seen[name] = true
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(v))
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ours tells lbpilot's packages (and the test binaries of this package)
// from other projects'.
func ours(pkg string) bool {
	return strings.HasPrefix(pkg, "github.com/lbpilot/lbpilot")
}

// KeysDocumented fails t for every YAML key of the config type of cfg
// (YAMLKeys) that the page at path does not name, as `key` or key:. At
// least min keys must be found, so a broken walk cannot pass.
func KeysDocumented(t testing.TB, path string, cfg any, min int) {
	t.Helper()
	page := File(t, path)
	keys := YAMLKeys(cfg)
	if len(keys) < min {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(page, "`"+k+"`") && !strings.Contains(page, k+":") {
			t.Errorf("%s does not name the config key %s", path, k)
		}
	}
}
