// Package replay replays a simulator trace (`geofence sim --trace FILE`) against a directory
// over its HTTP API, as `geofence dev --no-agents` serves it, and compares every answer with
// the simulator's: each meeting's region, and each join's primary and secondary lists and
// home, or its refusal code. The simulator and the directory run the same core, so any
// difference is either a divergence between them (a bug) or a gap in the replay.
//
// The calls are the trace's, in its order: accounts created, meetings created and ended,
// joins (with tickets, whose signature and claims are checked too) and load reports, each
// made at the trace's simulated time on a Clock the directory reads. Participants are located
// where the trace says: every distinct country and point of the trace gets an address of the
// IPv6 documentation prefix, which the client sends in X-Forwarded-For (loopback is a trusted
// proxy in a dev stack) and a Locator built from the same trace resolves. Leaves and drops are
// not calls to the directory (it hears of them through the next load reports). Config swaps
// and capacity changes are not API calls either: a replay against a directory in this process
// (Dev) swaps the new model into its core, as a config push does in a cluster; one against a
// URL refuses a trace that holds them.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

// MaxLine bounds a trace line.
const MaxLine = 64 << 10

// Call is one line of a trace.
type Call struct {
	Line   int
	Time   time.Time
	Kind   string // account, create, join, leave, drop, end, report, model
	Fields []string
}

// Trace is a parsed trace.
type Trace struct {
	Calls []Call
	// points are the distinct locations of the trace, in order of first use.
	points []point
	index  map[point]int
}

type point struct {
	country  string
	lat, lon float64
}

// fields per kind, after the time and the kind.
var arity = map[string]int{"account": 2, "create": 7, "join": 10, "leave": 3, "drop": 3, "end": 1, "report": 3, "model": 1, "capacity": 2}

// Parse reads a trace. A malformed line is an error naming it; nothing is replayed from a
// trace with one.
func Parse(r io.Reader) (*Trace, error) {
	t := &Trace{index: map[point]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		rec, err := csv.NewReader(bytes.NewReader(sc.Bytes())).Read()
		if err != nil {
			return nil, fmt.Errorf("trace line %d: %v", n, err)
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("trace line %d: want a time and a kind", n)
		}
		at, err := time.Parse(time.RFC3339Nano, rec[0])
		if err != nil {
			return nil, fmt.Errorf("trace line %d: time %q: want RFC 3339", n, rec[0])
		}
		want, ok := arity[rec[1]]
		if !ok {
			return nil, fmt.Errorf("trace line %d: unknown call %q", n, rec[1])
		}
		if len(rec)-2 != want {
			return nil, fmt.Errorf("trace line %d: %s has %d fields, want %d", n, rec[1], len(rec)-2, want)
		}
		c := Call{Line: n, Time: at, Kind: rec[1], Fields: rec[2:]}
		switch c.Kind {
		case "create":
			if err := t.locate(c.Fields[2], c.Fields[3], c.Fields[4]); err != nil {
				return nil, fmt.Errorf("trace line %d: %v", n, err)
			}
		case "join":
			if err := t.locate(c.Fields[3], c.Fields[4], c.Fields[5]); err != nil {
				return nil, fmt.Errorf("trace line %d: %v", n, err)
			}
		case "capacity":
			if v, err := strconv.ParseInt(c.Fields[1], 10, 64); err != nil || v <= 0 {
				return nil, fmt.Errorf("trace line %d: capacity %q: want a whole number above 0", n, c.Fields[1])
			}
		case "report":
			if _, err := strconv.ParseInt(c.Fields[1], 10, 64); err != nil {
				return nil, fmt.Errorf("trace line %d: participants %q: want a whole number", n, c.Fields[1])
			}
			if _, err := strconv.ParseBool(c.Fields[2]); err != nil {
				return nil, fmt.Errorf("trace line %d: healthy %q: want true or false", n, c.Fields[2])
			}
		}
		t.Calls = append(t.Calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	return t, nil
}

func (t *Trace) locate(country, lat, lon string) error {
	if _, ok := geo.LookupCountry(country); !ok {
		return fmt.Errorf("country %q: not an assigned ISO 3166-1 code", country)
	}
	p := point{country: country}
	var err error
	if p.lat, err = strconv.ParseFloat(lat, 64); err != nil || p.lat < -90 || p.lat > 90 {
		return fmt.Errorf("latitude %q: want a number from -90 to 90", lat)
	}
	if p.lon, err = strconv.ParseFloat(lon, 64); err != nil || p.lon < -180 || p.lon > 180 {
		return fmt.Errorf("longitude %q: want a number from -180 to 180", lon)
	}
	if _, ok := t.index[p]; !ok {
		t.index[p] = len(t.points)
		t.points = append(t.points, p)
	}
	return nil
}

// base is 2001:db8::/32, the IPv6 documentation prefix: the addresses stand for no one.
var base = netip.MustParseAddr("2001:db8::1")

// addr is the address standing for point p.
func (t *Trace) addr(p point) netip.Addr {
	b := base.As16()
	i := t.index[p]
	b[12], b[13], b[14], b[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)+1
	return netip.AddrFrom16(b)
}

// Locator resolves the trace's addresses to its countries and points, as a city-level GeoIP
// database would; it finds no other address. It is safe for concurrent use.
func (t *Trace) Locator() Locator { return Locator{t: t} }

// Locator is a Trace's GeoIP (directoryhttp.Locator).
type Locator struct{ t *Trace }

// Lookup implements directoryhttp.Locator.
func (l Locator) Lookup(a netip.Addr) (geoip.Result, error) {
	b, bb := a.As16(), base.As16()
	if !a.Is6() || !bytes.Equal(b[:12], bb[:12]) {
		return geoip.Result{}, nil
	}
	i := int(b[12])<<24 | int(b[13])<<16 | int(b[14])<<8 | int(b[15]) - 1
	if i < 0 || i >= len(l.t.points) {
		return geoip.Result{}, nil
	}
	p := l.t.points[i]
	return geoip.Result{Country: p.country, Found: true, HasLocation: true, Location: geoip.LatLon{Lat: p.lat, Lon: p.lon}}, nil
}

// Clock is the simulated time the directory reads during a replay (devstack.Config.Now). It
// is safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// Now is the clock's time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set sets it.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Options is one replay. URL is required.
type Options struct {
	// URL is the directory's base URL; it must trust this client as a proxy and as the
	// operator (a dev stack trusts loopback).
	URL string
	// Clock, when set, is stepped to each call's time before it is made.
	Clock *Clock
	// Keys, when set, verifies every ticket, whose claims must match the answer.
	Keys *ticket.RemoteKeys
	// Client; nil: http.DefaultClient.
	Client *http.Client
	// Swap, when set, swaps a model into the directory (a config swap or a capacity change of
	// the trace); Model is the model it serves at the start, and LoadConfig loads the config
	// file a swap names (as the simulator wrote it: relative to the working directory). When
	// Swap is nil, a trace that swaps is refused.
	Swap       func(*policy.Model)
	Model      *policy.Model
	LoadConfig func(path string) (*policy.Model, error)
}

// Result is what a replay found.
type Result struct {
	Calls    int `json:"calls"`
	Meetings int `json:"meetings"`
	Joins    int `json:"joins"`
	Reports  int `json:"reports"`
	Swaps    int `json:"swaps"` // config swaps and capacity changes
	// Compared is how many answers were compared (meetings created and joins); Mismatches
	// those that differed, at most MaxMismatches of them, Differ their number.
	Compared   int        `json:"compared"`
	Differ     int        `json:"differ"`
	Mismatches []Mismatch `json:"mismatches"`
}

// MaxMismatches bounds Result.Mismatches.
const MaxMismatches = 100

// Mismatch is an answer of the directory that differs from the simulator's.
type Mismatch struct {
	Line      int    `json:"line"`
	Call      string `json:"call"`
	Sim       string `json:"simulator"`
	Got       string `json:"directory"`
	Directory string `json:"answer"` // what the directory said, in full
}

func (m Mismatch) String() string {
	return fmt.Sprintf("trace line %d: %s: simulator %s, directory %s", m.Line, m.Call, m.Sim, m.Got)
}

// Run replays t against the directory at opts.URL. A call the directory fails in a way the
// simulator did not see is a mismatch, not an error; an error is a replay that could not go
// on (the directory unreachable, a config swap in the trace).
func Run(ctx context.Context, t *Trace, opts Options) (*Result, error) {
	r := &runner{t: t, opts: opts, ids: map[string]string{}, res: &Result{}, model: opts.Model}
	if r.opts.Client == nil {
		r.opts.Client = http.DefaultClient
	}
	for i := range t.Calls {
		c := &t.Calls[i]
		if err := ctx.Err(); err != nil {
			return r.res, err
		}
		if opts.Clock != nil {
			opts.Clock.Set(c.Time)
		}
		r.res.Calls++
		if err := r.call(ctx, c); err != nil {
			return r.res, fmt.Errorf("replay trace line %d (%s): %w", c.Line, c.Kind, err)
		}
	}
	return r.res, nil
}

type runner struct {
	t    *Trace
	opts Options
	ids  map[string]string // the simulator's meeting ids to the directory's
	res  *Result
	// model is the directory's model, when the replay swaps it.
	model *policy.Model
}

func (r *runner) call(ctx context.Context, c *Call) error {
	f := c.Fields
	switch c.Kind {
	case "account":
		status, body, err := r.do(ctx, http.MethodPut, "/v1/accounts/"+f[0], netip.Addr{}, wire.Account{ID: f[0], Plan: f[1]})
		if err != nil {
			return err
		}
		if status/100 != 2 {
			return fmt.Errorf("create account %s: %d %s", f[0], status, body)
		}
	case "create":
		r.res.Meetings++
		simID, want := f[0], f[6]
		at := r.t.addr(r.point(f[2], f[3], f[4]))
		var mt wire.Meeting
		status, body, err := r.doJSON(ctx, http.MethodPost, "/v1/meetings", at, wire.CreateMeeting{HostAccount: f[1], Mode: f[5]}, &mt)
		if err != nil {
			return err
		}
		got := mt.Region
		if status != http.StatusCreated {
			got = errorCode(body)
		}
		r.compare(c, "create meeting "+simID, want, got, body)
		if status == http.StatusCreated && simID != "" {
			r.ids[simID] = mt.ID
		}
	case "join":
		r.res.Joins++
		return r.join(ctx, c)
	case "end":
		id, ok := r.ids[f[0]]
		if !ok {
			return nil // its creation already differed
		}
		delete(r.ids, f[0])
		status, body, err := r.do(ctx, http.MethodDelete, "/v1/meetings/"+id, netip.Addr{}, nil)
		if err != nil {
			return err
		}
		if status/100 != 2 {
			r.compare(c, "end meeting "+f[0], "ended", errorCode(body), body)
		}
	case "report":
		r.res.Reports++
		n, _ := strconv.ParseInt(f[1], 10, 64)
		healthy, _ := strconv.ParseBool(f[2])
		status, body, err := r.do(ctx, http.MethodPut, "/v1/datacenters/"+f[0]+"/load", netip.Addr{}, wire.LoadReport{Participants: &n, Healthy: &healthy})
		if err != nil {
			return err
		}
		if status/100 != 2 {
			return fmt.Errorf("load report of %s: %d %s", f[0], status, body)
		}
	case "model", "capacity":
		if r.opts.Swap == nil || r.model == nil || c.Kind == "model" && r.opts.LoadConfig == nil {
			return errors.New("the trace swaps in a config or changes a capacity (a scenario event); swaps cannot be replayed over the API: replay it with geofence sim --replay, which swaps them into its own directory, or a scenario without config or capacity events")
		}
		var m *policy.Model
		var err error
		if c.Kind == "model" {
			m, err = r.opts.LoadConfig(f[0])
		} else {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			m, err = r.model.WithCapacities(map[string]int64{f[0]: n})
		}
		if err != nil {
			return err
		}
		r.opts.Swap(m)
		r.model = m
		r.res.Swaps++
	}
	return nil
}

// join: MEETING, PARTICIPANT, ACCOUNT, COUNTRY, LAT, LON, FIRST-DC|CODE, HOME, PRIMARY, SECONDARY.
func (r *runner) join(ctx context.Context, c *Call) error {
	f := c.Fields
	what := "join " + f[0] + " " + f[1]
	want := "refused " + f[6]
	if f[7] != "" {
		want = fmt.Sprintf("home %s primary [%s] secondary [%s]", f[7], f[8], f[9])
	}
	id, ok := r.ids[f[0]]
	if !ok {
		r.compare(c, what, want, "no such meeting (its creation differed)", "")
		return nil
	}
	at := r.t.addr(r.point(f[3], f[4], f[5]))
	var tk wire.JoinResponse
	status, body, err := r.doJSON(ctx, http.MethodPost, "/v1/meetings/"+id+"/join", at, wire.JoinRequest{Account: f[2], Participant: f[1]}, &tk)
	if err != nil {
		return err
	}
	got := "refused " + errorCode(body)
	if status == http.StatusOK {
		got = fmt.Sprintf("home %s primary [%s] secondary [%s]", tk.Home, ids(tk.Primary), ids(tk.Secondary))
		if r.opts.Keys != nil {
			cl, err := r.opts.Keys.Verify(ctx, tk.Token)
			if err != nil {
				got += " (ticket: " + err.Error() + ")"
			} else if cl.Home != tk.Home || ids(cl.Primary) != ids(tk.Primary) || ids(cl.Secondary) != ids(tk.Secondary) ||
				cl.Participant != f[1] || cl.Meeting != id {
				got += fmt.Sprintf(" (ticket says home %s primary [%s] secondary [%s] for %s in %s)", cl.Home, ids(cl.Primary), ids(cl.Secondary), cl.Participant, cl.Meeting)
			}
		}
	}
	r.compare(c, what, want, got, body)
	return nil
}

func (r *runner) point(country, lat, lon string) point {
	p := point{country: country}
	p.lat, _ = strconv.ParseFloat(lat, 64)
	p.lon, _ = strconv.ParseFloat(lon, 64)
	return p
}

func (r *runner) compare(c *Call, what, want, got, body string) {
	r.res.Compared++
	if want == got {
		return
	}
	r.res.Differ++
	if len(r.res.Mismatches) < MaxMismatches {
		r.res.Mismatches = append(r.res.Mismatches, Mismatch{Line: c.Line, Call: what, Sim: want, Got: got, Directory: body})
	}
}

func ids(l []wire.DC) string {
	s := make([]string, len(l))
	for i, d := range l {
		s[i] = d.ID
	}
	return strings.Join(s, " ")
}

// errorCode is the code of an error answer, or the whole body when it is not one.
func errorCode(body string) string {
	var e wire.Error
	if json.Unmarshal([]byte(body), &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(body)
}

func (r *runner) doJSON(ctx context.Context, method, path string, from netip.Addr, in, out any) (int, string, error) {
	status, body, err := r.do(ctx, method, path, from, in)
	if err == nil && status/100 == 2 && out != nil {
		if err := json.Unmarshal([]byte(body), out); err != nil {
			return status, body, fmt.Errorf("%s %s: answer: %w", method, path, err)
		}
	}
	return status, body, err
}

// do makes one call, from address from (X-Forwarded-For) when it is valid.
func (r *runner) do(ctx context.Context, method, path string, from netip.Addr, in any) (int, string, error) {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.opts.URL+path, rd)
	if err != nil {
		return 0, "", err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if from.IsValid() {
		req.Header.Set("X-Forwarded-For", from.String())
	}
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, string(b), nil
}

// Dev replays t against a directory of model m served in this process as `geofence dev
// --no-agents` serves it (package devstack: the real HTTP API, tickets signed and checked),
// on a free loopback port, with its clock stepped to the trace's times and participants
// located by t's Locator. The trace's config swaps and capacity changes are swapped into the
// directory's core as they come; load loads the config files its swaps name (nil: a trace
// with a config swap is refused).
func Dev(ctx context.Context, t *Trace, m *policy.Model, load func(path string) (*policy.Model, error)) (*Result, error) {
	clock := &Clock{}
	if len(t.Calls) > 0 {
		clock.Set(t.Calls[0].Time)
	}
	st, err := devstack.New(devstack.Config{Model: m, NoAgents: true, GeoIP: t.Locator(), Now: clock.Now})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(sctx) }()
	res, err := func() (*Result, error) {
		keys, err := ticket.NewRemoteKeys(st.URL+ticket.JWKSPath, nil, wire.TicketIssuer, nil)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		return Run(ctx, t, Options{URL: st.URL, Clock: clock, Keys: keys, Swap: st.Core.SetModel, Model: m, LoadConfig: load})
	}()
	stop()
	if serr := <-done; err == nil && serr != nil && !errors.Is(serr, context.Canceled) {
		err = fmt.Errorf("replay: the dev stack: %w", serr)
	}
	return res, err
}
