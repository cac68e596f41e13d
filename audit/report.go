package audit

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Report is the transparency report of some logs over a period (DESIGN.md section 11): what
// a compliance officer publishes.
type Report struct {
	From, To time.Time // the period; zero: unbounded
	Logs     []LogSummary
	// Days are the decisions per day and region, by day then region.
	Days []DayRow
	// Refusals are the joins and keys refused per code and rule, most first.
	Refusals []Count
	// Secondaries are the secondary (backup) DCs tickets handed out, per DC, most first;
	// Tickets and TicketsWithSecondaries count the tickets.
	Secondaries            []Count
	Tickets                int
	TicketsWithSecondaries int
	// Media are the tickets per country of their first primary (where media goes first).
	Media []Count
	// Keys are the keys issued per jurisdiction: the country of the key server.
	Keys []Count
	// ConfigChanges are the configs that came into force, in order (one per config, though
	// each is in every region's log).
	ConfigChanges []ConfigChange
}

// LogSummary is one log the report covers.
type LogSummary struct {
	Region, Origin string
	Size           uint64
	Root           string
	Verified       bool // audit verify passed (with configs) when the report was made
	Checked        bool // audit verify ran with configs
	Failures       int
}

// DayRow is the decisions of one region on one day.
type DayRow struct {
	Day, Region                    string
	Tickets, Refused, Keys, KeysNo int
}

// Count is a count of something named.
type Count struct {
	Name string
	N    int
}

// ConfigChange is a config coming into force.
type ConfigChange struct {
	Time, Digest, Previous string
	OK                     bool
	Errors, Warnings       int
	Findings               []string // the errors verify found, as recorded
}

// Summarize makes the report of verified logs over [from, to) (zero times: unbounded).
func Summarize(results []*Result, from, to time.Time) *Report {
	r := &Report{From: from, To: to}
	days := map[[2]string]*DayRow{}
	refusals, secondaries, media, keys := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	seenConfig := map[string]bool{}
	for _, res := range results {
		r.Logs = append(r.Logs, LogSummary{Region: res.Region, Origin: res.Origin, Size: res.Size, Root: res.Root,
			Verified: res.OK, Checked: res.Checked, Failures: len(res.Failures)})
		for _, e := range res.Entries {
			if e == nil {
				continue
			}
			t := e.When()
			if !from.IsZero() && t.Before(from) || !to.IsZero() && !t.Before(to) {
				continue
			}
			day := t.Format("2006-01-02")
			row := days[[2]string{day, e.Region}]
			if row == nil && e.Kind != KindConfigChange {
				row = &DayRow{Day: day, Region: e.Region}
				days[[2]string{day, e.Region}] = row
			}
			switch e.Kind {
			case KindTicketIssued:
				row.Tickets++
				r.Tickets++
				if len(e.Secondary) > 0 {
					r.TicketsWithSecondaries++
				}
				for _, d := range e.Secondary {
					secondaries[d.ID+" ("+d.Country+")"]++
				}
				if len(e.Primary) > 0 {
					media[e.Primary[0].Country]++
				}
			case KindJoinRefused, KindKeyRefused:
				if e.Kind == KindJoinRefused {
					row.Refused++
				} else {
					row.KeysNo++
				}
				rule := "(no rule: " + e.Code + ")"
				if len(e.Rules) > 0 {
					rule = strings.Join(e.Rules, ", ")
				}
				refusals[strings.TrimSuffix(e.Kind, "_refused")+" "+e.Code+": "+rule]++
			case KindKeyIssued:
				row.Keys++
				if e.Server != nil {
					keys[e.Server.Country]++
				}
			case KindConfigChange:
				if !seenConfig[e.Config+e.Time] {
					seenConfig[e.Config+e.Time] = true
					c := ConfigChange{Time: e.Time, Digest: e.Config, Previous: e.Previous}
					if e.Verify != nil {
						c.OK, c.Errors, c.Warnings, c.Findings = e.Verify.OK, e.Verify.Errors, e.Verify.Warnings, e.Verify.Findings
					}
					r.ConfigChanges = append(r.ConfigChanges, c)
				}
			}
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(days), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	}) {
		r.Days = append(r.Days, *days[k])
	}
	r.Refusals, r.Secondaries, r.Media, r.Keys = counts(refusals), counts(secondaries), counts(media), counts(keys)
	slices.SortFunc(r.ConfigChanges, func(a, b ConfigChange) int { return cmp.Compare(a.Time, b.Time) })
	return r
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Name, b.Name)) })
	return out
}

// Totals are the report's headline figures.
type Totals struct {
	Tickets, Refused, Keys, KeysRefused, ConfigChanges int
}

// Totals sums the report's days.
func (r *Report) Totals() Totals {
	var t Totals
	for _, d := range r.Days {
		t.Tickets += d.Tickets
		t.Refused += d.Refused
		t.Keys += d.Keys
		t.KeysRefused += d.KeysNo
	}
	t.ConfigChanges = len(r.ConfigChanges)
	return t
}

// Verdict is the report's one-paragraph conclusion: whether every entry was re-checked
// against the rules in force when it was made, and what was found.
func (r *Report) Verdict() string {
	checked, failed := len(r.Logs) > 0, 0
	for _, l := range r.Logs {
		checked = checked && l.Checked
		if !l.Verified {
			failed++
		}
	}
	switch {
	case !checked && failed == 0:
		return "The logs' signatures and Merkle trees check out. Their entries were not re-checked against the configs in force (make the report with --config to do so)."
	case !checked:
		return fmt.Sprintf("%d of %d logs FAIL their signature or tree check: their entries cannot be relied on. Run geofence audit verify.", failed, len(r.Logs))
	case failed == 0:
		return "Every log's signature and Merkle tree check out, and every entry was re-checked against the config in force when it was made: no ticket named, and no key was issued from, a datacenter outside the residency rules, and every config in force had verified."
	}
	return fmt.Sprintf("%d of %d logs FAIL verification: some entries name datacenters or configs the rules do not allow, or the log was altered. Run geofence audit verify for the entries at fault.", failed, len(r.Logs))
}

func (r *Report) period() string {
	f, t := "the first entry", "the last entry"
	if !r.From.IsZero() {
		f = r.From.UTC().Format("2006-01-02")
	}
	if !r.To.IsZero() {
		t = r.To.UTC().Format("2006-01-02") + " (exclusive)"
	}
	return f + " to " + t
}

// Markdown writes the report as Markdown.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Transparency report\n\nPeriod: %s. Every routing answer, refusal and key issuance is an entry of a "+
		"signed, append-only Merkle log (C2SP tlog-tiles), one per region; anyone can check them with `geofence audit verify`.\n\n", r.period())
	t := r.Totals()
	fmt.Fprintf(&b, "## Summary\n\n%s\n\n%d tickets issued, %d joins refused, %d meeting keys issued, %d key requests refused, %d config changes.\n\n",
		r.Verdict(), t.Tickets, t.Refused, t.Keys, t.KeysRefused, t.ConfigChanges)
	b.WriteString("## Logs\n\n| Region | Entries | Root | Verified |\n|---|---:|---|---|\n")
	for _, l := range r.Logs {
		fmt.Fprintf(&b, "| %s | %d | `%s` | %s |\n", l.Region, l.Size, short(l.Root), l.status())
	}
	b.WriteString("\n## Decisions per region and day\n\n| Day | Region | Tickets issued | Joins refused | Keys issued | Keys refused |\n|---|---|---:|---:|---:|---:|\n")
	for _, d := range r.Days {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d |\n", d.Day, d.Region, d.Tickets, d.Refused, d.Keys, d.KeysNo)
	}
	countTable(&b, "Refusals per rule", "Refusal", r.Refusals)
	fmt.Fprintf(&b, "\n## Secondaries handed out\n\n%d of %d tickets listed secondary (backup) datacenters.\n", r.TicketsWithSecondaries, r.Tickets)
	countTable(&b, "", "Secondary datacenter", r.Secondaries)
	countTable(&b, "Where media went first (country of the first primary)", "Country", r.Media)
	countTable(&b, "Key issuances per jurisdiction (country of the key server)", "Country", r.Keys)
	b.WriteString("\n## Config changes\n\n| In force from | Config | Verified |\n|---|---|---|\n")
	for _, c := range r.ConfigChanges {
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", c.Time, c.Digest, c.verdict())
	}
	for _, c := range r.ConfigChanges {
		if len(c.Findings) > 0 {
			fmt.Fprintf(&b, "\nWhat verify found in the config in force from %s:\n\n", c.Time)
			for _, f := range c.Findings {
				fmt.Fprintf(&b, "- `%s`\n", f)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func countTable(b *strings.Builder, title, what string, cs []Count) {
	if title != "" {
		fmt.Fprintf(b, "\n## %s\n", title)
	}
	if len(cs) == 0 {
		b.WriteString("\nNone.\n")
		return
	}
	fmt.Fprintf(b, "\n| %s | Count |\n|---|---:|\n", what)
	for _, c := range cs {
		fmt.Fprintf(b, "| %s | %d |\n", c.Name, c.N)
	}
}

func (l LogSummary) status() string {
	switch {
	case !l.Checked:
		return "signature and tree checked; entries not re-checked (no --config)"
	case l.Verified:
		return "yes"
	}
	return fmt.Sprintf("**NO: %d failures** (run geofence audit verify)", l.Failures)
}

func (c ConfigChange) verdict() string {
	if c.OK {
		return fmt.Sprintf("yes (%d warnings)", c.Warnings)
	}
	return fmt.Sprintf("**NO: %d errors, served with --allow-unverified**", c.Errors)
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// bar is one bar of a chart.
type bar struct {
	Label  string
	N      int
	Y, W   int
	TextX  int
	Colour string
}

// chart is a horizontal bar chart as SVG geometry.
type chart struct {
	Title  string
	Height int
	Bars   []bar
}

const chartWidth, labelWidth, barHeight = 720, 330, 22

func newChart(title string, cs []Count, colour string) chart {
	c := chart{Title: title, Height: max(len(cs), 1)*(barHeight+6) + 10}
	top := 1
	for _, x := range cs {
		top = max(top, x.N)
	}
	for i, x := range cs {
		w := max(x.N*(chartWidth-labelWidth-60)/top, 1)
		c.Bars = append(c.Bars, bar{Label: x.Name, N: x.N, Y: 5 + i*(barHeight+6), W: w, TextX: labelWidth + w + 6, Colour: colour})
	}
	return c
}

// HTML writes the report as one self-contained page with SVG charts: no script, no request
// to anywhere, viewable offline.
func (r *Report) HTML(w io.Writer) error {
	perDay := map[string]int{}
	for _, d := range r.Days {
		perDay[d.Day+" "+d.Region] += d.Tickets + d.Refused + d.Keys + d.KeysNo
	}
	var days []Count
	for _, d := range r.Days {
		days = append(days, Count{d.Day + " " + d.Region, perDay[d.Day+" "+d.Region]})
	}
	ok := true
	for _, l := range r.Logs {
		ok = ok && l.Verified
	}
	data := map[string]any{
		"R": r, "Period": r.period(), "T": r.Totals(), "OK": ok,
		"Charts": []chart{
			newChart("Decisions per day and region", days, "#3b6ea5"),
			newChart("Refusals per rule", r.Refusals, "#b5473a"),
			newChart("Key issuances per jurisdiction", r.Keys, "#4a8a4a"),
			newChart("Secondaries handed out", r.Secondaries, "#a5823b"),
		},
		"ChartWidth": chartWidth, "LabelWidth": labelWidth, "BarHeight": barHeight,
	}
	return reportPage.Execute(w, data)
}

var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Geofence transparency report</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right}.bad{color:#b5473a;font-weight:bold}code{font-size:90%}svg text{font:12px system-ui,sans-serif}
</style></head><body>
<h1>Transparency report</h1>
<p>Period: {{.Period}}. Every routing answer, refusal and key issuance is an entry of a signed, append-only Merkle log
(C2SP tlog-tiles), one per region; anyone can check them with <code>geofence audit verify</code>.</p>
<h2>Summary</h2>
<p{{if not .OK}} class="bad"{{end}}>{{.R.Verdict}}</p>
<p>{{.T.Tickets}} tickets issued, {{.T.Refused}} joins refused, {{.T.Keys}} meeting keys issued, {{.T.KeysRefused}} key requests refused, {{.T.ConfigChanges}} config changes.</p>
<h2>Logs</h2>
<table><tr><th>Region</th><th>Entries</th><th>Root</th><th>Verified</th></tr>
{{range .R.Logs}}<tr><td>{{.Region}}</td><td class="n">{{.Size}}</td><td><code>{{printf "%.16s" .Root}}…</code></td>
<td{{if and .Checked (not .Verified)}} class="bad"{{end}}>{{if not .Checked}}signature and tree checked{{else if .Verified}}yes{{else}}NO: {{.Failures}} failures{{end}}</td></tr>
{{end}}</table>
{{range .Charts}}<h2>{{.Title}}</h2>
{{if .Bars}}<svg role="img" aria-label="{{.Title}}" width="{{$.ChartWidth}}" height="{{.Height}}" viewBox="0 0 {{$.ChartWidth}} {{.Height}}">
{{range .Bars}}<text x="{{$.LabelWidth}}" dx="-6" y="{{.Y}}" dy="15" text-anchor="end">{{.Label}}</text>
<rect x="{{$.LabelWidth}}" y="{{.Y}}" width="{{.W}}" height="{{$.BarHeight}}" fill="{{.Colour}}"><title>{{.Label}}: {{.N}}</title></rect>
<text x="{{.TextX}}" y="{{.Y}}" dy="15">{{.N}}</text>
{{end}}</svg>{{else}}<p>None.</p>{{end}}
{{end}}
<h2>Decisions per region and day</h2>
<table><tr><th>Day</th><th>Region</th><th>Tickets issued</th><th>Joins refused</th><th>Keys issued</th><th>Keys refused</th></tr>
{{range .R.Days}}<tr><td>{{.Day}}</td><td>{{.Region}}</td><td class="n">{{.Tickets}}</td><td class="n">{{.Refused}}</td><td class="n">{{.Keys}}</td><td class="n">{{.KeysNo}}</td></tr>
{{end}}</table>
<p>{{.R.TicketsWithSecondaries}} of {{.R.Tickets}} tickets listed secondary (backup) datacenters.</p>
<h2>Where media went first</h2>
<table><tr><th>Country of the first primary</th><th>Tickets</th></tr>
{{range .R.Media}}<tr><td>{{.Name}}</td><td class="n">{{.N}}</td></tr>{{end}}</table>
<h2>Config changes</h2>
<table><tr><th>In force from</th><th>Config</th><th>Verified</th></tr>
{{range .R.ConfigChanges}}<tr><td>{{.Time}}</td><td><code title="{{.Digest}}">{{printf "%.23s" .Digest}}…</code></td>
<td{{if not .OK}} class="bad"{{end}}>{{if .OK}}yes ({{.Warnings}} warnings){{else}}NO: {{.Errors}} errors, served with --allow-unverified{{end}}</td></tr>
{{end}}</table>
{{range .R.ConfigChanges}}{{if .Findings}}<p>What verify found in the config in force from {{.Time}}:</p>
<ul>{{range .Findings}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}{{end}}
</body></html>
`))
