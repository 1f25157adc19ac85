// Package preview draws a dashboard's layout to an image: every panel's
// box at its gridPos with its title and a small sketch of its type, rows
// as section headers. It needs no Grafana (which cannot run here) and no
// browser; the drawing is integer-only with a bitmap font, so the same
// dashboard always gives the same pixels.
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
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is a panel's title, type and place.
type Panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
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

// Render draws the dashboard. Panels outside the grid are an error, as is a
// dashboard without panels.
func Render(d *Dashboard) (*image.RGBA, error) {
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
	for i, p := range panels {
		r := box(p)
		if p.Type == "row" {
			text(img, r.Min.X+2, r.Min.Y+UnitH/2+5, "v "+p.Title, rowCol, true)
			fill(img, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), border)
			continue
		}
		fill(img, r, panelBG)
		outline(img, r, border)
		inner := image.Rect(r.Min.X+8, r.Min.Y+22, r.Max.X-8, r.Max.Y-18)
		sketch(img, inner, p.Type, i)
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

// sketch draws a hint of the panel type inside r; seed varies the shapes.
func sketch(img *image.RGBA, r image.Rectangle, typ string, seed int) {
	if r.Dx() < 10 || r.Dy() < 8 {
		return
	}
	palette := []color.RGBA{green, blue, orange, purple}
	switch typ {
	case "timeseries":
		rng := uint32(seed*2654435761 + 1)
		for k := 0; k < 2; k++ {
			c := palette[(seed+k)%len(palette)]
			under := color.RGBA{c.R / 5, c.G / 5, c.B / 5, 0xff}
			// A smoothed random walk from an integer generator.
			level, vel := r.Dy()/2+(k*r.Dy())/5, 0
			prevY := -1
			for x := r.Min.X; x < r.Max.X; x++ {
				rng = rng*1664525 + 1013904223
				vel += int(rng>>28) - 7
				if vel > 6 {
					vel = 6
				} else if vel < -6 {
					vel = -6
				}
				level += vel / 3
				if level < 3 {
					level, vel = 3, 2
				} else if level > r.Dy()-3 {
					level, vel = r.Dy()-3, -2
				}
				y := r.Max.Y - level
				if k == 0 {
					fill(img, image.Rect(x, y+1, x+1, r.Max.Y), under)
				}
				if prevY >= 0 {
					lo, hi := prevY, y
					if lo > hi {
						lo, hi = hi, lo
					}
					fill(img, image.Rect(x, lo, x+1, hi+1), c)
				}
				prevY = y
			}
		}
	case "stat":
		c := palette[seed%len(palette)]
		digits := fmt.Sprint(seed*7%90 + 1)
		scale := 3
		if r.Dy() < 3*13+4 {
			scale = 2
		}
		w := textWidth(digits) * scale
		bigText(img, r.Min.X+(r.Dx()-w)/2, r.Min.Y+(r.Dy()-13*scale)/2, digits, c, scale)
	case "bargauge":
		n := r.Dy() / 14
		for k := 0; k < n; k++ {
			y := r.Min.Y + k*14
			l := r.Dx() * (40 + (seed*13+k*29)%60) / 100
			fill(img, image.Rect(r.Min.X, y, r.Min.X+l, y+9), palette[k%len(palette)])
		}
	case "state-timeline":
		n := r.Dy() / 14
		states := []color.RGBA{green, green, green, green, orange, green, blue, green, green, red, green, green}
		for k := 0; k < n; k++ {
			y := r.Min.Y + k*14
			x := r.Min.X
			for j := 0; x < r.Max.X; j++ {
				seg := 30 + (seed*7+k*11+j*17)%90
				end := x + seg
				if end > r.Max.X {
					end = r.Max.X
				}
				fill(img, image.Rect(x, y, end, y+10), states[(seed+k+j*3)%len(states)])
				x = end
			}
		}
	case "table":
		for y := r.Min.Y; y+12 <= r.Max.Y; y += 14 {
			fill(img, image.Rect(r.Min.X, y+11, r.Max.X, y+12), border)
			for x := r.Min.X; x < r.Max.X; x += r.Dx() / 4 {
				fill(img, image.Rect(x+2, y+4, x+2+r.Dx()/8, y+7), faint)
			}
		}
	}
}

// RenderDir renders every *.json dashboard of dir into out as <name>.png
// and returns the files written.
func RenderDir(dir, out string) ([]string, error) {
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
		img, err := Render(d)
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
