package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Refusal codes the series has a column for, in column order; others go to "other".
var seriesCodes = []string{"residency_conflict", "plan_conflict", "no_capacity"}

// WriteSeriesCSV writes the per-minute series: one row a minute, per-DC columns after the
// totals.
func (r *Result) WriteSeriesCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"minute", "time", "joins", "placed"}
	for _, c := range seriesCodes {
		head = append(head, "refused_"+c)
	}
	head = append(head, "refused_other", "secondaries", "rehomes", "spilled", "dropped")
	for _, d := range r.Datacenters {
		head = append(head, "placements_"+d.ID)
	}
	for _, d := range r.Datacenters {
		head = append(head, "utilization_"+d.ID)
	}
	for _, d := range r.Datacenters {
		head = append(head, "participants_"+d.ID)
	}
	cw.Write(head)
	for _, m := range r.Series {
		row := []string{strconv.Itoa(m.Minute), m.Time.Format(time.RFC3339), itoa(m.Joins), itoa(m.Placed)}
		var other int64
		for k, v := range m.Refused {
			if !slices.Contains(seriesCodes, k) {
				other += v
			}
		}
		for _, c := range seriesCodes {
			row = append(row, itoa(m.Refused[c]))
		}
		row = append(row, itoa(other), itoa(m.Secondaries), itoa(m.Rehomes), itoa(m.Spilled), itoa(m.Dropped))
		for i := range r.Datacenters {
			row = append(row, itoa(at(m.Placements, i)))
		}
		for i := range r.Datacenters {
			u := 0.0
			if i < len(m.Utilization) {
				u = m.Utilization[i]
			}
			row = append(row, strconv.FormatFloat(u, 'f', 4, 64))
		}
		for i := range r.Datacenters {
			row = append(row, itoa(at(m.Participants, i)))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// WriteRefusalsCSV writes refusals by minute, code and rule (rule "" for refusals naming
// none, e.g. no_capacity).
func (r *Result) WriteRefusalsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"minute", "time", "code", "rule", "refused"})
	for _, m := range r.Series {
		for _, code := range sortedKeys(m.Refused) {
			ruled := int64(0)
			for _, k := range sortedKeys(m.RefusedByRule) {
				if c, rule, _ := strings.Cut(k, "/"); c == code {
					cw.Write([]string{strconv.Itoa(m.Minute), m.Time.Format(time.RFC3339), code, rule, itoa(m.RefusedByRule[k])})
					ruled += m.RefusedByRule[k]
				}
			}
			if ruled == 0 {
				cw.Write([]string{strconv.Itoa(m.Minute), m.Time.Format(time.RFC3339), code, "", itoa(m.Refused[code])})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteSpillCSV writes the region-by-DC matrix: per participant region and DC, the
// participants placed there and how many of them were spill.
func (r *Result) WriteSpillCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"region", "datacenter", "placed", "spilled"})
	for _, reg := range r.Summary.Regions {
		for i, d := range r.Datacenters {
			if p, s := at(reg.Placements, i), at(reg.SpilledTo, i); p > 0 || s > 0 {
				cw.Write([]string{reg.ID, d.ID, itoa(p), itoa(s)})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteSummary writes the summary for a person.
func (r *Result) WriteSummary(w io.Writer) {
	s := &r.Summary
	fmt.Fprintf(w, "simulated %d minutes from %s, seed %d, multiplier %g\n", s.Minutes, r.Start.Format(time.RFC3339), s.Seed, s.Multiplier)
	fmt.Fprintf(w, "meetings %d, joins %d, placed %d, refused %d (%s)\n", s.Meetings, s.Joins, s.Placed, s.Refused, pct(s.Refused, s.Joins))
	fmt.Fprintf(w, "refused by code: %s\n", kv(s.RefusedByCode))
	fmt.Fprintf(w, "refused by rule: %s\n", kv(s.RefusedByRule))
	fmt.Fprintf(w, "secondaries handed out %d, home moves %d, spilled %d, dropped by a DC down %d (rejoin refused %d), model swaps (capacity changes, configs) %d\n",
		s.Secondaries, s.Rehomes, s.Spilled, s.Dropped, s.DroppedRefused, s.ConfigSwaps)
	if s.Shards > 1 {
		fmt.Fprintf(w, "%d groups of independent regions ran apart, %d events\n", s.Shards, s.Events)
	}
	fmt.Fprintf(w, "\ndatacenters (watermark %g):\n", s.Watermark)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  id\tregion\tcapacity\tplacements\tpeak util\tpeak at\tmin >= watermark\tmin full\n")
	for _, d := range s.Datacenters {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%.3f\t%s\t%d\t%d\n", d.ID, d.Region, d.Capacity, d.Placements, d.PeakUtilization,
			r.Start.Add(time.Duration(d.PeakMinute)*time.Minute).Format("15:04"), d.MinutesOverWatermark, d.MinutesFull)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nregions (participants by the region of their country):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  id\tjoins\tplaced\trefused\trate\tspilled\trefused by code\n")
	for _, g := range s.Regions {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\t%d\t%s\n", g.ID, g.Joins, g.Placed, g.Refused, pct(g.Refused, g.Joins), g.Spilled, kv(g.RefusedByCode))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nspill (would have gone to -> went to):\n")
	if len(s.Spill) == 0 {
		fmt.Fprintf(w, "  none\n")
	}
	for _, c := range s.Spill {
		from := c.From
		if from == "" {
			from = "(none usable)"
		}
		fmt.Fprintf(w, "  %s -> %s: %d\n", from, c.To, c.Participants)
	}
	if len(s.WouldUse) > 0 {
		fmt.Fprintf(w, "\nwithout its residency rules this config would have handed out:\n")
		for _, u := range s.WouldUse {
			fmt.Fprintf(w, "  %s (%s) as %s on %d tickets (first choice of %d) for %s\n", u.Datacenter, u.Country, u.List, u.Tickets, u.First, kv(u.Regions))
		}
	}
	fmt.Fprintf(w, "\nresidency violations found by admission: %d\n", s.Violations)
	for _, v := range r.Violations {
		fmt.Fprintf(w, "  %s %s participant %s (%s) at %s (%s): %s\n", v.Time.Format(time.RFC3339), v.Meeting, v.ParticipantCountry,
			v.ParticipantRegion, v.Datacenter, v.Service, v.Message)
	}
}

// WriteDir writes every output into dir: series.csv, series.json, refusals.csv, spill.csv,
// summary.txt, summary.json, the SVG plots and report.html.
func (r *Result) WriteDir(dir string, title string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"series.csv", r.WriteSeriesCSV},
		{"series.json", func(w io.Writer) error {
			return writeJSON(w, struct {
				Start       time.Time    `json:"start"`
				Datacenters []Datacenter `json:"datacenters"`
				Series      []Minute     `json:"series"`
			}{r.Start, r.Datacenters, r.Series})
		}},
		{"refusals.csv", r.WriteRefusalsCSV},
		{"spill.csv", r.WriteSpillCSV},
		{"summary.txt", func(w io.Writer) error { r.WriteSummary(w); return nil }},
		{"summary.json", func(w io.Writer) error { return writeJSON(w, r.SummaryJSON()) }},
		{"utilization.svg", func(w io.Writer) error { _, err := io.WriteString(w, r.UtilizationSVG()); return err }},
		{"refusals.svg", func(w io.Writer) error { _, err := io.WriteString(w, r.RefusalsSVG()); return err }},
		{"spill.svg", func(w io.Writer) error { _, err := io.WriteString(w, r.SpillSVG()); return err }},
		{"report.html", func(w io.Writer) error { return r.WriteHTML(w, title) }},
	}
	for _, f := range files {
		fh, err := os.Create(filepath.Join(dir, f.name))
		if err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		err = f.write(fh)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write results: %s: %w", f.name, err)
		}
	}
	return nil
}

// SummaryJSON is what `geofence sim --json` prints: the summary, the DCs and the violations.
func (r *Result) SummaryJSON() any {
	return struct {
		Start       time.Time    `json:"start"`
		Datacenters []Datacenter `json:"datacenters"`
		Summary     *Summary     `json:"summary"`
		Violations  []Violation  `json:"violations"`
	}{r.Start, r.Datacenters, &r.Summary, r.Violations}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func at(s []int64, i int) int64 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func pct(n, d int64) string {
	if d == 0 {
		return "0.00%"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(d))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func kv[K comparable](m map[K]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%v %d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
