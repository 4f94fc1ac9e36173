// Command plot draws every scale benchmark result in a directory
// (docs/benchmarks/*.json, written by test/scale) as RSS per node and CPU
// per node against node count, one line per server. It is a module of its
// own so the plotting library stays out of the server's go.mod.
//
//	go run . -dir ../../../docs/benchmarks -out ../../../docs/benchmarks/scale.png
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// result is the part of test/scale's JSON the plot reads.
type result struct {
	Nodes          int  `json:"nodes"`
	PodsRegistered bool `json:"podsRegistered"`
	Servers        []struct {
		Name            string  `json:"name"`
		MiBPerNode      float64 `json:"rssMiBPerNode"`
		MilliCPUPerNode float64 `json:"milliCPUPerNode"`
	} `json:"servers"`
}

// series maps server -> node count -> value; a later file for the same node
// count replaces an earlier one (files sort by name: <date>-<nodes>-before
// sorts ahead of <date>-<nodes>, so an "after" run wins).
type series map[string]map[int]float64

func load(dir string) (rss, cpu series, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	rss, cpu = series{}, series{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		var r result
		if err := json.Unmarshal(data, &r); err != nil || r.Nodes == 0 {
			continue // not a benchmark result
		}
		for _, s := range r.Servers {
			name := s.Name
			if !r.PodsRegistered {
				// no Pod informer: not comparable with runs that had one
				name += " (pods not registered)"
			}
			if rss[name] == nil {
				rss[name], cpu[name] = map[int]float64{}, map[int]float64{}
			}
			rss[name][r.Nodes] = s.MiBPerNode
			cpu[name][r.Nodes] = s.MilliCPUPerNode
		}
	}
	return rss, cpu, nil
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}

func panel(title, ylabel string, s series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "nodes"
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	p.Legend.Top = true
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, name := range names {
		var pts plotter.XYs
		for nodes, v := range s[name] {
			pts = append(pts, plotter.XY{X: float64(nodes), Y: v})
		}
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		c := palette[i%len(palette)]
		l.Color, sc.Color = c, c
		sc.Shape = draw.CircleGlyph{}
		p.Add(l, sc)
		p.Legend.Add(name, l, sc)
	}
	return p, nil
}

func main() {
	dir := flag.String("dir", "docs/benchmarks", "directory of test/scale JSON results")
	out := flag.String("out", "scale.png", "PNG to write")
	flag.Parse()
	rss, cpu, err := load(*dir)
	if err == nil && len(rss) == 0 {
		err = fmt.Errorf("no results in %s", *dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	top, err := panel("Resident memory per node", "MiB per node", rss)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	bottom, err := panel("CPU per node", "mCPU per node", cpu)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	img := vgimg.New(7*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadX: vg.Points(6), PadY: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	f, err := os.Create(*out)
	if err == nil {
		_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}
