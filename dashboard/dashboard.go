// Package dashboard is the operator's dashboard of the directory (DESIGN.md section 12): a
// page served at /ui/, embedded in the binary (a world map of the policy and the live state:
// regions, datacenters by load and health, bridges, refusals by rule), the event stream that
// keeps it live (server-sent events at /v1/dashboard/events: the directory pushes, the page
// never polls), the refusal explorer's ring and the what-if endpoints (explain and the
// simulator on a copy of the live state, never the real one).
//
// It reads the directory core (package directory) and never changes it: it decides nothing,
// and it authenticates no one. The directory's HTTP API (package directoryhttp) mounts its
// Handler behind the operator token; `geofence dev` mounts it with loopback trusted. What it
// shows of a refusal is the rule context (countries, regions, plans), never a participant's,
// an account's or a meeting's id, nor an address.
//
// Endpoints, all for the operator (docs/api.md):
//
//	GET  /ui/...                     the page and its assets (CSP default-src 'self')
//	GET  /v1/dashboard/events        text/event-stream: model, state and refusal events
//	GET  /v1/dashboard/refusals      the refusal ring, filterable (?code=&rule=&country=&region=)
//	POST /v1/dashboard/impact        DCs marked down or loaded: who would be refused or spilled
//	GET  /v1/dashboard/scenario      a scenario to start the simulator from (YAML)
//	POST /v1/dashboard/sim           the simulator on a scenario from the live state's down DCs
//
// The explain what-if is the directory's own explain, which package directoryhttp also serves as
// GET /v1/dashboard/explain, behind the dashboard's credentials.
package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Defaults of Config.
const (
	// DefaultInterval is how often the dashboard recomputes the live state and pushes it
	// when it changed. Joins and refusals push at once; nothing pushes more often than
	// minPush.
	DefaultInterval = time.Second
	// minPush is the shortest time between two state events.
	minPush = 100 * time.Millisecond
	// staleAlert is the store staleness that raises an alert.
	staleAlert = 5 * time.Second
)

// Config is what a Dashboard needs. Core and Feed are required; the zero value of every other
// field is its documented default.
type Config struct {
	// Core is the directory core whose live state is shown. Required.
	Core *directory.Core
	// Feed is the feed set in the core's Config.Decisions. Required.
	Feed *Feed
	// Gatherer, when set, is read for the series the core does not expose as values: open
	// meetings (geofence_directory_meetings_total), the pushed config's revision
	// (geofence_config_revision) and the store's staleness
	// (geofence_directory_store_staleness_seconds, with the etcd store).
	Gatherer prometheus.Gatherer
	// Unverified records that the config in force did not verify (--allow-unverified).
	Unverified bool
	// Store names the store kind shown ("memory", "etcd"); "" is "memory".
	Store string
	// Interval: default DefaultInterval.
	Interval time.Duration
	// MaxStreams caps the open event streams: default DefaultMaxStreams.
	MaxStreams int
	// StreamBuffer is each stream's buffer, in events: default DefaultStreamBuffer.
	StreamBuffer int
	// SimTimeout bounds one simulator run: default DefaultSimTimeout.
	SimTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registry receives the dashboard's metrics; nil registers none.
	Registry prometheus.Registerer
}

// Dashboard is the dashboard's server side. It is safe for concurrent use.
type Dashboard struct {
	cfg     Config
	core    *directory.Core
	feed    *Feed
	log     *slog.Logger
	metrics *metrics
	hub     *hub
	sim     chan struct{} // one simulator run at a time

	mu        sync.Mutex // guards what follows
	model     *policy.Model
	modelJSON []byte
	stateJSON []byte
	lastSeq   uint64
}

// New checks cfg and returns a Dashboard; Run makes it live.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Core == nil || cfg.Feed == nil {
		return nil, errors.New("new dashboard: a directory core and its feed are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.StreamBuffer <= 0 {
		cfg.StreamBuffer = DefaultStreamBuffer
	}
	if cfg.SimTimeout <= 0 {
		cfg.SimTimeout = DefaultSimTimeout
	}
	if cfg.Store == "" {
		cfg.Store = "memory"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("new dashboard: %w", err)
	}
	d := &Dashboard{cfg: cfg, core: cfg.Core, feed: cfg.Feed, log: cfg.Logger, metrics: m, sim: make(chan struct{}, 1)}
	d.hub = newHub(cfg.MaxStreams, cfg.StreamBuffer, m, d.initialEvents)
	d.refresh() // a stream opened before Run gets a state
	return d, nil
}

// Handler serves the page and the dashboard's endpoints (see the package documentation). It
// authenticates no one: mount it behind the operator's check.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", uiHandler())
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusMovedPermanently) })
	mux.HandleFunc("GET /v1/dashboard/events", d.hub.serve)
	mux.HandleFunc("GET /v1/dashboard/refusals", d.refusals)
	mux.HandleFunc("POST /v1/dashboard/impact", d.impact)
	mux.HandleFunc("GET /v1/dashboard/scenario", d.scenario)
	mux.HandleFunc("POST /v1/dashboard/sim", d.runSim)
	return mux
}

// Run keeps the dashboard live until ctx is done: it pushes the state when it changes (a
// load report, a DC going stale, a join, a config swap), at most every minPush whatever the
// rate of changes, and ends every stream at the end.
func (d *Dashboard) Run(ctx context.Context) {
	go d.hub.run(ctx)
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.feed.kick:
		}
		// Joins come in bursts, and reports from many DCs: one push per minPush at most.
		if wait := minPush - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		d.refresh()
		last = time.Now()
	}
}

// initialEvents are the events a new stream starts with: the model and the state.
func (d *Dashboard) initialEvents() []event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return []event{encodeEvent("model", d.modelJSON), encodeEvent("state", d.stateJSON)}
}

// refresh recomputes the model (on a config swap), the state and the new refusals, and
// broadcasts what changed.
func (d *Dashboard) refresh() {
	m := d.core.Model()
	st := d.state(m)
	stateJSON, _ := json.Marshal(st)
	var newModel []byte
	d.mu.Lock()
	if m != d.model {
		d.model = m
		d.modelJSON, _ = json.Marshal(modelView(m))
		newModel = d.modelJSON
	}
	changed := !bytes.Equal(stateJSON, d.stateJSON)
	d.stateJSON = stateJSON
	after := d.lastSeq
	d.lastSeq = st.lastSeq
	d.mu.Unlock()
	if newModel != nil {
		d.hub.broadcast("model", encodeEvent("model", newModel))
	}
	if changed || newModel != nil {
		d.hub.broadcast("state", encodeEvent("state", stateJSON))
	}
	if st.lastSeq > after {
		for _, r := range d.feed.Refusals(after) {
			b, _ := json.Marshal(r)
			d.hub.broadcast("refusal", encodeEvent("refusal", b))
		}
	}
}

// Model is the policy as the map draws it: the "model" event.
type Model struct {
	Regions       []RegionView      `json:"regions"`
	DefaultRegion string            `json:"default_region"`
	CountryRegion map[string]string `json:"country_region"` // every assigned country's region
	Datacenters   []DCView          `json:"datacenters"`
	Plans         []string          `json:"plans"`
	Accounts      []string          `json:"accounts"` // the config's accounts (customers, not people)
	Rules         []string          `json:"rules"`
	HighWatermark float64           `json:"high_watermark"`
}

// RegionView is a region and its routing lists.
type RegionView struct {
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	Countries []string `json:"countries"`
	Primary   []string `json:"primary"`
	Secondary []string `json:"secondary"`
	KMS       []string `json:"kms"`
}

// DCView is a datacenter where the map puts it.
type DCView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name,omitempty"`
	Country   string     `json:"country"`
	Region    string     `json:"region"`
	Location  [2]float64 `json:"location"` // lat, lon, as in the config
	Capacity  int64      `json:"capacity"`
	Services  []string   `json:"services"`
	Dedicated string     `json:"dedicated,omitempty"`
}

func modelView(m *policy.Model) Model {
	v := Model{DefaultRegion: m.Regions[m.DefaultRegion].ID, CountryRegion: map[string]string{}, HighWatermark: m.HighWatermark,
		Plans: []string{}, Accounts: []string{}, Rules: []string{}}
	ids := func(es []policy.Entry) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = m.DCs[e.DC].ID
		}
		return out
	}
	for i, r := range m.Regions {
		rv := RegionView{ID: r.ID, Name: r.Name, Countries: []string{}, Primary: []string{}, Secondary: []string{}, KMS: []string{}}
		for _, c := range r.Countries {
			rv.Countries = append(rv.Countries, c.Code())
		}
		if i < len(m.Routes) {
			rt := &m.Routes[i]
			rv.Primary, rv.Secondary, rv.KMS = ids(rt.Primary), ids(rt.Secondary), ids(rt.KMS)
		}
		v.Regions = append(v.Regions, rv)
	}
	for _, c := range geo.Countries() {
		v.CountryRegion[c.Code()] = m.Regions[m.RegionOf(c)].ID
	}
	for _, dc := range m.DCs {
		svc := []string{}
		if dc.Media {
			svc = append(svc, "media")
		}
		if dc.KMS {
			svc = append(svc, "kms")
		}
		v.Datacenters = append(v.Datacenters, DCView{ID: dc.ID, Name: dc.Name, Country: dc.Country.Code(), Region: m.Regions[dc.Region].ID,
			Location: [2]float64{dc.Location.Lat, dc.Location.Lon}, Capacity: dc.Capacity, Services: svc, Dedicated: dc.Dedicated})
	}
	for _, p := range m.Plans {
		v.Plans = append(v.Plans, p.ID)
	}
	for id := range m.Accounts {
		v.Accounts = append(v.Accounts, id)
	}
	sort.Strings(v.Accounts)
	for _, r := range m.Rules {
		v.Rules = append(v.Rules, r.ID)
	}
	return v
}

// State is the live state: the "state" event.
type State struct {
	Datacenters    []wire.Datacenter `json:"datacenters"`
	JoinsTotal     int64             `json:"joins_total"`
	JoinsPerSecond float64           `json:"joins_per_second"`
	Secondaries    int64             `json:"secondaries_total"`
	Refusals       []RefusalCount    `json:"refusals"`
	MeetingsOpen   *int64            `json:"meetings_open,omitempty"` // absent without a Gatherer
	Config         ConfigState       `json:"config"`
	Store          StoreState        `json:"store"`
	Alerts         []Alert           `json:"alerts"`

	lastSeq uint64
}

// RefusalCount is the refusals of one code and rule since the directory started.
type RefusalCount struct {
	Code  string `json:"code"`
	Rule  string `json:"rule"`
	Count int64  `json:"count"`
}

// ConfigState is the config in force.
type ConfigState struct {
	Version  int   `json:"version"`
	Revision int64 `json:"revision"` // the pushed config's store revision; 0: the one started with
	Verified bool  `json:"verified"`
}

// StoreState is the shared store.
type StoreState struct {
	Kind string `json:"kind"`
	// StalenessSeconds is how long ago the etcd store last answered; absent with memory.
	StalenessSeconds *float64 `json:"staleness_seconds,omitempty"`
}

// Alert is an alert-worthy state: a tile on the page.
type Alert struct {
	// Kind is dc_down, region_refusing, config_unverified or store_stale.
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

func (d *Dashboard) state(m *policy.Model) State {
	now := d.cfg.Now()
	c := d.feed.counts(now)
	st := State{Datacenters: d.core.Datacenters(), JoinsTotal: c.joins, JoinsPerSecond: c.joinsPerSecond, Secondaries: c.secondaries,
		Refusals: []RefusalCount{}, Alerts: []Alert{}, lastSeq: c.lastSeq,
		Config: ConfigState{Version: m.Config.Version, Verified: !d.cfg.Unverified}, Store: StoreState{Kind: d.cfg.Store}}
	for k, n := range c.byCode {
		st.Refusals = append(st.Refusals, RefusalCount{Code: k.code, Rule: k.rule, Count: n})
	}
	slices.SortFunc(st.Refusals, func(a, b RefusalCount) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return cmpStrings(a.Code+"/"+a.Rule, b.Code+"/"+b.Rule)
	})
	if d.cfg.Gatherer != nil {
		d.gather(&st)
	}
	for _, dc := range st.Datacenters {
		if dc.Down {
			why := "no recent load report"
			if !dc.LastReport.IsZero() && !dc.Healthy {
				why = "it reports unhealthy"
			}
			st.Alerts = append(st.Alerts, Alert{Kind: "dc_down", Subject: dc.ID, Message: fmt.Sprintf("datacenter %s is down: %s", dc.ID, why)})
		}
	}
	sort.Strings(c.refusing)
	for _, r := range c.refusing {
		st.Alerts = append(st.Alerts, Alert{Kind: "region_refusing", Subject: r,
			Message: fmt.Sprintf("participants of region %s were refused in the last minute", r)})
	}
	if d.cfg.Unverified {
		st.Alerts = append(st.Alerts, Alert{Kind: "config_unverified", Subject: "config",
			Message: "the config in force did not verify (--allow-unverified); only the run-time checks enforce the rules"})
	}
	if s := st.Store.StalenessSeconds; s != nil && *s >= staleAlert.Seconds() {
		st.Alerts = append(st.Alerts, Alert{Kind: "store_stale", Subject: st.Store.Kind,
			Message: fmt.Sprintf("the store last answered %.0f s ago: the directory serves its last known state", *s)})
	}
	return st
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// gather reads the series of Config.Gatherer the state shows.
func (d *Dashboard) gather(st *State) {
	mfs, err := d.cfg.Gatherer.Gather()
	if err != nil && len(mfs) == 0 {
		return
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "geofence_directory_meetings_total":
			var open int64
			for _, m := range mf.GetMetric() {
				n := int64(m.GetCounter().GetValue())
				if label(m, "event") == "created" {
					open += n
				} else {
					open -= n
				}
			}
			open = max(open, 0)
			st.MeetingsOpen = &open
		case "geofence_config_revision":
			if ms := mf.GetMetric(); len(ms) > 0 {
				st.Config.Revision = int64(ms[0].GetGauge().GetValue())
			}
		case "geofence_directory_store_staleness_seconds":
			if ms := mf.GetMetric(); len(ms) > 0 {
				v := ms[0].GetGauge().GetValue()
				st.Store.StalenessSeconds = &v
			}
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
