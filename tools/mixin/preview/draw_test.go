package preview

import (
	"image"
	"image/color"
	"os"
	"strings"
	"testing"
)

// A dashboard with one panel of each kind and a synthetic recording.
const drawBoard = `{"uid": "u", "title": "T", "panels": [
 {"id": 1, "type": "timeseries", "title": "Lines", "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0}, "targets": [{"expr": "a"}]},
 {"id": 2, "type": "stat", "title": "Stat", "gridPos": {"h": 4, "w": 6, "x": 12, "y": 0}, "targets": [{"expr": "b"}],
  "fieldConfig": {"defaults": {"unit": "none"}}},
 {"id": 3, "type": "bargauge", "title": "Bars", "gridPos": {"h": 4, "w": 6, "x": 18, "y": 0}, "targets": [{"expr": "c"}]},
 {"id": 4, "type": "state-timeline", "title": "States", "gridPos": {"h": 4, "w": 12, "x": 12, "y": 4}, "targets": [{"expr": "d"}],
  "fieldConfig": {"defaults": {"mappings": [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}]}}},
 {"id": 5, "type": "table", "title": "Table", "gridPos": {"h": 5, "w": 12, "x": 0, "y": 8}, "targets": [{"expr": "e"}]},
 {"id": 6, "type": "stat", "title": "Nothing", "gridPos": {"h": 5, "w": 12, "x": 12, "y": 8}, "targets": [{"expr": "f"}]}
]}`

const drawData = `{"version": 1, "start": 1700000000, "end": 100, "step": 2, "dashboards": {"u": {
 "1": {"series": [{"legend": "flat top", "points": [[0, 10], [100, 10]]}, {"legend": "ramp", "points": [[0, 0], [100, 5]]}]},
 "2": {"series": [{"legend": "x", "points": [[0, 3], [100, 42]]}]},
 "3": {"series": [{"legend": "big", "points": [[100, 100]]}, {"legend": "half", "points": [[100, 50]]}]},
 "4": {"series": [{"legend": "wcs1", "points": [[0, 1], [50, 0], [100, 0]]}]},
 "5": {"series": [{"legend": "row one", "points": [[100, 1]]}]}
}}}`

func renderDraw(t *testing.T) (*Dashboard, *image.RGBA) {
	t.Helper()
	d := decode(t, drawBoard)
	data, err := ParseData([]byte(drawData))
	if err != nil {
		t.Fatal(err)
	}
	img, err := Render(d, data)
	if err != nil {
		t.Fatal(err)
	}
	return d, img
}

// inner is the area a panel's data is drawn in (as Render lays it out).
func inner(p Panel) image.Rectangle {
	r := box(p)
	return image.Rect(r.Min.X+8, r.Min.Y+22, r.Max.X-8, r.Max.Y-18)
}

// count returns how many pixels of r have colour c.
func count(img *image.RGBA, r image.Rectangle, c color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) == c {
				n++
			}
		}
	}
	return n
}

func TestDrawTimeseries(t *testing.T) {
	d, img := renderDraw(t)
	r := inner(d.Panels[0])
	// The first series is flat at the top of the axis: one row of its
	// colour across the plot, under the axis label's line; the second
	// rises from the bottom-left to mid-height.
	top := r.Min.Y + 13
	if n := count(img, image.Rect(r.Min.X, top, r.Max.X, top+1), seriesPalette[0]); n < r.Dx()*9/10 {
		t.Errorf("the flat series covers %d of %d pixels of the top row", n, r.Dx())
	}
	plotBottom := r.Max.Y - 14 - 1 // the legend row is under the plot
	if got := img.RGBAAt(r.Min.X, plotBottom); got != seriesPalette[1] {
		t.Errorf("the ramp does not start at the bottom-left: %v", got)
	}
	mid := (top + plotBottom) / 2
	if n := count(img, image.Rect(r.Max.X-2, mid-2, r.Max.X, mid+3), seriesPalette[1]); n == 0 {
		t.Error("the ramp does not end at mid-height")
	}
	// The legend row shows both series' swatches.
	legend := image.Rect(r.Min.X, r.Max.Y-8, r.Max.X, r.Max.Y)
	if count(img, legend, seriesPalette[0]) == 0 || count(img, legend, seriesPalette[1]) == 0 {
		t.Error("the legend swatches are missing")
	}
}

func TestDrawStatBarsBandsTable(t *testing.T) {
	d, img := renderDraw(t)
	// The stat shows its last value (42) in the first series' colour.
	if n := count(img, inner(d.Panels[1]), seriesPalette[0]); n < 50 {
		t.Errorf("the stat's value has %d pixels", n)
	}
	// Bars: the largest value fills the bar's width (minus its label),
	// the half one about half of it.
	r := inner(d.Panels[2])
	full := count(img, image.Rect(r.Min.X, r.Min.Y+15, r.Max.X, r.Min.Y+16), seriesPalette[0])
	half := count(img, image.Rect(r.Min.X, r.Min.Y+24+15, r.Max.X, r.Min.Y+24+16), seriesPalette[1])
	if full < r.Dx()/2 || half < full*4/10 || half > full*6/10+textWidth("50") {
		t.Errorf("bar lengths %d and %d (width %d)", full, half, r.Dx())
	}
	// The state lane is green (UP) over its first half and red (DOWN)
	// over its second.
	r = inner(d.Panels[3])
	lane := image.Rect(r.Min.X+r.Dx()/3, r.Min.Y+2, r.Max.X, r.Min.Y+20)
	left := image.Rect(lane.Min.X, lane.Min.Y, lane.Min.X+lane.Dx()/2-4, lane.Max.Y)
	right := image.Rect(lane.Min.X+lane.Dx()/2+4, lane.Min.Y, lane.Max.X, lane.Max.Y)
	if g, rd := count(img, left, green), count(img, left, red); g < rd || g < 100 {
		t.Errorf("the UP half: %d green, %d red pixels", g, rd)
	}
	if g, rd := count(img, right, green), count(img, right, red); rd < g || rd < 100 {
		t.Errorf("the DOWN half: %d green, %d red pixels", g, rd)
	}
	// The table has a header rule and one row's text.
	r = inner(d.Panels[4])
	if count(img, image.Rect(r.Min.X, r.Min.Y+15, r.Max.X, r.Min.Y+16), border) != r.Dx() {
		t.Error("the table's header rule is missing")
	}
	if count(img, image.Rect(r.Min.X, r.Min.Y+16, r.Max.X, r.Min.Y+32), titleCol) == 0 {
		t.Error("the table's row is missing")
	}
}

func TestDrawNoData(t *testing.T) {
	d, img := renderDraw(t)
	r := inner(d.Panels[5])
	if count(img, r, faint) == 0 {
		t.Error(`the panel without data does not say "No data"`)
	}
	for _, c := range seriesPalette {
		if n := count(img, r, c); n > 0 {
			t.Errorf("the panel without data has %d pixels of %v", n, c)
		}
	}
	// Without any data every panel says so; the drawing is still the
	// same for the same input.
	a, _ := Render(d, nil)
	b, _ := Render(decode(t, drawBoard), nil)
	if count(a, inner(d.Panels[0]), seriesPalette[0]) != 0 || string(a.Pix) != string(b.Pix) {
		t.Error("rendering without data drew series or is not deterministic")
	}
}

func TestRenderDirReportsBadData(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir+"/x.json", drawBoard); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(drawData, `[[0, 3], [100, 42]]`, `[[0, 3], [0, 42]]`, 1)
	if err := writeFile(dir+"/data.json", bad); err != nil {
		t.Fatal(err)
	}
	_, err := RenderDir(dir, dir+"/data.json", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `dashboard "u" panel 2`) {
		t.Errorf("RenderDir with a bad fixture: %v", err)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
