package main

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// series is one line of a panel: a label and a value per size.
type series struct {
	label string
	value func(r sizeResult) (float64, bool)
}

// panel is one plot of the figure: a title, the y axis and its lines.
type panel struct {
	title, yLabel string
	// scale divides the values for the y axis (1 << 20 for MiB).
	scale  float64
	series []series
}

var scalingPanels = []panel{
	{title: "Time", yLabel: "seconds", scale: 1, series: []series{
		{"last create to all Ready", readySeconds},
		{"restart to all reconciled once", restartSeconds},
	}},
	{title: "Manager memory, settled after the creates", yLabel: "MiB", scale: 1 << 20, series: []series{
		{"RSS", always(func(r sizeResult) float64 { return r.RSS })},
		{"heap in use", always(func(r sizeResult) float64 { return r.HeapInuse })},
		{"live heap", always(func(r sizeResult) float64 { return r.HeapAlloc })},
		{"heap in use after a restart", always(func(r sizeResult) float64 { return r.RestartHeapInuse })},
	}},
	{title: "Manager CPU to reach Ready", yLabel: "CPU seconds", scale: 1, series: []series{
		{"first create to all Ready", cpuSeconds},
	}},
	{title: "API-server writes per credential", yLabel: "writes / credential", scale: 1, series: []series{
		{"the operator's, to reach Ready", always(sizeResult.WritesPerCR)},
	}},
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// writePlot draws the cost curve, one panel per kind of cost against the
// number of credentials (a logarithmic axis), at path: a PNG if its name ends
// in .png, else an SVG.
func writePlot(path string, sizes []sizeResult) error {
	const cols, rows = 2, 2
	plots := make([][]*plot.Plot, rows)
	for i, p := range scalingPanels {
		pl, err := drawPanel(p, sizes)
		if err != nil {
			return err
		}
		plots[i/cols] = append(plots[i/cols], pl)
	}
	const width, height = 22 * vg.Centimeter, 16 * vg.Centimeter
	var canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	if strings.HasSuffix(path, ".png") {
		c := vgimg.New(width, height)
		canvas = vgimg.PngCanvas{Canvas: c}
	} else {
		canvas = vgsvg.New(width, height)
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	dc := draw.New(canvas)
	for j, row := range plot.Align(plots, tiles, dc) {
		for i, c := range row {
			plots[j][i].Draw(c)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func drawPanel(p panel, sizes []sizeResult) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.title
	pl.X.Label.Text = "credentials (100 per login)"
	pl.Y.Label.Text = p.yLabel
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	pl.Y.Min = 0
	pl.Add(plotter.NewGrid())
	pl.Legend.Top, pl.Legend.Left = true, true
	for i, s := range p.series {
		var xys plotter.XYs
		for _, r := range sizes {
			if v, ok := s.value(r); ok {
				xys = append(xys, plotter.XY{X: float64(r.CRs), Y: v / p.scale})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("panel %q: %w", p.title, err)
		}
		c := palette[i%len(palette)]
		line.Color, points.Color = c, c
		pl.Add(line, points)
		pl.Legend.Add(s.label, line, points)
		pl.Y.Max = max(pl.Y.Max, maxY(xys)*1.25)
	}
	return pl, nil
}

func maxY(xys plotter.XYs) float64 {
	m := 0.0
	for _, p := range xys {
		m = max(m, p.Y)
	}
	return m
}
