package console

import (
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// wellFormed parses the SVG as XML: unbalanced tags or a stray "<" from a label fail.
func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, svg)
		}
	}
}

var (
	groupRE = regexp.MustCompile(`<g data-label="([^"]*)" data-total="(\d+)">(.*?)</g>`)
	rectRE  = regexp.MustCompile(`<rect class="([^"]*)"[^>]* height="([0-9.]+)"`)
)

func TestChartEmpty(t *testing.T) {
	for _, c := range []*barChart{
		{Title: "Nothing"},
		{Title: "Zeros", Labels: []string{"01-01", "01-02"}, Series: []chartSeries{{Name: "sent", Class: "k-sent", Values: []int{0, 0}}}},
		{Title: "Short values", Labels: []string{"01-01", "01-02"}, Series: []chartSeries{{Name: "sent", Values: nil}}},
	} {
		svg := string(c.SVG())
		wellFormed(t, svg)
		if !strings.Contains(svg, `role="img"`) || !strings.Contains(svg, `aria-label="`+c.Title+`: 0 in total`) {
			t.Errorf("%s: no role or summary:\n%s", c.Title, svg)
		}
		if strings.Contains(svg, "<rect") {
			t.Errorf("%s: bars drawn for no data:\n%s", c.Title, svg)
		}
		if c.Total() != 0 {
			t.Errorf("%s: total %d", c.Title, c.Total())
		}
	}
}

func TestChartOneDay(t *testing.T) {
	c := &barChart{Title: "Messages", Labels: []string{"05-01"}, Series: []chartSeries{
		{Name: "delivered", Class: "k-delivered", Color: "#1c7c46", Values: []int{3}},
		{Name: "failed", Class: "k-failed", Color: "#b3261e", Values: []int{1}},
	}}
	svg := string(c.SVG())
	wellFormed(t, svg)
	g := groupRE.FindAllStringSubmatch(svg, -1)
	if len(g) != 1 || g[0][1] != "05-01" || g[0][2] != "4" {
		t.Fatalf("groups %q", g)
	}
	if !strings.Contains(svg, `aria-label="Messages: 4 in total (3 delivered, 1 failed)."`) {
		t.Errorf("summary missing:\n%s", svg)
	}
	// The tallest bar reaches the top of the scale (4 → 5).
	rects := rectRE.FindAllStringSubmatch(g[0][3], -1)
	if len(rects) != 2 || rects[0][1] != "k-delivered" || rects[1][1] != "k-failed" {
		t.Fatalf("rects %q", rects)
	}
	if !strings.Contains(svg, ">05-01</text>") {
		t.Error("day label missing")
	}
}

func TestChartStackedTotals(t *testing.T) {
	labels := make([]string, 14)
	a, b, z := make([]int, 14), make([]int, 14), make([]int, 14)
	for i := range labels {
		labels[i] = "d" + strconv.Itoa(i)
		a[i], b[i] = i, 2*i%5
	}
	c := &barChart{Title: "Calls", Labels: labels, Series: []chartSeries{
		{Name: "completed", Class: "k-completed", Values: a},
		{Name: "busy", Class: "k-busy", Values: b},
		{Name: "failed", Class: "k-failed", Values: z},
	}}
	svg := string(c.SVG())
	wellFormed(t, svg)
	groups := groupRE.FindAllStringSubmatch(svg, -1)
	if len(groups) != 14 {
		t.Fatalf("%d bars, want 14", len(groups))
	}
	top := 0
	for i := range labels {
		top = max(top, a[i]+b[i])
	}
	scale := float64(niceCeil(top))
	sumA, sumB := 0, 0
	for i, g := range groups {
		total, _ := strconv.Atoi(g[2])
		if total != a[i]+b[i] {
			t.Errorf("bar %d: total %d, want %d", i, total, a[i]+b[i])
		}
		var h float64
		for _, r := range rectRE.FindAllStringSubmatch(g[3], -1) {
			v, _ := strconv.ParseFloat(r[2], 64)
			h += v
		}
		// Segment heights add up to the bar's share of the plot (within rounding).
		if want := float64(total) / scale * chartPlotH; math.Abs(h-want) > 0.2 {
			t.Errorf("bar %d: height %.1f, want %.1f", i, h, want)
		}
		sumA += a[i]
		sumB += b[i]
	}
	leg := c.Legend()
	if leg[0].Total != sumA || leg[1].Total != sumB || leg[2].Total != 0 || c.Total() != sumA+sumB {
		t.Errorf("legend %+v, total %d; want %d, %d, 0", leg, c.Total(), sumA, sumB)
	}
	if !strings.Contains(svg, "Calls: "+strconv.Itoa(sumA+sumB)+" in total") {
		t.Error("summary total missing")
	}
	// At most about 8 x labels for 14 bars.
	if n := strings.Count(svg, `text-anchor="middle">d`); n > 8 || n < 5 {
		t.Errorf("%d x labels", n)
	}
}

func TestChartEscapes(t *testing.T) {
	evil := `<script>alert("x")</script>&`
	c := &barChart{Title: evil, Labels: []string{evil}, Series: []chartSeries{
		{Name: evil, Class: `k" onload="x`, Color: `red" onload="x`, Values: []int{2}},
	}}
	svg := string(c.SVG())
	wellFormed(t, svg)
	if strings.Contains(svg, "<script") || strings.Contains(svg, `" onload="`) {
		t.Fatalf("unescaped input in SVG:\n%s", svg)
	}
	if !strings.Contains(svg, "&lt;script&gt;") {
		t.Errorf("label not shown escaped:\n%s", svg)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[int]int{0: 1, 1: 1, 2: 2, 3: 5, 5: 5, 6: 10, 11: 20, 49: 50, 51: 100, 4999: 5000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", in, got, want)
		}
	}
}
