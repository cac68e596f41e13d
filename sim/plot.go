package sim

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// The plots are plain SVG written by hand: no script, no external font or stylesheet, so the
// files and the report open offline in any browser.

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
	"#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
	"#756bb1", "#636363"}

const (
	plotW, plotH           = 1000, 360
	padL, padR, padT, padB = 60, 260, 30, 40
)

type line struct {
	name string
	ys   []float64
}

// chart draws lines over the minutes of the series, with an optional dashed horizontal mark.
func (r *Result) chart(title, yLabel string, lines []line, yMax float64, mark float64, markLabel string, percent bool) string {
	var b strings.Builder
	n := len(r.Series)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`,
		plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<title>%s</title><rect width="100%%" height="100%%" fill="white"/>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, padL, html.EscapeString(title))
	w, h := float64(plotW-padL-padR), float64(plotH-padT-padB)
	if yMax <= 0 {
		yMax = 1
	}
	x := func(i int) float64 { return float64(padL) + w*float64(i)/math.Max(1, float64(n-1)) }
	y := func(v float64) float64 { return float64(padT) + h*(1-math.Min(v, yMax)/yMax) }
	// axes and grid
	for k := 0; k <= 4; k++ {
		v := yMax * float64(k) / 4
		label := fmt.Sprintf("%.3g", v)
		if percent {
			label = fmt.Sprintf("%.3g%%", 100*v)
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, y(v), plotW-padR, y(v), padL-4, y(v)+4, label)
	}
	step := max(1, n/8)
	for i := 0; i < n; i += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(i), plotH-padB+16,
			r.Start.Add(time.Duration(i)*time.Minute).Format("15:04"))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">time (UTC)</text>`, padL+int(w/2), plotH-6)
	fmt.Fprintf(&b, `<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>`, padT+int(h/2), padT+int(h/2), html.EscapeString(yLabel))
	if mark > 0 && mark <= yMax {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#c00" stroke-dasharray="6 4"/><text x="%d" y="%.1f" fill="#c00">%s</text>`,
			padL, y(mark), plotW-padR, y(mark), plotW-padR-4-6*len(markLabel), y(mark)-4, html.EscapeString(markLabel))
	}
	for li, l := range lines {
		color := palette[li%len(palette)]
		var pts strings.Builder
		for i, v := range l.ys {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(v))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s</title></polyline>`,
			color, strings.TrimSpace(pts.String()), html.EscapeString(l.name))
		ly := padT + 14*li
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`,
			plotW-padR+10, ly, color, plotW-padR+24, ly+9, html.EscapeString(l.name))
	}
	if len(lines) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="14">none</text>`, padL+int(w/2), padT+int(h/2))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// UtilizationSVG plots each DC's highest reported utilization per minute, with the watermark.
func (r *Result) UtilizationSVG() string {
	var lines []line
	top := 0.0
	for i, d := range r.Datacenters {
		l := line{name: d.ID}
		used := false
		for _, m := range r.Series {
			u := 0.0
			if i < len(m.Utilization) {
				u = m.Utilization[i]
			}
			used = used || u > 0
			top = math.Max(top, u)
			l.ys = append(l.ys, u)
		}
		if used {
			lines = append(lines, l)
		}
	}
	// Scaled to the peak, so that a quiet day is not a flat line; the watermark shows when
	// the peak comes near it.
	top = max(top*1.1, 0.05)
	if top > 0.6*r.Summary.Watermark {
		top = max(top, 1)
	}
	return r.chart("Utilization per datacenter", "utilization (highest report in the minute)", lines, top, r.Summary.Watermark, "watermark", true)
}

// RefusalsSVG plots refusals per minute by code and rule.
func (r *Result) RefusalsSVG() string {
	keys := map[string]bool{}
	for _, m := range r.Series {
		for k := range m.RefusedByRule {
			keys[k] = true
		}
		for k := range m.Refused {
			keys[k] = true
		}
	}
	var lines []line
	top := 1.0
	for _, k := range sortedKeys(keys) {
		code, _, ruled := strings.Cut(k, "/")
		l := line{name: k}
		seen := false
		for _, m := range r.Series {
			v := float64(m.RefusedByRule[k])
			if !ruled {
				// the code's refusals that name no rule
				v = float64(m.Refused[code])
				for rk, n := range m.RefusedByRule {
					if c, _, _ := strings.Cut(rk, "/"); c == code {
						v -= float64(n)
					}
				}
			}
			seen = seen || v > 0
			top = math.Max(top, v)
			l.ys = append(l.ys, v)
		}
		if seen {
			lines = append(lines, l)
		}
	}
	return r.chart("Refusals per minute, by code and rule", "participants refused per minute", lines, top*1.05, 0, "", false)
}

// SpillSVG draws the region-by-DC matrix: participants of each region (rows) that spilled to
// each DC (columns), shaded by count, with the total placements in small print.
func (r *Result) SpillSVG() string {
	regs, dcs := r.Summary.Regions, r.Datacenters
	cell, left, top := 52, 80, 110
	width, height := max(360, left+cell*len(dcs)+20), top+cell*len(regs)+40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="10">`,
		width, height, width, height)
	b.WriteString(`<title>Spill: participants by region (rows) placed as spill at each datacenter (columns)</title><rect width="100%" height="100%" fill="white"/>`)
	b.WriteString(`<text x="10" y="18" font-size="14" font-weight="bold">Spill by region and datacenter</text>`)
	b.WriteString(`<text x="10" y="34">big: participants spilled there; small: all placed there</text>`)
	var most int64 = 1
	for _, g := range regs {
		for i := range dcs {
			most = max(most, at(g.SpilledTo, i))
		}
	}
	for i, d := range dcs {
		cx := left + cell*i + cell/2
		fmt.Fprintf(&b, `<text x="%d" y="%d" transform="rotate(-60 %d %d)">%s</text>`, cx, top-6, cx, top-6, html.EscapeString(d.ID))
	}
	for j, g := range regs {
		cy := top + cell*j
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-6, cy+cell/2+4, html.EscapeString(g.ID))
		for i := range dcs {
			s, p := at(g.SpilledTo, i), at(g.Placements, i)
			alpha := 0.0
			if s > 0 {
				alpha = 0.15 + 0.85*float64(s)/float64(most)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#d62728" fill-opacity="%.2f" stroke="#ccc"><title>%s -> %s: %d spilled of %d placed</title></rect>`,
				left+cell*i, cy, cell, cell, alpha, html.EscapeString(g.ID), html.EscapeString(dcs[i].ID), s, p)
			if s > 0 || p > 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="11">%s</text><text x="%d" y="%d" text-anchor="middle" fill="#555" font-size="8">%s</text>`,
					left+cell*i+cell/2, cy+cell/2, short(s), left+cell*i+cell/2, cy+cell/2+12, short(p))
			}
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func short(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

var reportTemplate = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.bad { color: #b00; font-weight: bold; }
.ok { color: #070; font-weight: bold; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
</style></head><body>
<h1>{{.Title}}</h1>
<p id="verdict">{{if .Violations}}<span class="bad">{{.Violations}} residency violations found by admission: a bug, see below.</span>{{else}}<span class="ok">No residency violation: admission accepted every placement.</span>{{end}}
{{.S.Joins}} joins, {{.S.Placed}} placed, <span id="refused">{{.S.Refused}}</span> refused ({{.RefusedPct}}), {{.S.Spilled}} spilled, {{.S.Rehomes}} home moves, {{.S.Secondaries}} secondaries handed out.</p>
<h2>Utilization</h2>
<figure id="utilization">{{.Util}}</figure>
<h2>Datacenters</h2>
<table id="datacenters"><tr><th>datacenter</th><th>region</th><th>capacity</th><th>placements</th><th>peak utilization</th><th>peak at</th><th>minutes at or over the watermark ({{.S.Watermark}})</th><th>minutes full</th></tr>
{{range .DCs}}<tr><td>{{.ID}}</td><td>{{.Region}}</td><td>{{.Capacity}}</td><td>{{.Placements}}</td><td>{{.Peak}}</td><td>{{.At}}</td><td>{{.Over}}</td><td>{{.Full}}</td></tr>
{{end}}</table>
<h2>Refusals</h2>
<figure id="refusals">{{.Refusals}}</figure>
<table id="regions"><tr><th>participants' region</th><th>joins</th><th>placed</th><th>refused</th><th>refusal rate</th><th>spilled</th><th>refused by code</th></tr>
{{range .Regions}}<tr><td>{{.ID}}</td><td>{{.Joins}}</td><td>{{.Placed}}</td><td>{{.Refused}}</td><td>{{.Rate}}</td><td>{{.Spilled}}</td><td>{{.Codes}}</td></tr>
{{end}}</table>
<h2>Spill</h2>
<figure id="spill">{{.Spill}}</figure>
<h2>Summary</h2>
<pre id="summary">{{.Text}}</pre>
</body></html>
`))

// WriteHTML writes one self-contained HTML report embedding the plots and the summary.
func (r *Result) WriteHTML(w io.Writer, title string) error {
	type dcRow struct {
		ID, Region, Peak, At string
		Capacity, Placements int64
		Over, Full           int
	}
	type regRow struct {
		ID, Rate, Codes                 string
		Joins, Placed, Refused, Spilled int64
	}
	var text strings.Builder
	r.WriteSummary(&text)
	data := struct {
		Title, RefusedPct, Text string
		S                       *Summary
		Violations              int64
		Util, Refusals, Spill   template.HTML
		DCs                     []dcRow
		Regions                 []regRow
	}{Title: title, RefusedPct: pct(r.Summary.Refused, r.Summary.Joins), Text: text.String(), S: &r.Summary, Violations: r.Summary.Violations,
		// The SVGs are built by this package with every name escaped.
		Util: template.HTML(r.UtilizationSVG()), Refusals: template.HTML(r.RefusalsSVG()), Spill: template.HTML(r.SpillSVG())}
	for _, d := range r.Summary.Datacenters {
		data.DCs = append(data.DCs, dcRow{ID: d.ID, Region: d.Region, Capacity: d.Capacity, Placements: d.Placements,
			Peak: fmt.Sprintf("%.1f%%", 100*d.PeakUtilization), At: r.Start.Add(time.Duration(d.PeakMinute) * time.Minute).Format("15:04"),
			Over: d.MinutesOverWatermark, Full: d.MinutesFull})
	}
	for _, g := range r.Summary.Regions {
		data.Regions = append(data.Regions, regRow{ID: g.ID, Joins: g.Joins, Placed: g.Placed, Refused: g.Refused, Spilled: g.Spilled,
			Rate: pct(g.Refused, g.Joins), Codes: kv(g.RefusedByCode)})
	}
	return reportTemplate.Execute(w, data)
}
