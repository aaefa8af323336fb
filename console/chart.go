package console

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
)

// barChart is a stacked bar chart drawn on the server as inline SVG (no script): one bar
// per label, one segment per series, bottom-up in series order. The colours come from
// CSS classes shared with the legend (k-* in console.css); each segment also carries a
// fill attribute so the chart stays readable if the stylesheet does not load.
type barChart struct {
	Title  string        // what it shows, e.g. "Messages per day, last 14 days"
	Labels []string      // one per bar, oldest first (e.g. "05-01")
	Series []chartSeries // stacked bottom-up in this order
}

type chartSeries struct {
	Name   string
	Class  string // CSS class giving its colour, shared with the legend
	Color  string // fill used when the stylesheet does not load
	Values []int  // one per label; missing values count as 0
}

// legendItem is one entry of the chart's legend.
type legendItem struct {
	Name, Class string
	Total       int
}

// Geometry of the SVG's view box.
const (
	chartW, chartH = 600, 220
	chartPadL      = 40
	chartPadR      = 8
	chartPadT      = 10
	chartPadB      = 28
	chartPlotW     = chartW - chartPadL - chartPadR
	chartPlotH     = chartH - chartPadT - chartPadB
)

func (c *barChart) value(s, i int) int {
	if v := c.Series[s].Values; i < len(v) && v[i] > 0 {
		return v[i]
	}
	return 0
}

// barTotal is the height of bar i: the sum of its segments.
func (c *barChart) barTotal(i int) int {
	n := 0
	for s := range c.Series {
		n += c.value(s, i)
	}
	return n
}

// Legend lists the series with their totals over every bar.
func (c *barChart) Legend() []legendItem {
	out := make([]legendItem, len(c.Series))
	for s, se := range c.Series {
		out[s] = legendItem{Name: se.Name, Class: se.Class}
		for i := range c.Labels {
			out[s].Total += c.value(s, i)
		}
	}
	return out
}

// Total is the sum of every bar.
func (c *barChart) Total() int {
	n := 0
	for i := range c.Labels {
		n += c.barTotal(i)
	}
	return n
}

// Summary says in words what the chart shows: its aria-label and title.
func (c *barChart) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d in total", c.Title, c.Total())
	if len(c.Series) > 0 {
		parts := make([]string, 0, len(c.Series))
		for _, l := range c.Legend() {
			parts = append(parts, strconv.Itoa(l.Total)+" "+l.Name)
		}
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	b.WriteString(".")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1), the top of the
// y axis.
func niceCeil(v int) int {
	if v <= 1 {
		return 1
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= v {
				return m * p
			}
		}
	}
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// SVG renders the chart. Every text and attribute value is escaped.
func (c *barChart) SVG() template.HTML {
	esc := template.HTMLEscapeString
	summary := c.Summary()
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		chartW, chartH, esc(summary), esc(summary))
	n := len(c.Labels)
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="empty">No data</text></svg>`, chartW/2, chartH/2)
		return template.HTML(b.String())
	}
	top := 0
	for i := range n {
		top = max(top, c.barTotal(i))
	}
	scale := niceCeil(top)
	base := float64(chartPadT + chartPlotH)
	// Grid lines and y labels: 0, the middle when it is a whole number, the top.
	ticks := []int{0, scale}
	if scale%2 == 0 {
		ticks = []int{0, scale / 2, scale}
	}
	for _, t := range ticks {
		y := base - float64(t)/float64(scale)*chartPlotH
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%s" y2="%s" stroke="#dde1e8"/>`, chartPadL, chartW-chartPadR, num(y), num(y))
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%s" text-anchor="end">%d</text>`, chartPadL-6, num(y+4), t)
	}
	slot := float64(chartPlotW) / float64(n)
	barW := slot * 0.7
	every := (n + 7) / 8 // at most about 8 x labels
	for i, label := range c.Labels {
		x := chartPadL + float64(i)*slot + (slot-barW)/2
		total := c.barTotal(i)
		parts := make([]string, 0, len(c.Series))
		for s, se := range c.Series {
			parts = append(parts, strconv.Itoa(c.value(s, i))+" "+se.Name)
		}
		fmt.Fprintf(&b, `<g data-label="%s" data-total="%d"><title>%s: %d (%s)</title>`, esc(label), total, esc(label), total,
			esc(strings.Join(parts, ", ")))
		y := base
		for s, se := range c.Series {
			v := c.value(s, i)
			if v == 0 {
				continue
			}
			h := float64(v) / float64(scale) * chartPlotH
			y -= h
			fmt.Fprintf(&b, `<rect class="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, esc(se.Class), num(x), num(y),
				num(barW), num(h), esc(se.Color))
		}
		b.WriteString(`</g>`)
		if (n-1-i)%every == 0 { // the newest bar always has its label
			fmt.Fprintf(&b, `<text class="axis" x="%s" y="%d" text-anchor="middle">%s</text>`, num(x+barW/2), chartH-8, esc(label))
		}
	}
	if top == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="empty">Nothing in this period</text>`,
			chartPadL+chartPlotW/2, chartPadT+chartPlotH/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
