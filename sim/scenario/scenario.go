// Package scenario is the simulator's input format (DESIGN.md section 12): a day (or a surge)
// of meetings described as per-region join volumes, daily curves in each region's own time
// zone, meeting size and stay distributions, a multiplier profile over time and timed events
// (DCs down or back, capacity changed, a config swapped in).
//
// Parse is strict like the config's parser: unknown keys, wrong types and bad values are
// errors carrying file:line:col and the YAML path, all reported at once (config.ErrorList).
// It knows nothing of a config: package sim checks the scenario's region, country, plan,
// account and DC names against the model it runs on. It runs nothing.
package scenario

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // time zones without the host's zoneinfo

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/internal/yamlstrict"
	"go.yaml.in/yaml/v3"
)

// MaxSize is the largest scenario Parse reads: 1 MiB.
const MaxSize = 1 << 20

const maxNodes = 200_000

// Defaults. The stay default comes from Zoom's public figures of April 2020: about 300
// million daily meeting participants and 2 trillion annualized meeting minutes (5.5 billion
// a day), so about 18 minutes per join.
const (
	DefaultDuration       = 24 * time.Hour
	DefaultReportInterval = 2 * time.Second
	DefaultSizeMean       = 4.0
	DefaultSizeMax        = 1000
	DefaultStayMean       = 18 * time.Minute
	DefaultStaySigma      = 0.8
	DefaultJoinSpread     = time.Minute
	DefaultRejoinDelay    = 5 * time.Second
	DefaultMaxStay        = 12 * time.Hour
)

// DefaultStart is the start of simulated time when a scenario gives none: midnight UTC of
// Wednesday 15 April 2020.
var DefaultStart = time.Date(2020, 4, 15, 0, 0, 0, 0, time.UTC)

// DefaultCurve is the share of a region's daily joins per local hour when it gives no curve:
// a working day, quiet at night, peaks mid-morning and mid-afternoon (shape of the public
// hourly traffic charts of meeting services in 2020). Parse does not normalize it; sim does.
var DefaultCurve = [24]float64{
	1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 3, 6, 9, 10, 9.5,
	7.5, 8.5, 9.5, 9, 7.5, 5.5, 4, 3.5, 3, 2.5, 2, 1.5,
}

// Distributions.
const (
	Fixed       = "fixed"       // always the mean
	Geometric   = "geometric"   // sizes: 1 + a geometric count, memoryless; many small meetings
	Exponential = "exponential" // stays
	LogNormal   = "lognormal"   // stays: with Sigma the shape
)

// Arrival processes of meeting starts within a minute.
const (
	Poisson = "poisson" // a Poisson count at uniform random times (default)
	Even    = "even"    // the expected count, carried across minutes, evenly spaced: for hand checks
)

// Scenario is a parsed scenario. Times are offsets from Start.
type Scenario struct {
	File           string
	Start          time.Time
	Duration       time.Duration
	ReportInterval time.Duration
	// Joins is the day's global joins, which a region's Share divides; 0 when not given.
	Joins    float64
	Regions  []*Region
	Meetings Meetings
	Surge    []SurgePoint // sorted by At; empty: multiplier 1 throughout
	Events   []*Event     // sorted by At, stable
	// Multiplier scales every region's joins (and the surge): --find-peak varies it. Not in
	// the file; 1 after Parse.
	Multiplier float64
}

// Region is a region's traffic: joins of meetings it hosts.
type Region struct {
	ID  string
	Pos config.Pos
	// Joins over Duration at multiplier 1: given, or Share of the global Joins.
	Joins    float64
	Share    float64
	Timezone *time.Location // default UTC
	TZName   string
	Curve    [24]float64 // by local hour; default DefaultCurve
	// Countries weights the countries participants come from; nil: the DCs' countries of the
	// region, equally (sim decides).
	Countries []Weight
	// Hosts weights plans and config accounts that host its meetings; nil: the config's plan
	// "basic" (or its first plan).
	Plans, Accounts []Weight
}

// Weight is a named share.
type Weight struct {
	Name   config.Name
	Weight float64
	// Points (countries only) are where its participants are, drawn equally, as a city-level
	// GeoIP database would place them; nil: the country's centroid.
	Points []geo.LatLon
}

// Meetings is how meetings look.
type Meetings struct {
	SizeDist    string
	SizeMean    float64
	SizeMax     int
	StayDist    string
	StayMean    time.Duration
	StaySigma   float64
	MaxStay     time.Duration
	JoinSpread  time.Duration // mean of each non-host participant's exponential delay after the start
	CrossRegion float64       // share of participants from another region than the host's
	E2EE        float64       // share of meetings in e2ee mode
	Arrivals    string
	RejoinDelay time.Duration // a participant dropped by a DC going down rejoins after this
}

// SurgePoint is a point of the multiplier profile; between points it is interpolated
// linearly, before the first and after the last it holds.
type SurgePoint struct {
	At         time.Duration
	Multiplier float64
}

// Event kinds.
const (
	Down     = "down"     // the DCs report unhealthy; their participants are dropped and rejoin
	Up       = "up"       // they report healthy again
	Capacity = "capacity" // their capacity changes (a new model is swapped in)
	Swap     = "config"   // another config file is swapped in
)

// Event is something that happens at a time.
type Event struct {
	At       time.Duration
	Pos      config.Pos
	Kind     string
	DCs      []config.Name   // Down, Up
	Capacity []CapacityValue // Capacity
	Config   string          // Swap: the path, relative to the scenario's directory
	ConfigAt config.Pos
}

// CapacityValue is a DC's new capacity.
type CapacityValue struct {
	DC       config.Name
	Capacity int64
}

// Load reads and parses a scenario file.
func Load(path string) (*Scenario, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read scenario: %s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	s, errs := Parse(path, data)
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// Parse decodes and checks a scenario. On errors the scenario is nil.
func Parse(file string, data []byte) (*Scenario, config.ErrorList) {
	d := &decoder{yamlstrict.Decoder{File: file, What: "scenario", MaxNodes: maxNodes}}
	s := &Scenario{File: file, Start: DefaultStart, Duration: DefaultDuration, ReportInterval: DefaultReportInterval, Multiplier: 1,
		Meetings: Meetings{SizeDist: Geometric, SizeMean: DefaultSizeMean, SizeMax: DefaultSizeMax, StayDist: LogNormal,
			StayMean: DefaultStayMean, StaySigma: DefaultStaySigma, MaxStay: DefaultMaxStay, JoinSpread: DefaultJoinSpread,
			Arrivals: Poisson, RejoinDelay: DefaultRejoinDelay}}
	if len(data) > MaxSize {
		d.errorf(config.Pos{Line: 1, Col: 1}, "", "scenario is %d bytes, larger than the %d-byte limit", len(data), MaxSize)
		return nil, d.Errs
	}
	if root, ok := d.Document(data); ok {
		d.top(root, s)
	}
	if len(d.Errs) > 0 {
		d.SortErrors()
		return nil, d.Errs
	}
	return s, nil
}

type decoder struct {
	yamlstrict.Decoder
}

func (d *decoder) errorf(p config.Pos, path, format string, args ...any) {
	d.Errorf(p, path, config.CodeStructure, format, args...)
}

type field = yamlstrict.Field

func pos(n *yaml.Node) config.Pos { return yamlstrict.PosOf(n) }

func kindName(n *yaml.Node) string { return yamlstrict.KindName(n) }

func join(path, key string) string { return yamlstrict.Join(path, key) }

// names are the keys of the scenario's mappings of names (regions, countries, plans).
var names = yamlstrict.Keys{Noun: "name", Want: "non-empty strings"}

// entries walks a mapping of names to values in file order.
func (d *decoder) entries(n *yaml.Node, path string, each func(id config.Name, path string, v *yaml.Node)) {
	d.Entries(n, path, names, each)
}

func (d *decoder) str(n *yaml.Node, path string) (config.Name, bool) {
	n = d.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Value == "" {
		d.errorf(pos(n), path, "expected a non-empty string, got %s", kindName(n))
		return config.Name{}, false
	}
	return config.Name{Value: n.Value, Pos: pos(n)}, true
}

// nonNeg is a number >= 0 (and <= limit when limit > 0).
func (d *decoder) nonNeg(n *yaml.Node, path string, limit float64) (float64, bool) {
	v, at, ok := d.Number(n, path)
	if !ok {
		return 0, false
	}
	if v < 0 || limit > 0 && v > limit {
		if limit > 0 {
			d.errorf(at, path, "must be between 0 and %g, got %g", limit, v)
		} else {
			d.errorf(at, path, "must not be negative, got %g", v)
		}
		return 0, false
	}
	return v, true
}

// duration is a Go duration ("90s", "18m", "1h30m"); 0 is allowed only where zeroOK.
func (d *decoder) duration(n *yaml.Node, path string, zeroOK bool) (time.Duration, bool) {
	n = d.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(pos(n), path, "expected a duration such as 90s, 18m or 2h30m, got %s", kindName(n))
		return 0, false
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil && n.Value == "0" {
		v, err = 0, nil
	}
	switch {
	case err != nil:
		d.errorf(pos(n), path, "%q is not a duration (write e.g. 90s, 18m or 2h30m)", n.Value)
		return 0, false
	case v < 0 || v == 0 && !zeroOK:
		d.errorf(pos(n), path, "duration must be positive, got %s", n.Value)
		return 0, false
	}
	return v, true
}

// maxDuration bounds a scenario's simulated time: a week.
const maxDuration = 7 * 24 * time.Hour

func (d *decoder) top(n *yaml.Node, s *Scenario) {
	var regionsAt config.Pos
	d.Mapping(n, "", []field{
		{Name: "version", Required: true, Value: func(p string, v *yaml.Node) {
			if x, at, ok := d.Number(v, p); ok && x != 1 {
				d.errorf(at, p, "unsupported scenario version %g (this geofence reads version 1)", x)
			}
		}},
		{Name: "start", Value: func(p string, v *yaml.Node) {
			if t, ok := d.str(v, p); ok {
				st, err := time.Parse(time.RFC3339, t.Value)
				if err != nil {
					d.errorf(t.Pos, p, "%q is not an RFC 3339 time (write e.g. 2020-04-15T00:00:00Z)", t.Value)
					return
				}
				s.Start = st.UTC()
			}
		}},
		{Name: "duration", Value: func(p string, v *yaml.Node) {
			if x, ok := d.duration(v, p, false); ok {
				if x > maxDuration {
					d.errorf(pos(d.Resolve(v)), p, "duration must be at most %s, got %s", maxDuration, x)
					return
				}
				s.Duration = x
			}
		}},
		{Name: "report_interval", Value: func(p string, v *yaml.Node) {
			if x, ok := d.duration(v, p, false); ok {
				if x < 100*time.Millisecond || x > time.Minute {
					d.errorf(pos(d.Resolve(v)), p, "report_interval must be between 100ms and 1m, got %s", x)
					return
				}
				s.ReportInterval = x
			}
		}},
		{Name: "joins", Value: func(p string, v *yaml.Node) { s.Joins, _ = d.nonNeg(v, p, 0) }},
		{Name: "regions", Required: true, Value: func(p string, v *yaml.Node) {
			regionsAt = pos(d.Resolve(v))
			d.entries(v, p, func(id config.Name, p string, v *yaml.Node) {
				if r := d.region(id, p, v); r != nil {
					s.Regions = append(s.Regions, r)
				}
			})
		}},
		{Name: "meetings", Value: func(p string, v *yaml.Node) { d.meetings(p, v, &s.Meetings) }},
		{Name: "surge", Value: func(p string, v *yaml.Node) { s.Surge = d.surge(p, v) }},
		{Name: "events", Value: func(p string, v *yaml.Node) { s.Events = d.events(p, v) }},
	})
	if len(d.Errs) > 0 {
		return
	}
	if len(s.Regions) == 0 {
		d.errorf(regionsAt, "regions", "no region has traffic; give at least one region")
	}
	for _, r := range s.Regions {
		switch {
		case r.Share > 0 && s.Joins == 0:
			d.errorf(r.Pos, "regions."+r.ID+".share", "share needs the global joins figure (top-level joins)")
		case r.Share > 0:
			r.Joins = r.Share * s.Joins
		}
	}
	for _, e := range s.Events {
		if e.At > s.Duration {
			d.errorf(e.Pos, "events", "event at %s is after the scenario's end (%s)", e.At, s.Duration)
		}
	}
}

func (d *decoder) region(id config.Name, path string, n *yaml.Node) *Region {
	r := &Region{ID: id.Value, Pos: id.Pos, Timezone: time.UTC, TZName: "UTC", Curve: DefaultCurve}
	var gotJoins, gotShare bool
	ok := d.Mapping(n, path, []field{
		{Name: "joins", Value: func(p string, v *yaml.Node) { r.Joins, _ = d.nonNeg(v, p, 0); gotJoins = true }},
		{Name: "share", Value: func(p string, v *yaml.Node) { r.Share, _ = d.nonNeg(v, p, 1); gotShare = true }},
		{Name: "timezone", Value: func(p string, v *yaml.Node) {
			if t, ok := d.str(v, p); ok {
				loc, err := time.LoadLocation(t.Value)
				if err != nil || t.Value == "Local" {
					d.errorf(t.Pos, p, "%q is not an IANA time zone (write e.g. America/New_York or UTC)", t.Value)
					return
				}
				r.Timezone, r.TZName = loc, t.Value
			}
		}},
		{Name: "curve", Value: func(p string, v *yaml.Node) {
			v = d.Resolve(v)
			if v.Kind != yaml.SequenceNode || len(v.Content) != 24 {
				d.errorf(pos(v), p, "curve must be a list of 24 numbers, one per local hour from 00:00, got %s", countOf(v))
				return
			}
			sum := 0.0
			for i, x := range v.Content {
				if w, ok := d.nonNeg(x, fmt.Sprintf("%s[%d]", p, i), 0); ok {
					r.Curve[i] = w
					sum += w
				}
			}
			if sum == 0 {
				d.errorf(pos(v), p, "curve is all zeros; give some hour a positive weight")
			}
		}},
		{Name: "countries", Value: func(p string, v *yaml.Node) { r.Countries = d.countries(p, v) }},
		{Name: "plans", Value: func(p string, v *yaml.Node) { r.Plans = d.weights(p, v, nil) }},
		{Name: "accounts", Value: func(p string, v *yaml.Node) { r.Accounts = d.weights(p, v, nil) }},
	})
	if !ok {
		return nil
	}
	if gotJoins == gotShare {
		d.errorf(id.Pos, path, "give the region's joins or its share of the global joins (exactly one)")
	}
	return r
}

func countOf(v *yaml.Node) string {
	if v.Kind == yaml.SequenceNode {
		return fmt.Sprintf("%d items", len(v.Content))
	}
	return kindName(v)
}

// weights is a mapping of names to non-negative weights, at least one positive.
func (d *decoder) weights(path string, n *yaml.Node, check func(config.Name, string) bool) []Weight {
	var out []Weight
	sum := 0.0
	d.entries(n, path, func(id config.Name, p string, v *yaml.Node) {
		w, ok := d.nonNeg(v, p, 0)
		if ok && (check == nil || check(id, p)) {
			out = append(out, Weight{Name: id, Weight: w})
			sum += w
		}
	})
	if sum == 0 && len(d.Errs) == 0 {
		d.errorf(pos(d.Resolve(n)), path, "give at least one positive weight")
	}
	return out
}

// countries is a mapping of country codes to a weight, or to {weight, points: [[lat, lon],
// ...]}.
func (d *decoder) countries(path string, n *yaml.Node) []Weight {
	var out []Weight
	sum := 0.0
	d.entries(n, path, func(id config.Name, p string, v *yaml.Node) {
		if _, ok := geo.LookupCountry(id.Value); !ok {
			d.errorf(id.Pos, p, "%q is not an assigned ISO 3166-1 alpha-2 country code", id.Value)
			return
		}
		w := Weight{Name: id}
		if rv := d.Resolve(v); rv.Kind == yaml.MappingNode {
			ok := true
			d.Mapping(rv, p, []field{
				{Name: "weight", Required: true, Value: func(p string, v *yaml.Node) {
					var good bool
					w.Weight, good = d.nonNeg(v, p, 0)
					ok = ok && good
				}},
				{Name: "points", Value: func(p string, v *yaml.Node) {
					for i, item := range d.list(v, p) {
						ip := fmt.Sprintf("%s[%d]", p, i)
						xy := d.list(item, ip)
						if xy == nil {
							ok = false
							continue
						}
						if len(xy) != 2 {
							d.errorf(pos(d.Resolve(item)), ip, "a point is [lat, lon], got %d numbers", len(xy))
							ok = false
							continue
						}
						lat, _, ok1 := d.Number(xy[0], ip+"[0]")
						lon, _, ok2 := d.Number(xy[1], ip+"[1]")
						ll := geo.LatLon{Lat: lat, Lon: lon}
						if ok1 && ok2 && !ll.Valid() {
							d.errorf(pos(d.Resolve(item)), ip, "latitude must be in [-90, 90] and longitude in [-180, 180]")
							ok = false
							continue
						}
						if ok1 && ok2 {
							w.Points = append(w.Points, ll)
						} else {
							ok = false
						}
					}
				}},
			})
			if !ok {
				return
			}
		} else {
			var ok bool
			if w.Weight, ok = d.nonNeg(v, p, 0); !ok {
				return
			}
		}
		out = append(out, w)
		sum += w.Weight
	})
	if sum == 0 && len(d.Errs) == 0 {
		d.errorf(pos(d.Resolve(n)), path, "give at least one positive weight")
	}
	return out
}

func (d *decoder) meetings(path string, n *yaml.Node, m *Meetings) {
	d.Mapping(n, path, []field{
		{Name: "size", Value: func(p string, v *yaml.Node) {
			d.Mapping(v, p, []field{
				{Name: "distribution", Value: func(p string, v *yaml.Node) { m.SizeDist = d.oneOf(v, p, Fixed, Geometric) }},
				{Name: "mean", Value: func(p string, v *yaml.Node) {
					if x, at, ok := d.Number(v, p); ok {
						if x < 1 || x > 10000 {
							d.errorf(at, p, "mean size must be between 1 and 10000, got %g", x)
							return
						}
						m.SizeMean = x
					}
				}},
				{Name: "max", Value: func(p string, v *yaml.Node) {
					if x, at, ok := d.Number(v, p); ok {
						if x < 1 || x > 100000 || x != math.Trunc(x) {
							d.errorf(at, p, "max size must be a whole number between 1 and 100000, got %g", x)
							return
						}
						m.SizeMax = int(x)
					}
				}},
			})
		}},
		{Name: "stay", Value: func(p string, v *yaml.Node) {
			d.Mapping(v, p, []field{
				{Name: "distribution", Value: func(p string, v *yaml.Node) { m.StayDist = d.oneOf(v, p, Fixed, Exponential, LogNormal) }},
				{Name: "mean", Value: func(p string, v *yaml.Node) {
					if x, ok := d.duration(v, p, false); ok {
						m.StayMean = x
					}
				}},
				{Name: "sigma", Value: func(p string, v *yaml.Node) {
					if x, ok := d.nonNeg(v, p, 3); ok {
						m.StaySigma = x
					}
				}},
				{Name: "max", Value: func(p string, v *yaml.Node) {
					if x, ok := d.duration(v, p, false); ok {
						m.MaxStay = x
					}
				}},
			})
		}},
		{Name: "join_spread", Value: func(p string, v *yaml.Node) { m.JoinSpread, _ = d.duration(v, p, true) }},
		{Name: "cross_region", Value: func(p string, v *yaml.Node) { m.CrossRegion, _ = d.nonNeg(v, p, 1) }},
		{Name: "e2ee", Value: func(p string, v *yaml.Node) { m.E2EE, _ = d.nonNeg(v, p, 1) }},
		{Name: "arrivals", Value: func(p string, v *yaml.Node) { m.Arrivals = d.oneOf(v, p, Poisson, Even) }},
		{Name: "rejoin_delay", Value: func(p string, v *yaml.Node) { m.RejoinDelay, _ = d.duration(v, p, true) }},
	})
	if m.StayMean > m.MaxStay {
		d.errorf(pos(d.Resolve(n)), join(path, "stay"), "stay mean %s is longer than its max %s", m.StayMean, m.MaxStay)
	}
	if float64(m.SizeMax) < m.SizeMean {
		d.errorf(pos(d.Resolve(n)), join(path, "size"), "size mean %g is larger than its max %d", m.SizeMean, m.SizeMax)
	}
}

func (d *decoder) oneOf(v *yaml.Node, p string, options ...string) string {
	s, ok := d.str(v, p)
	if !ok {
		return options[0]
	}
	for _, o := range options {
		if s.Value == o {
			return o
		}
	}
	d.errorf(s.Pos, p, "%q is not one of %s", s.Value, strings.Join(options, ", "))
	return options[0]
}

func (d *decoder) list(n *yaml.Node, path string) []*yaml.Node {
	n = d.Resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(pos(n), path, "expected a list, got %s", kindName(n))
		return nil
	}
	return n.Content
}

func (d *decoder) surge(path string, n *yaml.Node) []SurgePoint {
	var out []SurgePoint
	for i, item := range d.list(n, path) {
		p := fmt.Sprintf("%s[%d]", path, i)
		var sp SurgePoint
		ok := true
		d.Mapping(item, p, []field{
			{Name: "at", Required: true, Value: func(p string, v *yaml.Node) {
				var good bool
				sp.At, good = d.duration(v, p, true)
				ok = ok && good
			}},
			{Name: "multiplier", Required: true, Value: func(p string, v *yaml.Node) {
				var good bool
				sp.Multiplier, good = d.nonNeg(v, p, 1000)
				ok = ok && good
			}},
		})
		if ok && len(out) > 0 && sp.At <= out[len(out)-1].At {
			d.errorf(pos(d.Resolve(item)), p, "surge points must be in increasing time order")
			continue
		}
		if ok {
			out = append(out, sp)
		}
	}
	return out
}

func (d *decoder) events(path string, n *yaml.Node) []*Event {
	var out []*Event
	for i, item := range d.list(n, path) {
		p := fmt.Sprintf("%s[%d]", path, i)
		e := &Event{Pos: pos(d.Resolve(item))}
		kinds := 0
		dcs := func(kind string) func(string, *yaml.Node) {
			return func(p string, v *yaml.Node) {
				kinds++
				e.Kind = kind
				for j, x := range d.list(v, p) {
					if s, ok := d.str(x, fmt.Sprintf("%s[%d]", p, j)); ok {
						e.DCs = append(e.DCs, s)
					}
				}
				if len(e.DCs) == 0 {
					d.errorf(pos(d.Resolve(v)), p, "name at least one datacenter")
				}
			}
		}
		d.Mapping(item, p, []field{
			{Name: "at", Required: true, Value: func(p string, v *yaml.Node) { e.At, _ = d.duration(v, p, true) }},
			{Name: Down, Value: dcs(Down)},
			{Name: Up, Value: dcs(Up)},
			{Name: Capacity, Value: func(p string, v *yaml.Node) {
				kinds++
				e.Kind = Capacity
				d.entries(v, p, func(id config.Name, p string, v *yaml.Node) {
					x, at, ok := d.Number(v, p)
					if ok && (x < 1 || x != math.Trunc(x) || x > 1e12) {
						d.errorf(at, p, "capacity must be a positive whole number of participants, got %g", x)
						return
					}
					if ok {
						e.Capacity = append(e.Capacity, CapacityValue{DC: id, Capacity: int64(x)})
					}
				})
			}},
			{Name: Swap, Value: func(p string, v *yaml.Node) {
				kinds++
				e.Kind = Swap
				if s, ok := d.str(v, p); ok {
					e.Config, e.ConfigAt = s.Value, s.Pos
				}
			}},
		})
		if kinds != 1 {
			d.errorf(e.Pos, p, "an event does exactly one thing: give one of down, up, capacity or config")
			continue
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// MultiplierAt is the surge profile's multiplier at offset t, times s.Multiplier.
func (s *Scenario) MultiplierAt(t time.Duration) float64 {
	m := 1.0
	switch n := len(s.Surge); {
	case n == 0:
	case t <= s.Surge[0].At:
		m = s.Surge[0].Multiplier
	case t >= s.Surge[n-1].At:
		m = s.Surge[n-1].Multiplier
	default:
		i := sort.Search(n, func(i int) bool { return s.Surge[i].At > t })
		a, b := s.Surge[i-1], s.Surge[i]
		f := float64(t-a.At) / float64(b.At-a.At)
		m = a.Multiplier + f*(b.Multiplier-a.Multiplier)
	}
	return m * s.Multiplier
}
