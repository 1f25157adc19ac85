package dashboards

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestUnescapeHTML(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"a \u003e 0 \u0026\u0026 b \u003c 1"`, `"a > 0 && b < 1"`},
		// An escaped backslash followed by u003c is text, not an escape.
		{`"\\u003c"`, `"\\u003c"`},
		{`"\\\u003c"`, `"\\<"`},
		{`"\u2028 \n \" \u00e9"`, `"\u2028 \n \" \u00e9"`},
		{`"trailing \`, `"trailing \`},
		{`"short \u00"`, `"short \u00"`},
	} {
		if got := string(unescapeHTML([]byte(tc.in))); got != tc.want {
			t.Errorf("unescapeHTML(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestJSON: every dashboard encodes to JSON that means what the SDK's
// own encoding means, with PromQL's <, > and & left readable.
func TestJSON(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Errorf("%d dashboards, want 6", len(all))
	}
	comparisons := 0
	for name, d := range all {
		got, err := JSON(d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.HasSuffix(got, []byte("}\n")) || !bytes.HasPrefix(got, []byte("{\n  \"")) {
			t.Errorf("%s: want an indented object with a final newline", name)
		}
		if bytes.Contains(got, []byte(`\u003`)) || bytes.Contains(got, []byte(`\u0026`)) {
			t.Errorf("%s: HTML escapes left in the output", name)
		}
		comparisons += bytes.Count(got, []byte(" > "))
		plain, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := json.Unmarshal(plain, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: JSON differs in meaning from json.Marshal's", name)
		}
	}
	if comparisons == 0 {
		t.Error("no PromQL comparison found: the escape check above saw nothing to check")
	}
}

// TestBoardLayout: panels and rows are numbered in order from 1, panels
// flow left to right and wrap, a row starts below the tallest panel, and a
// panel that would cross the grid's edge is an error.
func TestBoardLayout(t *testing.T) {
	d := newBoard("test-board", "Test", "A test board.")
	d.row("First")
	d.add(8, 5, timeSeries("a", "a.", "none", q("up", "")), timeSeries("b", "b.", "none", q("up", "")))
	d.add(8, 7, timeSeries("c", "c.", "none", q("up", "")))
	d.add(24, 3, timeSeries("d", "d.", "none", q("up", "")))
	d.add(12, 2, timeSeries("e", "e.", "none", q("up", "")))
	d.row("Second")
	d.add(6, 4, statPanel("f", "f.", "none", q("up", ""), q("up", "")))
	dash, err := d.build()
	if err != nil {
		t.Fatal(err)
	}
	type pos struct{ id, x, y, w, h uint32 }
	var got []pos
	for _, p := range dash.Panels {
		if p.RowPanel != nil {
			g := p.RowPanel.GridPos
			got = append(got, pos{p.RowPanel.Id, g.X, g.Y, g.W, g.H})
			continue
		}
		g := p.Panel.GridPos
		got = append(got, pos{*p.Panel.Id, g.X, g.Y, g.W, g.H})
	}
	want := []pos{
		{1, 0, 0, 24, 1},
		{2, 0, 1, 8, 5}, {3, 8, 1, 8, 5}, {4, 16, 1, 8, 7},
		{5, 0, 8, 24, 3},
		{6, 0, 11, 12, 2},
		{7, 0, 13, 24, 1},
		{8, 0, 14, 6, 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layout\n got %v\nwant %v", got, want)
	}

	bad := newBoard("test-bad", "Bad", "A panel past the edge.")
	bad.row("Row")
	bad.add(16, 5, timeSeries("wide", "w.", "none", q("up", "")))
	bad.add(12, 5, timeSeries("spills", "s.", "none", q("up", "")))
	if _, err := bad.build(); err == nil || !strings.Contains(err.Error(), "spills") {
		t.Errorf("a panel past column 24: error %v, want one naming it", err)
	}

	if dash.SchemaVersion != SchemaVersion {
		t.Errorf("schemaVersion %d, want %d", dash.SchemaVersion, SchemaVersion)
	}
	b, err := JSON(dash)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Panels []struct {
			Targets []struct {
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
		Links []map[string]any `json:"links"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if refs := m.Panels[len(m.Panels)-1].Targets; len(refs) != 2 || refs[0].RefID != "A" || refs[1].RefID != "B" {
		t.Errorf("refIds %+v, want A and B", refs)
	}
	if len(m.Links) != 1 {
		t.Fatalf("links %v, want one", m.Links)
	}
	if _, ok := m.Links[0]["placement"]; ok {
		t.Error("the dashboard link keeps the SDK's controls-menu placement")
	}
}
