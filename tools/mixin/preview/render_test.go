package preview

import (
	"bytes"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const small = `{"title": "T", "panels": [
 {"type": "row", "title": "Row", "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}},
 {"type": "stat", "title": "A stat with a long title that cannot fit", "gridPos": {"h": 4, "w": 4, "x": 0, "y": 1}},
 {"type": "timeseries", "title": "Lines", "gridPos": {"h": 8, "w": 20, "x": 4, "y": 1}},
 {"type": "row", "title": "Collapsed", "gridPos": {"h": 1, "w": 24, "x": 0, "y": 9},
  "panels": [{"type": "table", "title": "Inside", "gridPos": {"h": 5, "w": 24, "x": 0, "y": 10}}]}
]}`

func decode(t *testing.T, s string) *Dashboard {
	t.Helper()
	d, err := Decode(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRender(t *testing.T) {
	d := decode(t, small)
	img, err := Render(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, h := Size(d)
	if img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Fatalf("size %v, want %dx%d", img.Bounds(), w, h)
	}
	if w != 2*Margin+24*ColW || h != HeaderH+2*Margin+15*UnitH {
		t.Errorf("size %dx%d does not follow the grid (bottom at 15 units, collapsed row included)", w, h)
	}
	// A panel's corner is its border, its inside the panel background,
	// the gap between panels the page background.
	b := box(d.Panels[1])
	if got := img.RGBAAt(b.Min.X, b.Min.Y); got != border {
		t.Errorf("panel corner %v, want border %v", got, border)
	}
	if got := img.RGBAAt(b.Min.X+3, b.Max.Y-3); got != panelBG {
		t.Errorf("panel inside %v, want %v", got, panelBG)
	}
	if got := img.RGBAAt(b.Max.X+1, b.Min.Y+5); got != bg {
		t.Errorf("gap %v, want background %v", got, bg)
	}
	// The collapsed row's panel is drawn too.
	inner := box(d.Panels[3].Panels[0])
	if got := img.RGBAAt(inner.Min.X, inner.Min.Y); got != border {
		t.Errorf("nested panel not drawn: %v", got)
	}
	// The same input draws the same pixels.
	again, err := Render(decode(t, small), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pix, again.Pix) {
		t.Error("two renders differ")
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, s := range []string{
		`{"title": "empty", "panels": []}`,
		`{"title": "wide", "panels": [{"type": "stat", "title": "x", "gridPos": {"h": 2, "w": 12, "x": 16, "y": 0}}]}`,
		`{"title": "flat", "panels": [{"type": "stat", "title": "x", "gridPos": {"h": 0, "w": 12, "x": 0, "y": 0}}]}`,
	} {
		if _, err := Render(decode(t, s), nil); err == nil {
			t.Errorf("Render accepted %s", s)
		}
	}
	if _, err := Decode(strings.NewReader(`{"panels": [`)); err == nil {
		t.Error("Decode accepted truncated JSON")
	}
	if _, err := RenderDir(t.TempDir(), "../../../dashboards/preview/data.json", t.TempDir()); err == nil {
		t.Error("RenderDir accepted a directory without dashboards")
	}
}

func TestFitText(t *testing.T) {
	if got := fitText("short", 200); got != "short" {
		t.Errorf("fitText kept %q", got)
	}
	got := fitText("a title much longer than the box is wide", 100)
	if !strings.HasSuffix(got, "...") || textWidth(got) > 100 {
		t.Errorf("fitText = %q (%d px)", got, textWidth(got))
	}
	if got := ascii("a → b … µs"); got != "a -> b ... us" {
		t.Errorf("ascii = %q", got)
	}
}

// TestCommittedPreviews: dashboards/preview/*.png are dashboards/*.json
// drawn from the recorded demo run (dashboards/preview/data.json; run
// make dashboards after changing a dashboard, make previews to record
// anew), the recording covers every panel with queries, and each picture
// decodes to the size its grid asks for.
func TestCommittedPreviews(t *testing.T) {
	files, err := filepath.Glob("../../../dashboards/*.json")
	if err != nil || len(files) < 6 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	data, err := LoadData("../../../dashboards/preview/data.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json") + ".png"
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := decode(t, string(b))
		for _, p := range flatten(d.Panels) {
			if _, ok := data.Panel(d.UID, p.ID); len(p.Targets) > 0 && !ok {
				t.Errorf("%s: panel %d %q has no recorded data: run make previews", name, p.ID, p.Title)
			}
		}
		fresh, err := Render(d, data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		committed := readPNG(t, filepath.Join("../../../dashboards/preview", name))
		if fresh.Bounds() != committed.Bounds() {
			t.Errorf("%s: committed preview is %v, the layout gives %v: run make dashboards (or make previews)", name, committed.Bounds(), fresh.Bounds())
			continue
		}
		if fresh.Bounds().Dx() != 2*Margin+Columns*ColW || fresh.Bounds().Dy() < 10*UnitH {
			t.Errorf("%s: implausible size %v", name, fresh.Bounds())
		}
		if !samePixels(fresh, committed) {
			t.Errorf("%s: committed preview differs from the dashboard drawn from data.json: run make dashboards", name)
		}
	}
}

// TestEncodeDecodes: what Encode writes decodes to the same pixels.
func TestEncodeDecodes(t *testing.T) {
	img, err := Render(decode(t, small), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	back, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !samePixels(img, back) {
		t.Error("the PNG does not decode to the rendered pixels")
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func samePixels(a, b image.Image) bool {
	return bytes.Equal(toRGBA(a).Pix, toRGBA(b).Pix)
}

func toRGBA(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok {
		return r
	}
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out
}
