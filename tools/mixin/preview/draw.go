package preview

import (
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
)

// More colours: Grafana's classic series palette, roughly.
var (
	yellow = color.RGBA{0xea, 0xb8, 0x39, 0xff}
	cyan   = color.RGBA{0x6e, 0xd0, 0xe0, 0xff}
	pink   = color.RGBA{0xd6, 0x83, 0xce, 0xff}
	grid   = color.RGBA{0x24, 0x28, 0x2c, 0xff}
)

var seriesPalette = []color.RGBA{green, yellow, blue, orange, red, purple, cyan, pink}

// namedColors are the colour names of the dashboards' value mappings.
var namedColors = map[string]color.RGBA{
	"green": green, "red": red, "blue": blue, "orange": orange, "purple": purple,
	"yellow": yellow, "text": titleCol,
}

// mapped returns the text and colour a panel's value mappings give v.
func mapped(p Panel, v float64) (string, color.RGBA, bool) {
	key := strconv.FormatFloat(v, 'f', -1, 64)
	for _, m := range p.FieldConfig.Defaults.Mappings {
		if m.Type != "value" {
			continue
		}
		if o, ok := m.Options[key]; ok {
			c, known := namedColors[o.Color]
			if !known {
				c = titleCol
			}
			text := o.Text
			if text == "" {
				text = key
			}
			return text, c, true
		}
	}
	return "", color.RGBA{}, false
}

// drawPanel draws a panel's recorded series inside r; end is the run's
// length in seconds (the time axis).
func drawPanel(img *image.RGBA, r image.Rectangle, p Panel, rec Rec, end int64) {
	if r.Dx() < 10 || r.Dy() < 8 {
		return
	}
	switch p.Type {
	case "timeseries":
		drawLines(img, r, p, rec.Series, end)
	case "stat":
		drawStat(img, r, p, rec.Series)
	case "bargauge":
		drawBars(img, r, p, rec.Series)
	case "table":
		drawTable(img, r, p, rec.Series)
	case "state-timeline":
		drawBands(img, r, p, rec.Series, end)
	default:
		noData(img, r)
	}
}

// noData writes "No data" in the middle of r.
func noData(img *image.RGBA, r image.Rectangle) {
	const s = "No data"
	text(img, r.Min.X+(r.Dx()-textWidth(s))/2, r.Min.Y+r.Dy()/2+4, s, faint, false)
}

func last(s Series) float64 { return s.Points[len(s.Points)-1][1] }

// scaleX maps a time in 0..end to a column of r.
func scaleX(r image.Rectangle, t float64, end int64) int {
	f := float64(t / float64(end))
	return r.Min.X + int(float64(f*float64(r.Dx()-1))+0.5)
}

// drawLines draws each series as a line over the run, on a value axis
// from the lowest value (or 0) to the highest; the top of the axis is
// labelled, and the legends are listed under the plot when there is room.
func drawLines(img *image.RGBA, r image.Rectangle, p Panel, ss []Series, end int64) {
	lo, hi := 0.0, math.Inf(-1)
	for _, s := range ss {
		for _, pt := range s.Points {
			lo, hi = math.Min(lo, pt[1]), math.Max(hi, pt[1])
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	plot := r
	if r.Dy() >= 70 {
		plot.Max.Y -= 14
		x := r.Min.X
		for i, s := range ss {
			label := fitText(s.Legend, r.Max.X-x-12)
			if x+12+textWidth(label) > r.Max.X || strings.HasPrefix(label, "...") {
				break
			}
			c := seriesPalette[i%len(seriesPalette)]
			fill(img, image.Rect(x, r.Max.Y-7, x+8, r.Max.Y-4), c)
			text(img, x+11, r.Max.Y-1, label, faint, false)
			x += 11 + textWidth(label) + 10
		}
	}
	// The top of the axis is labelled above the plot, so a series at the
	// top stays visible.
	text(img, plot.Min.X, plot.Min.Y+9, formatValue(hi, p.FieldConfig.Defaults.Unit), faint, false)
	plot.Min.Y += 13
	for k := 0; k <= 3; k++ {
		y := plot.Min.Y + k*(plot.Dy()-1)/3
		fill(img, image.Rect(plot.Min.X, y, plot.Max.X, y+1), grid)
	}
	scaleY := func(v float64) int {
		f := float64((v - lo) / (hi - lo))
		return plot.Max.Y - 1 - int(float64(f*float64(plot.Dy()-1))+0.5)
	}
	for i := len(ss) - 1; i >= 0; i-- {
		c := seriesPalette[i%len(seriesPalette)]
		px, py := -1, -1
		for _, pt := range ss[i].Points {
			x, y := scaleX(plot, pt[0], end), scaleY(pt[1])
			if px < 0 {
				fill(img, image.Rect(x, y, x+1, y+1), c)
			} else {
				segment(img, px, py, x, y, c)
			}
			px, py = x, y
		}
	}
}

// segment joins two points with a one-pixel line: for every column from
// x0 to x1, a vertical run from the previous row to the interpolated one.
func segment(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	if x1 <= x0 {
		lo, hi := min(y0, y1), max(y0, y1)
		fill(img, image.Rect(x1, lo, x1+1, hi+1), c)
		return
	}
	prev := y0
	for x := x0 + 1; x <= x1; x++ {
		y := y0 + (y1-y0)*(x-x0)/(x1-x0)
		lo, hi := min(prev, y), max(prev, y)
		fill(img, image.Rect(x, lo, x+1, hi+1), c)
		prev = y
	}
}

// drawStat writes each series' last value (mapped when the panel maps
// it) as large as fits, side by side, with the legend under each when
// there are several.
func drawStat(img *image.RGBA, r image.Rectangle, p Panel, ss []Series) {
	n := len(ss)
	if fitN := r.Dx() / 60; n > fitN {
		n = max(fitN, 1)
	}
	cellW := r.Dx() / n
	for i := 0; i < n; i++ {
		cell := image.Rect(r.Min.X+i*cellW, r.Min.Y, r.Min.X+(i+1)*cellW, r.Max.Y)
		v := last(ss[i])
		s, c, ok := mapped(p, v)
		if !ok {
			s, c = formatValue(v, p.FieldConfig.Defaults.Unit), seriesPalette[0]
			if len(ss) > 1 {
				c = seriesPalette[i%len(seriesPalette)]
			}
		}
		avail := cell
		if len(ss) > 1 {
			avail.Max.Y -= 13
			label := fitText(ss[i].Legend, cell.Dx()-4)
			text(img, cell.Min.X+(cell.Dx()-textWidth(label))/2, cell.Max.Y-2, label, faint, false)
		}
		scale := 4
		for scale > 1 && (textWidth(s)*scale > avail.Dx()-4 || 13*scale > avail.Dy()) {
			scale--
		}
		if textWidth(s) > avail.Dx() {
			s = fitText(s, avail.Dx())
		}
		w := textWidth(s) * scale
		bigText(img, avail.Min.X+(avail.Dx()-w)/2, avail.Min.Y+(avail.Dy()-13*scale)/2, s, c, scale)
	}
}

// drawBars draws one horizontal bar per series, its length its last
// value over the largest one, with the legend above and the value at its
// end.
func drawBars(img *image.RGBA, r image.Rectangle, p Panel, ss []Series) {
	top := 0.0
	for _, s := range ss {
		top = math.Max(top, last(s))
	}
	if top <= 0 {
		top = 1
	}
	rowH := 24
	for i, s := range ss {
		y := r.Min.Y + i*rowH
		if y+rowH > r.Max.Y+4 {
			break
		}
		c := seriesPalette[i%len(seriesPalette)]
		text(img, r.Min.X, y+10, fitText(s.Legend, r.Dx()/2), titleCol, false)
		val := formatValue(last(s), p.FieldConfig.Defaults.Unit)
		barMax := r.Dx() - textWidth(val) - 6
		l := int(float64(math.Max(last(s), 0)/top) * float64(barMax))
		fill(img, image.Rect(r.Min.X, y+13, r.Min.X+max(l, 1), y+21), c)
		text(img, r.Min.X+max(l, 1)+4, y+21, val, c, false)
	}
}

// drawTable lists each series' legend and last value, one row each.
func drawTable(img *image.RGBA, r image.Rectangle, p Panel, ss []Series) {
	const rowH = 16
	valX := r.Max.X - r.Dx()/4
	text(img, r.Min.X+2, r.Min.Y+11, "Series", faint, true)
	text(img, valX, r.Min.Y+11, "Value", faint, true)
	fill(img, image.Rect(r.Min.X, r.Min.Y+rowH-1, r.Max.X, r.Min.Y+rowH), border)
	for i, s := range ss {
		y := r.Min.Y + (i+1)*rowH
		if y+rowH > r.Max.Y+4 {
			break
		}
		v := last(s)
		val, c, ok := mapped(p, v)
		if !ok {
			val, c = formatValue(v, p.FieldConfig.Defaults.Unit), titleCol
		}
		text(img, r.Min.X+2, y+11, fitText(s.Legend, valX-r.Min.X-8), titleCol, false)
		text(img, valX, y+11, fitText(val, r.Max.X-valX), c, false)
		fill(img, image.Rect(r.Min.X, y+rowH-1, r.Max.X, y+rowH), grid)
	}
}

// drawBands draws one lane per series: from each point to the next, the
// colour (and, where it fits, the text) its value maps to.
func drawBands(img *image.RGBA, r image.Rectangle, p Panel, ss []Series, end int64) {
	labelW := 0
	for _, s := range ss {
		labelW = max(labelW, textWidth(s.Legend))
	}
	labelW = min(labelW+8, r.Dx()/3)
	lanes := image.Rect(r.Min.X+labelW, r.Min.Y, r.Max.X, r.Max.Y)
	laneH := min(22, r.Dy()/max(len(ss), 1))
	if laneH < 6 {
		laneH = 6
	}
	for i, s := range ss {
		y := r.Min.Y + i*laneH
		if y+laneH > r.Max.Y+2 {
			break
		}
		text(img, r.Min.X, y+laneH/2+4, fitText(s.Legend, labelW-6), titleCol, false)
		type run struct {
			x0, x1 int
			v      float64
			name   string
		}
		var runs []run
		for j, pt := range s.Points {
			x0 := scaleX(lanes, pt[0], end)
			x1 := lanes.Max.X
			if j+1 < len(s.Points) {
				x1 = scaleX(lanes, s.Points[j+1][0], end)
			}
			if x1 <= x0 {
				continue
			}
			name, c, ok := mapped(p, pt[1])
			if !ok {
				name = formatValue(pt[1], p.FieldConfig.Defaults.Unit)
				c = seriesPalette[int(math.Abs(pt[1]))%len(seriesPalette)]
			}
			fill(img, image.Rect(x0, y+1, x1, y+laneH-1), c)
			if len(runs) == 0 || runs[len(runs)-1].v != pt[1] {
				runs = append(runs, run{x0, x1, pt[1], name})
			} else {
				runs[len(runs)-1].x1 = x1
			}
		}
		// Each state's name at the start of its stretch, where it fits.
		for _, ru := range runs {
			if laneH >= 14 && ru.x1-ru.x0 > textWidth(ru.name)+6 {
				text(img, ru.x0+3, y+laneH/2+4, ru.name, bg, false)
			}
		}
	}
}

// formatValue writes v in a panel's unit, about as Grafana would.
func formatValue(v float64, unit string) string {
	switch unit {
	case "percentunit":
		return num(v*100) + "%"
	case "percent":
		return num(v) + "%"
	case "s":
		switch a := math.Abs(v); {
		case a == 0:
			return "0 s"
		case a < 1e-3:
			return num(v*1e6) + " us"
		case a < 1:
			return num(v*1e3) + " ms"
		case a < 120:
			return num(v) + " s"
		case a < 7200:
			return num(v/60) + " min"
		default:
			return num(v/3600) + " h"
		}
	case "bytes":
		return scaled(v, 1024, []string{" B", " KiB", " MiB", " GiB", " TiB"})
	case "Bps":
		return scaled(v, 1000, []string{" B/s", " kB/s", " MB/s", " GB/s", " TB/s"})
	case "ops":
		return scaled(v, 1000, []string{" ops/s", "K ops/s", "M ops/s", "G ops/s"})
	case "reqps":
		return scaled(v, 1000, []string{" req/s", "K req/s", "M req/s", "G req/s"})
	}
	return scaled(v, 1000, []string{"", "K", "Mil", "Bil", "Tri"})
}

// scaled divides v by base until it is below it and adds the suffix.
func scaled(v, base float64, suffixes []string) string {
	i := 0
	for math.Abs(v) >= base && i < len(suffixes)-1 {
		v /= base
		i++
	}
	return num(v) + suffixes[i]
}

// num writes v with at most 3 significant digits (integers below 1000
// whole), without trailing zeros.
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	a := math.Abs(v)
	prec := 2
	switch {
	case a >= 100:
		prec = 0
	case a >= 10:
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
