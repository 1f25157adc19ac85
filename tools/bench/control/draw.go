package main

import (
	"fmt"
	"image/color"
	"os"
	"path"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours of the two nodes.
var nodeColors = []color.RGBA{{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}}

// drawAll draws the last round's run of each arm into dir as
// control-arm<N>.png and returns, per arm, the path the fragment uses
// (ref/control-arm<N>.png).
func drawAll(runs []armRun, dir, ref string) (map[int]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := map[int]string{}
	last := runs[len(runs)-1].Round
	for _, r := range runs {
		if r.Round != last {
			continue
		}
		name := fmt.Sprintf("control-arm%d.png", r.Arm)
		p, err := chart(r)
		if err != nil {
			return nil, fmt.Errorf("arm %d: %w", r.Arm, err)
		}
		if err := p.Save(8*vg.Inch, 3.6*vg.Inch, filepath.Join(dir, name)); err != nil {
			return nil, err
		}
		out[r.Arm] = path.Join(ref, name)
	}
	return out, nil
}

// chart is one arm's picture: sessions per node over time, each node's
// effective capacity, drains and returns to ready, phase starts.
func chart(r armRun) (*plot.Plot, error) {
	res := r.Result
	p := plot.New()
	p.Title.Text = fmt.Sprintf("arm %d: %s", r.Arm, r.Name)
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "sessions"
	p.Legend.Top = true
	p.Legend.Left = true
	ymax := 0.0
	for j, c := range nodeColors {
		if len(res.Samples) == 0 || j >= len(res.Samples[0].Nodes) {
			break
		}
		name := res.Samples[0].Nodes[j].Name
		sess, capa := make(plotter.XYs, len(res.Samples)), make(plotter.XYs, len(res.Samples))
		var drains, readies plotter.XYs
		for i, s := range res.Samples {
			n := s.Nodes[j]
			sess[i] = plotter.XY{X: s.T, Y: float64(n.Sessions)}
			capa[i] = plotter.XY{X: s.T, Y: float64(n.Capacity)}
			ymax = max(ymax, float64(n.Sessions), float64(n.Capacity))
			if i > 0 {
				prev := res.Samples[i-1].Nodes[j]
				if !prev.Drained() && n.Drained() {
					drains = append(drains, plotter.XY{X: s.T, Y: float64(n.Sessions)})
				}
				if prev.Drained() && !n.Drained() {
					readies = append(readies, plotter.XY{X: s.T, Y: float64(n.Sessions)})
				}
			}
		}
		l, err := plotter.NewLine(sess)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = c, vg.Points(1.5)
		cl, err := plotter.NewLine(capa)
		if err != nil {
			return nil, err
		}
		cl.Color, cl.Dashes = c, []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(l, cl)
		p.Legend.Add(name+" sessions", l)
		p.Legend.Add(name+" capacity", cl)
		for _, m := range []struct {
			xy    plotter.XYs
			shape draw.GlyphDrawer
			what  string
		}{{drains, draw.PyramidGlyph{}, "drain"}, {readies, draw.PlusGlyph{}, "ready"}} {
			if len(m.xy) == 0 {
				continue
			}
			sc, err := plotter.NewScatter(m.xy)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = c, m.shape, vg.Points(5)
			if m.what == "drain" {
				sc.GlyphStyle.Shape = invertedPyramid{}
			} else {
				sc.GlyphStyle.Shape = draw.PyramidGlyph{}
			}
			p.Add(sc)
			p.Legend.Add(name+" "+m.what, sc)
		}
	}
	grey := color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	for _, ph := range res.Phases {
		v, err := plotter.NewLine(plotter.XYs{{X: ph.T, Y: 0}, {X: ph.T, Y: ymax * 1.1}})
		if err != nil {
			return nil, err
		}
		v.Color, v.Dashes = grey, []vg.Length{vg.Points(1), vg.Points(2)}
		p.Add(v)
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: ph.T, Y: ymax * 1.1}}, Labels: []string{" " + ph.What}})
		if err != nil {
			return nil, err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Color = grey
			lb.TextStyle[i].Font.Size = vg.Points(7)
		}
		p.Add(lb)
	}
	p.Y.Min, p.Y.Max = 0, ymax*1.18
	p.Add(plotter.NewGrid())
	return p, nil
}

// invertedPyramid draws a downward triangle (a drain: traffic goes away).
type invertedPyramid struct{}

func (invertedPyramid) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(0.5)})
	r := sty.Radius
	var p vg.Path
	p.Move(vg.Point{X: pt.X - r, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Close()
	c.SetColor(sty.Color)
	c.Fill(p)
}
