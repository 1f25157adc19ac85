package preview

import (
	"strings"
	"testing"
)

const goodData = `{"version": 1, "start": 1700000000, "end": 60, "step": 2, "dashboards": {
 "d": {"1": {"series": [{"legend": "a", "points": [[0, 1], [30, 2], [60, 3]]}]}}}}`

func TestParseData(t *testing.T) {
	d, err := ParseData([]byte(goodData))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := d.Panel("d", 1); !ok || len(r.Series) != 1 || last(r.Series[0]) != 3 {
		t.Errorf("Panel(d, 1) = %+v, %v", r, ok)
	}
	if _, ok := d.Panel("d", 2); ok {
		t.Error("Panel(d, 2) found data")
	}
	if _, ok := (*Data)(nil).Panel("d", 1); ok {
		t.Error("nil data has a panel")
	}
	// Encode writes what ParseData reads back.
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseData(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if r, _ := back.Panel("d", 1); len(r.Series[0].Points) != 3 {
		t.Errorf("round trip: %s", b)
	}
}

func TestParseDataRejects(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"version": 1, "start": 1, "end": 60, "step": 2, "dashboards": {"d": {"1": {"series": [{"legend": "a", "points": []}]}}}}`,
			`dashboard "d" panel 1: series 0 ("a") has no points`},
		{`{"version": 1, "start": 1, "end": 60, "step": 2, "dashboards": {"d": {"7": {"series": [{"legend": "a", "points": [[10, 1], [5, 2]]}]}}}}`,
			`dashboard "d" panel 7: series 0 ("a") point 1: time 5 is out of order`},
		{`{"version": 1, "start": 1, "end": 60, "step": 2, "dashboards": {"d": {"7": {"series": [{"legend": "a", "points": [[61, 1]]}]}}}}`,
			`dashboard "d" panel 7: series 0 ("a") point 0: time 61`},
		{`{"version": 1, "start": 1, "end": 60, "step": 2, "dashboards": {"d": {"x": {"series": []}}}}`,
			`dashboard "d" panel x: the panel key is not a panel id`},
		{`{"version": 1, "start": 1, "end": 60, "step": 2, "dashboards": {"d": {"3": {"series": [{"legend": "a", "points": [[1, "x"]]}]}}}}`,
			`cannot unmarshal`},
		{`{"version": 1, "start": 1, "end": 60, "step": 2, "dashboards": {"d": {"3": {"lines": []}}}}`,
			`unknown field "lines"`},
		{`{"version": 2, "start": 1, "end": 60, "step": 2, "dashboards": {}}`, `version 2`},
		{`{"version": 1, "start": 1, "end": 0, "step": 2, "dashboards": {}}`, `must be positive`},
		{`{"version": 1, "start": 1, "end": 60, "step": 2, "dashboards": {}}`, `no dashboards`},
		{goodData + `{}`, `trailing data`},
		{`{"version": 1,`, `unexpected EOF`},
	} {
		_, err := ParseData([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseData(%s)\n  = %v\n  want an error containing %q", c.in, err, c.want)
		}
	}
	if _, err := LoadData("no/such/file.json"); err == nil {
		t.Error("LoadData read a missing file")
	}
}

func series(legend string, vs ...float64) Series {
	s := Series{Legend: legend}
	for i, v := range vs {
		s.Points = append(s.Points, [2]float64{float64(i), v})
	}
	return s
}

func TestDownsample(t *testing.T) {
	var pts [][2]float64
	for i := range 1000 {
		v := 1.0
		if i == 457 {
			v = 99 // a spike survives
		}
		pts = append(pts, [2]float64{float64(i), v})
	}
	got := Downsample(pts, 150)
	if len(got) != 150 {
		t.Fatalf("kept %d points, want 150", len(got))
	}
	if got[0] != pts[0] || got[149] != pts[999] {
		t.Errorf("ends not kept: %v %v", got[0], got[149])
	}
	spike := false
	for i, p := range got {
		if i > 0 && p[0] <= got[i-1][0] {
			t.Fatalf("out of order at %d: %v", i, got[i-1:i+1])
		}
		spike = spike || p[1] == 99
	}
	if !spike {
		t.Error("the spike was dropped")
	}
	if got := Downsample(pts[:10], 150); len(got) != 10 {
		t.Errorf("a short series changed: %d points", len(got))
	}
	if got := Downsample(pts, 2); len(got) != 2 || got[1] != pts[999] {
		t.Errorf("Downsample(2) = %v", got)
	}
}

func TestTopSeriesAndCompact(t *testing.T) {
	ss := []Series{series("c", 1, 5), series("a", 9, 0), series("b", 2, 2), series("d", 0, 7)}
	got := TopSeries(ss, 2)
	if len(got) != 2 || got[0].Legend != "a" || got[1].Legend != "d" {
		t.Errorf("TopSeries = %v", got)
	}
	if all := TopSeries(ss, 8); len(all) != 4 || all[0].Legend != "a" || all[3].Legend != "d" {
		t.Errorf("TopSeries(8) = %v", all)
	}
	if ss[0].Legend != "c" {
		t.Error("TopSeries reordered its input")
	}
	c := Compact([]Series{{Legend: "x", Points: [][2]float64{{0.2, 1.23456}, {1.7, 12345.6}, {3, 0.000123456}}}}, 8, 150)
	want := [][2]float64{{0, 1.23}, {2, 12300}, {3, 0.000123}}
	for i, p := range c[0].Points {
		if p != want[i] {
			t.Errorf("Compact point %d = %v, want %v", i, p, want[i])
		}
	}
}

func TestRound(t *testing.T) {
	for in, want := range map[float64]float64{0: 0, 7: 7, 999: 999, 1234: 1230, -0.045678: -0.0457, 0.1 + 0.2: 0.3, 1e9 + 7: 1e9} {
		if got := Round(in); got != want {
			t.Errorf("Round(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestLegend(t *testing.T) {
	l := map[string]string{"__name__": "up", "proxy": "be_wcs", "server": "wcs1"}
	for format, want := range map[string]string{
		"{{proxy}}/{{ server }}": "be_wcs/wcs1",
		"{{missing}}x":           "x",
		"":                       `up{proxy="be_wcs", server="wcs1"}`,
		"__auto":                 `up{proxy="be_wcs", server="wcs1"}`,
	} {
		if got := Legend(format, l); got != want {
			t.Errorf("Legend(%q) = %q, want %q", format, got, want)
		}
	}
	if got := Legend("", map[string]string{}); got != "value" {
		t.Errorf("Legend of a scalar = %q", got)
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{0.4567, "percentunit", "45.7%"},
		{12, "percent", "12%"},
		{0.0123, "s", "12.3 ms"},
		{3, "s", "3 s"},
		{1536, "bytes", "1.5 KiB"},
		{2.5e6, "Bps", "2.5 MB/s"},
		{12.26, "ops", "12.3 ops/s"},
		{4, "reqps", "4 req/s"},
		{118, "none", "118"},
		{12345, "", "12.3K"},
	} {
		if got := formatValue(c.v, c.unit); got != c.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}
