// Package preview draws a dashboard to an image: every panel's box at its
// gridPos with its title, and inside it the panel's data as recorded from
// a real demo run (data.go: dashboards/preview/data.json) — time series
// as lines, stats as their last value, tables and bar gauges from the
// last values, state timelines as coloured bands — rows as section
// headers. It needs no Grafana (which cannot run here) and no browser;
// the drawing uses a bitmap font and the same dashboard and data always
// give the same pixels.
package preview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Geometry of the drawing.
const (
	Columns = 24 // Grafana's grid width
	ColW    = 50 // pixels per grid column
	UnitH   = 26 // pixels per grid height unit
	Margin  = 12
	HeaderH = 40 // dashboard title band
	Gap     = 4  // space between panels
)

// Dashboard is what the preview reads from a dashboard's JSON.
type Dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is a panel's title, type and place.
type Panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit     string `json:"unit"`
			Mappings []struct {
				Type    string `json:"type"`
				Options map[string]struct {
					Text  string `json:"text"`
					Color string `json:"color"`
				} `json:"options"`
			} `json:"mappings"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Panels []Panel `json:"panels"`
}

// Decode reads a dashboard's JSON.
func Decode(r io.Reader) (*Dashboard, error) {
	var d Dashboard
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Colours: Grafana's dark theme, roughly.
var (
	bg        = color.RGBA{0x11, 0x12, 0x17, 0xff}
	panelBG   = color.RGBA{0x18, 0x1b, 0x1f, 0xff}
	border    = color.RGBA{0x2c, 0x32, 0x35, 0xff}
	titleCol  = color.RGBA{0xcc, 0xcc, 0xdc, 0xff}
	faint     = color.RGBA{0x6e, 0x72, 0x80, 0xff}
	rowCol    = color.RGBA{0xe0, 0xe0, 0xe8, 0xff}
	headerCol = color.RGBA{0xff, 0xff, 0xff, 0xff}
	green     = color.RGBA{0x73, 0xbf, 0x69, 0xff}
	blue      = color.RGBA{0x57, 0x94, 0xf2, 0xff}
	orange    = color.RGBA{0xff, 0x98, 0x30, 0xff}
	red       = color.RGBA{0xf2, 0x49, 0x5c, 0xff}
	purple    = color.RGBA{0xb8, 0x77, 0xd9, 0xff}
)

// Size returns the image size for a dashboard: the full grid width, and
// the height down to the lowest panel.
func Size(d *Dashboard) (int, int) {
	bottom := 0
	for _, p := range flatten(d.Panels) {
		if b := p.GridPos.Y + p.GridPos.H; b > bottom {
			bottom = b
		}
	}
	return 2*Margin + Columns*ColW, HeaderH + 2*Margin + bottom*UnitH
}

func flatten(ps []Panel) []Panel {
	var out []Panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// Render draws the dashboard with each panel's recorded data (a panel
// without any is drawn as "No data"; data may be nil). Panels outside the
// grid are an error, as is a dashboard without panels.
func Render(d *Dashboard, data *Data) (*image.RGBA, error) {
	panels := flatten(d.Panels)
	if len(panels) == 0 {
		return nil, fmt.Errorf("dashboard %q has no panels", d.Title)
	}
	for _, p := range panels {
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > Columns {
			return nil, fmt.Errorf("panel %q: gridPos %+v is outside the grid", p.Title, g)
		}
	}
	w, h := Size(d)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), bg)
	text(img, Margin, Margin+18, d.Title, headerCol, true)
	for _, p := range panels {
		r := box(p)
		if p.Type == "row" {
			text(img, r.Min.X+2, r.Min.Y+UnitH/2+5, "v "+p.Title, rowCol, true)
			fill(img, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), border)
			continue
		}
		fill(img, r, panelBG)
		outline(img, r, border)
		inner := image.Rect(r.Min.X+8, r.Min.Y+22, r.Max.X-8, r.Max.Y-18)
		if len(p.Targets) > 0 {
			if rec, ok := data.Panel(d.UID, p.ID); ok {
				drawPanel(img, inner, p, rec, data.End)
			} else {
				noData(img, inner)
			}
		}
		text(img, r.Min.X+8, r.Min.Y+15, fitText(p.Title, r.Dx()-16), titleCol, false)
		label := p.Type
		if lw := textWidth(label); lw < r.Dx()-16 {
			text(img, r.Max.X-8-lw, r.Max.Y-6, label, faint, false)
		}
	}
	return img, nil
}

// Encode writes the image as PNG.
func Encode(w io.Writer, img image.Image) error {
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	return enc.Encode(w, img)
}

func box(p Panel) image.Rectangle {
	g := p.GridPos
	x0 := Margin + g.X*ColW + Gap/2
	y0 := HeaderH + Margin + g.Y*UnitH + Gap/2
	return image.Rect(x0, y0, x0+g.W*ColW-Gap, y0+g.H*UnitH-Gap)
}

// fill paints a rectangle (clipped to the image) with an opaque colour.
func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		i := img.PixOffset(r.Min.X, y)
		for x := r.Min.X; x < r.Max.X; x++ {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
			i += 4
		}
	}
}

func outline(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1), c)
	fill(img, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), c)
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y), c)
	fill(img, image.Rect(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y), c)
}

var face = basicfont.Face7x13

// text draws ASCII text with its baseline at y; bold draws it twice.
func text(img *image.RGBA, x, y int, s string, c color.Color, bold bool) {
	s = ascii(s)
	dr := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	dr.DrawString(s)
	if bold {
		dr.Dot = fixed.P(x+1, y)
		dr.DrawString(s)
	}
}

func textWidth(s string) int { return font.MeasureString(face, ascii(s)).Ceil() }

// ascii replaces what the bitmap font cannot draw.
func ascii(s string) string {
	r := strings.NewReplacer("→", "->", "…", "...", "µ", "u", "—", "-", "–", "-")
	s = r.Replace(s)
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// fitText shortens s to fit width pixels.
func fitText(s string, width int) string {
	s = ascii(s)
	if textWidth(s) <= width {
		return s
	}
	for len(s) > 0 && textWidth(s+"...") > width {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// RenderDir renders every *.json dashboard of dir, with the data recorded
// in the fixture dataFile, into out as <name>.png and returns the files
// written.
func RenderDir(dir, dataFile, out string) ([]string, error) {
	data, err := LoadData(dataFile)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	sort.Strings(files)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		d, err := Decode(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		img, err := Render(d, data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		name := filepath.Join(out, strings.TrimSuffix(filepath.Base(f), ".json")+".png")
		var buf bytes.Buffer
		if err := Encode(&buf, img); err != nil {
			return nil, err
		}
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		written = append(written, name)
	}
	return written, nil
}

// bigText draws ASCII text scaled up by an integer factor, its top-left
// corner at (x, y).
func bigText(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	w := textWidth(s)
	small := image.NewAlpha(image.Rect(0, 0, w, 13))
	dr := &font.Drawer{Dst: small, Src: image.Opaque, Face: face, Dot: fixed.P(0, 10)}
	dr.DrawString(ascii(s))
	for sy := 0; sy < 13; sy++ {
		for sx := 0; sx < w; sx++ {
			if small.AlphaAt(sx, sy).A > 0x7f {
				fill(img, image.Rect(x+sx*scale, y+sy*scale, x+(sx+1)*scale, y+(sy+1)*scale), c)
			}
		}
	}
}
