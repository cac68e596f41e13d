package directory

import (
	"errors"
	"fmt"
	"github.com/geofence/geofence/wire"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geofence/geofence/internal/jsonapi"

	"github.com/geofence/geofence/explain"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
)

// apiError is the body of every error response.
type apiError struct {
	Error      string   `json:"error"`
	Message    string   `json:"message,omitempty"`
	Rules      []string `json:"rules,omitempty"`
	RetryAfter int      `json:"retry_after,omitempty"`
}

func fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	jsonapi.Write(w, status, apiError{Error: code, Message: fmt.Sprintf(format, args...)})
}

var validID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// account resolves an account id against model m: a config account, else an API account.
func (s *Server) account(m *policy.Model, id string) (*policy.Account, bool) {
	if a, ok := m.Accounts[id]; ok {
		return a, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiAccountLocked(m, id)
}

// apiAccountLocked is an API account built against model m, cached per model.
func (s *Server) apiAccountLocked(m *policy.Model, id string) (*policy.Account, bool) {
	aa := s.accounts[id]
	if aa == nil {
		return nil, false
	}
	if aa.builtFor != m {
		a, err := buildAccount(m, aa)
		if err != nil {
			return nil, false // the account names a plan or region this config no longer has
		}
		aa.built, aa.builtFor = a, m
	}
	return aa.built, true
}

func buildAccount(m *policy.Model, aa *apiAccount) (*policy.Account, error) {
	plan, ok := m.Plan(aa.Plan)
	if !ok {
		return nil, fmt.Errorf("unknown plan %q", aa.Plan)
	}
	home := policy.RegionID(policy.None)
	if aa.HomeRegion != "" {
		if home, ok = m.Region(aa.HomeRegion); !ok {
			return nil, fmt.Errorf("unknown home_region %q", aa.HomeRegion)
		}
	}
	var data []policy.RegionID
	if aa.DataRegions != nil {
		data = []policy.RegionID{}
		for _, r := range aa.DataRegions {
			id, ok := m.Region(r)
			if !ok {
				return nil, fmt.Errorf("unknown region %q in data_regions", r)
			}
			data = append(data, id)
		}
	}
	return m.NewAccount(aa.ID, plan, home, data), nil
}

// client is where a request comes from: its country (geo.NoCountry when unknown) and location.
type client struct {
	addr     netip.Addr
	country  geo.Country
	location geo.LatLon
	located  bool
}

func (s *Server) locate(r *http.Request) (client, error) {
	addr, err := s.cfg.Proxies.ClientAddr(r)
	if err != nil {
		return client{}, err
	}
	c := client{addr: addr, country: geo.NoCountry}
	if s.cfg.GeoIP != nil {
		res, err := s.cfg.GeoIP.Lookup(addr)
		if err == nil && res.Found {
			if k, ok := geo.LookupCountry(res.Country); ok {
				c.country = k
				c.location, c.located = k.Centroid(), true
				if res.HasLocation {
					c.location = geo.LatLon{Lat: res.Location.Lat, Lon: res.Location.Lon}
				}
			}
		}
	}
	if c.country == geo.NoCountry {
		s.metrics.geoipUnknown.Inc()
	}
	return c, nil
}

type createMeetingRequest struct {
	HostAccount string `json:"host_account"`
	Mode        string `json:"mode,omitempty"`
}

type meetingJSON struct {
	ID          string `json:"id"`
	Region      string `json:"region"`
	Mode        string `json:"mode"`
	HostAccount string `json:"host_account"`
	Home        string `json:"home,omitempty"`
}

func (mt *meeting) json() meetingJSON {
	return meetingJSON{ID: mt.id, Region: mt.region, Mode: mt.mode, HostAccount: mt.hostAccount, Home: mt.home}
}

func (s *Server) createMeeting(w http.ResponseWriter, r *http.Request) {
	var req createMeetingRequest
	if err := jsonapi.Decode(r.Body, &req); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "%v", err)
		return
	}
	switch req.Mode {
	case "":
		req.Mode = wire.ModeManaged
	case wire.ModeManaged, wire.ModeE2EE:
	default:
		fail(w, http.StatusBadRequest, "bad_request", "mode %q: want %q or %q", req.Mode, wire.ModeManaged, wire.ModeE2EE)
		return
	}
	m := s.Model()
	acct, ok := s.account(m, req.HostAccount)
	if !ok {
		fail(w, http.StatusNotFound, "unknown_account", "no account %q", req.HostAccount)
		return
	}
	// The data region is sticky: the host's home region, else the region of the host's country.
	region := acct.HomeRegion
	if region == policy.None {
		c, err := s.locate(r)
		if err != nil {
			fail(w, http.StatusBadRequest, "bad_request", "%v", err)
			return
		}
		region = m.RegionOf(c.country)
	}
	mt := &meeting{id: newID(), hostAccount: acct.ID, region: m.Regions[region].ID, mode: req.Mode, created: s.now()}
	s.mu.Lock()
	s.meetings[mt.id] = mt
	s.mu.Unlock()
	jsonapi.Write(w, http.StatusCreated, mt.json())
}

func (s *Server) getMeeting(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	mt := s.meetings[r.PathValue("id")]
	var j meetingJSON
	if mt != nil {
		j = mt.json()
	}
	s.mu.Unlock()
	if mt == nil {
		fail(w, http.StatusNotFound, "unknown_meeting", "no meeting %q", r.PathValue("id"))
		return
	}
	jsonapi.Write(w, http.StatusOK, j)
}

type joinRequest struct {
	Account     string `json:"account"`
	Participant string `json:"participant,omitempty"`
	PublicKey   string `json:"public_key,omitempty"`
}

// TicketDC is a datacenter in a join answer.
type TicketDC = wire.DC

// JoinResponse is the 200 answer to a join (DESIGN.md section 7).
type JoinResponse struct {
	Meeting   string     `json:"meeting"`
	Region    string     `json:"region"`
	Home      string     `json:"home"`
	Primary   []TicketDC `json:"primary"`
	Secondary []TicketDC `json:"secondary"`
	KMS       []TicketDC `json:"kms"`
	Expires   time.Time  `json:"expires"`
	Token     string     `json:"token"`
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req joinRequest
	if err := jsonapi.Decode(r.Body, &req); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "%v", err)
		return
	}
	if req.Participant == "" {
		req.Participant = newID()
	} else if !validID.MatchString(req.Participant) {
		fail(w, http.StatusBadRequest, "bad_request", "participant id must be 1-128 letters, digits, '.', '_' or '-'")
		return
	}
	if len(req.PublicKey) > 4096 {
		fail(w, http.StatusBadRequest, "bad_request", "public_key is longer than 4096 characters")
		return
	}
	m := s.Model()
	pacct, ok := s.account(m, req.Account)
	if !ok {
		fail(w, http.StatusNotFound, "unknown_account", "no account %q", req.Account)
		return
	}
	c, err := s.locate(r)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "%v", err)
		return
	}
	p := route.Participant{Region: m.RegionOf(c.country), Plan: pacct.Plan, Location: c.location, Located: c.located}

	s.mu.Lock()
	mt := s.meetings[r.PathValue("id")]
	if mt == nil {
		s.mu.Unlock()
		fail(w, http.StatusNotFound, "unknown_meeting", "no meeting %q", r.PathValue("id"))
		return
	}
	hostAcct, okHost := m.Accounts[mt.hostAccount]
	if !okHost {
		hostAcct, okHost = s.apiAccountLocked(m, mt.hostAccount)
	}
	mreg, okReg := m.Region(mt.region)
	if !okHost || !okReg {
		s.mu.Unlock()
		fail(w, http.StatusConflict, "meeting_stale", "meeting %s refers to an account or region the current config no longer has", mt.id)
		return
	}
	rm := route.Meeting{Region: mreg, HostPlan: hostAcct.Plan, Narrow: hostAcct.Narrowing(), Home: policy.None, E2EE: mt.mode == wire.ModeE2EE}
	st := s.stateForLocked(m, mreg, mt.home)
	rehomed := false
	if mt.home != "" {
		if h, ok := m.DC(mt.home); ok && !st.Down[h] {
			rm.Home = h
		} else {
			rehomed = true // the home is down (or gone): this join re-homes the meeting
		}
	}
	var sel route.Selection
	selStart := time.Now()
	err = route.Select(m, p, rm, st, &sel)
	s.metrics.selection.Observe(time.Since(selStart).Seconds())
	if err != nil {
		s.mu.Unlock()
		s.refuse(w, m, p, mt, err)
		return
	}
	if rm.Home == policy.None {
		first := sel.Primary
		if len(first) == 0 {
			first = sel.Secondary
		}
		mt.home = m.DCs[first[0]].ID
		if rehomed {
			s.metrics.rehomes.Inc()
		}
	}
	// Count the placement on the DC the client will try first, so a burst of joins between
	// two load reports spreads instead of all landing on one DC.
	if len(sel.Primary) > 0 {
		s.dcs[sel.Primary[0]].placed++
	} else {
		s.dcs[sel.Secondary[0]].placed++
	}
	home, mode := mt.home, mt.mode
	s.mu.Unlock()

	claims := wire.Claims{
		Meeting: mt.id, Participant: req.Participant, Account: pacct.ID, Mode: mode,
		Region: m.Regions[mreg].ID, Home: home,
		Primary:   s.dcList(m, sel.Primary, s.cfg.Endpoints),
		Secondary: s.dcList(m, sel.Secondary, s.cfg.Endpoints),
		KMS:       s.dcList(m, sel.KMS, s.cfg.KMSEndpoints),
		Context: wire.Context{
			ParticipantCountry: c.country.Code(),
			ParticipantRegion:  m.Regions[p.Region].ID,
			ParticipantPlan:    m.Plans[p.Plan].ID,
			MeetingRegion:      m.Regions[mreg].ID,
			HostAccount:        hostAcct.ID,
			HostPlan:           m.Plans[hostAcct.Plan].ID,
			HostDataRegions:    regionIDs(m, hostAcct.DataRegions),
		},
		PublicKey: req.PublicKey,
	}
	token, err := s.cfg.Signer.Sign(claims, s.cfg.TicketTTL)
	if err != nil {
		s.log.Error("sign ticket", "meeting", mt.id, "err", err)
		fail(w, http.StatusInternalServerError, "internal", "could not sign the ticket")
		return
	}
	// Every routing answer is logged (I6): what was decided, for whom, on which rule context.
	if s.log.Enabled(r.Context(), slog.LevelInfo) {
		s.log.Info("join answered", "meeting", mt.id, "participant", req.Participant, "account", pacct.ID,
			"participant_country", claims.Context.ParticipantCountry, "participant_region", claims.Context.ParticipantRegion,
			"meeting_region", claims.Region, "home", home, "primary", dcIDs(claims.Primary), "secondary", dcIDs(claims.Secondary),
			"kms", dcIDs(claims.KMS))
	}
	if len(sel.Secondary) > 0 {
		s.metrics.secondaries.Add(float64(len(sel.Secondary)))
	}
	s.metrics.joins.WithLabelValues(m.Regions[mreg].ID, "ok").Inc()
	s.metrics.joinLatency.Observe(time.Since(start).Seconds())
	jsonapi.Write(w, http.StatusOK, JoinResponse{
		Meeting: mt.id, Region: claims.Region, Home: home,
		Primary: claims.Primary, Secondary: nonNil(claims.Secondary), KMS: nonNil(claims.KMS),
		Expires: s.now().Add(s.cfg.TicketTTL).UTC().Truncate(time.Second), Token: token,
	})
}

func dcIDs(d []TicketDC) []string {
	out := make([]string, len(d))
	for i, x := range d {
		out[i] = x.ID
	}
	return out
}

func nonNil(d []TicketDC) []TicketDC {
	if d == nil {
		return []TicketDC{}
	}
	return d
}

func regionIDs(m *policy.Model, rs []policy.RegionID) []string {
	if rs == nil {
		return nil
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = m.Regions[r].ID
	}
	return out
}

func (s *Server) dcList(m *policy.Model, ids []policy.DCID, endpoints map[string]string) []TicketDC {
	if len(ids) == 0 {
		return nil
	}
	out := make([]TicketDC, len(ids))
	for i, d := range ids {
		out[i] = TicketDC{ID: m.DCs[d].ID, Country: m.DCs[d].Country.Code(), Endpoint: endpoints[m.DCs[d].ID]}
	}
	return out
}

// refuse answers a refused join (I4): explicit, counted, logged.
func (s *Server) refuse(w http.ResponseWriter, m *policy.Model, p route.Participant, mt *meeting, err error) {
	var ref *route.Refusal
	if !errors.As(err, &ref) {
		fail(w, http.StatusInternalServerError, "internal", "selection failed")
		return
	}
	s.metrics.joins.WithLabelValues(mt.region, ref.Code).Inc()
	rules := ref.Rules
	if len(rules) == 0 {
		s.metrics.refusals.WithLabelValues(ref.Code, "").Inc()
	}
	for _, rule := range rules {
		s.metrics.refusals.WithLabelValues(ref.Code, rule).Inc()
	}
	s.log.Warn("join refused", "meeting", mt.id, "code", ref.Code, "participant_region", m.Regions[p.Region].ID,
		"plan", m.Plans[p.Plan].ID, "message", ref.Message)
	switch ref.Code {
	case route.CodeNoCapacity:
		secs := int((s.cfg.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		jsonapi.Write(w, http.StatusServiceUnavailable, apiError{Error: ref.Code, Message: ref.Message, RetryAfter: secs})
	default:
		if rules == nil {
			rules = []string{}
		}
		jsonapi.Write(w, http.StatusForbidden, struct {
			Error   string   `json:"error"`
			Message string   `json:"message"`
			Rules   []string `json:"rules"`
		}{ref.Code, ref.Message, rules})
	}
}

// stateLocked is route's view of live state: a DC is down when it never reported, its last
// report is older than StaleAfter or says unhealthy; its utilization counts the placements made
// since that report. Callers hold s.mu; the slices are reused.
func (s *Server) stateLocked(m *policy.Model) route.State {
	now := s.now()
	for i := range s.dcs {
		s.refreshLocked(m, policy.DCID(i), now)
	}
	return route.State{Down: s.down, Utilization: s.util}
}

// stateForLocked is stateLocked for one join: it refreshes only the DCs selection can read
// for a meeting of region r (its lists) and the meeting's home, so a join's cost under the
// lock does not grow with the number of DCs in the world. Other entries may be stale; the
// selection for region r never reads them.
func (s *Server) stateForLocked(m *policy.Model, r policy.RegionID, home string) route.State {
	now := s.now()
	rt := &m.Routes[r]
	for _, list := range [...][]policy.Entry{rt.Primary, rt.Secondary, rt.KMS} {
		for _, e := range list {
			s.refreshLocked(m, e.DC, now)
		}
	}
	if h, ok := m.DC(home); ok {
		s.refreshLocked(m, h, now)
	}
	return route.State{Down: s.down, Utilization: s.util}
}

// refreshLocked recomputes route's view of one DC.
func (s *Server) refreshLocked(m *policy.Model, d policy.DCID, now time.Time) {
	st := &s.dcs[d]
	s.down[d] = st.lastReport.IsZero() || !st.healthy || now.Sub(st.lastReport) > s.cfg.StaleAfter
	s.util[d] = float64(st.reported+st.placed) / float64(m.DCs[d].Capacity)
}

// LiveState returns a copy of route's view of live state.
func (s *Server) LiveState() (*policy.Model, route.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.Model()
	st := s.stateLocked(m)
	return m, route.State{Down: slices.Clone(st.Down), Utilization: slices.Clone(st.Utilization)}
}

type loadReport struct {
	Participants *int64 `json:"participants"`
	Healthy      *bool  `json:"healthy"`
}

func (s *Server) putLoad(w http.ResponseWriter, r *http.Request) {
	m := s.Model()
	id := r.PathValue("id")
	d, ok := m.DC(id)
	if !ok {
		s.metrics.reports.WithLabelValues("unknown_dc").Inc()
		fail(w, http.StatusNotFound, "unknown_datacenter", "no datacenter %q", id)
		return
	}
	if !s.authorized(r, id) {
		s.metrics.reports.WithLabelValues("unauthorized").Inc()
		fail(w, http.StatusUnauthorized, "unauthorized", "load reports for %s need its credential (Authorization: Bearer ...)", id)
		return
	}
	var rep loadReport
	if err := jsonapi.Decode(r.Body, &rep); err != nil {
		s.metrics.reports.WithLabelValues("bad_request").Inc()
		fail(w, http.StatusBadRequest, "bad_request", "%v", err)
		return
	}
	if rep.Participants == nil || rep.Healthy == nil {
		fail(w, http.StatusBadRequest, "bad_request", `a load report needs "participants" and "healthy"`)
		return
	}
	if *rep.Participants < 0 {
		fail(w, http.StatusBadRequest, "bad_request", "participants must not be negative")
		return
	}
	s.mu.Lock()
	if m == s.Model() {
		s.dcs[d] = dcState{reported: *rep.Participants, healthy: *rep.Healthy, lastReport: s.now()}
	}
	s.mu.Unlock()
	s.metrics.reports.WithLabelValues("ok").Inc()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) authorized(r *http.Request, dc string) bool {
	if want, ok := s.cfg.Credentials[dc]; ok && want != "" {
		got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return found && constantTimeEqual(got, want)
	}
	if s.cfg.TrustLoopbackReports {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ap.Addr().Unmap().IsLoopback() {
			return true
		}
	}
	return false
}

// DatacenterJSON is one entry of GET /v1/datacenters.
type DatacenterJSON struct {
	ID           string    `json:"id"`
	Country      string    `json:"country"`
	Region       string    `json:"region"`
	Capacity     int64     `json:"capacity"`
	Services     []string  `json:"services"`
	Dedicated    string    `json:"dedicated,omitempty"`
	Participants int64     `json:"participants"`
	Placed       int64     `json:"placed"`
	Utilization  float64   `json:"utilization"`
	Healthy      bool      `json:"healthy"`
	Down         bool      `json:"down"`
	LastReport   time.Time `json:"last_report,omitzero"`
}

// Datacenters is the state of every DC.
func (s *Server) Datacenters() []DatacenterJSON {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.Model()
	st := s.stateLocked(m)
	out := make([]DatacenterJSON, len(m.DCs))
	for i := range m.DCs {
		dc, d := &m.DCs[i], &s.dcs[i]
		var svc []string
		if dc.Media {
			svc = append(svc, "media")
		}
		if dc.KMS {
			svc = append(svc, "kms")
		}
		out[i] = DatacenterJSON{ID: dc.ID, Country: dc.Country.Code(), Region: m.Regions[dc.Region].ID, Capacity: dc.Capacity,
			Services: svc, Dedicated: dc.Dedicated, Participants: d.reported, Placed: d.placed,
			Utilization: st.Utilization[i], Healthy: d.healthy, Down: st.Down[i], LastReport: d.lastReport}
	}
	return out
}

func (s *Server) listDatacenters(w http.ResponseWriter, r *http.Request) {
	jsonapi.Write(w, http.StatusOK, s.Datacenters())
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	eq := explain.Query{
		Country: q.Get("country"), Plan: q.Get("plan"), Account: q.Get("account"),
		MeetingRegion: q.Get("meeting_region"), HostPlan: q.Get("host_plan"), Home: q.Get("home"),
		Down: explain.SplitList(q.Get("down")),
	}
	if eq.Country == "" {
		fail(w, http.StatusBadRequest, "bad_request", "country is required, e.g. ?country=US")
		return
	}
	if f := q.Get("from"); f != "" {
		p, err := explain.ParseLatLon(f)
		if err != nil {
			fail(w, http.StatusBadRequest, "bad_request", "from: %v", err)
			return
		}
		eq.From = &p
	}
	var err error
	if eq.Load, err = explain.ParseLoad(q.Get("load")); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "load: %v", err)
		return
	}
	m, st := s.LiveState()
	if eq.Account != "" {
		if _, ok := m.Accounts[eq.Account]; !ok {
			// API accounts are explained too: lend explain a model view with it.
			if a, ok := s.account(m, eq.Account); ok {
				m = withAccount(m, a)
			}
		}
	}
	a, err := explain.Run(m, eq, st)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "%v", err)
		return
	}
	jsonapi.Write(w, http.StatusOK, a)
}

// withAccount is a shallow copy of m that also knows account a.
func withAccount(m *policy.Model, a *policy.Account) *policy.Model {
	c := *m
	c.Accounts = make(map[string]*policy.Account, len(m.Accounts)+1)
	for k, v := range m.Accounts {
		c.Accounts[k] = v
	}
	c.Accounts[a.ID] = a
	return &c
}

type accountJSON struct {
	ID          string   `json:"id"`
	Plan        string   `json:"plan"`
	HomeRegion  string   `json:"home_region,omitempty"`
	DataRegions []string `json:"data_regions,omitempty"`
	Source      string   `json:"source"`
}

func (s *Server) putAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID.MatchString(id) {
		fail(w, http.StatusBadRequest, "bad_request", "account id must be 1-128 letters, digits, '.', '_' or '-'")
		return
	}
	var req struct {
		Plan        string   `json:"plan"`
		HomeRegion  string   `json:"home_region,omitempty"`
		DataRegions []string `json:"data_regions,omitempty"`
	}
	if err := jsonapi.Decode(r.Body, &req); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "%v", err)
		return
	}
	m := s.Model()
	if _, ok := m.Accounts[id]; ok {
		fail(w, http.StatusConflict, "config_account", "account %s is defined in the config; change it there", id)
		return
	}
	aa := &apiAccount{ID: id, Plan: req.Plan, HomeRegion: req.HomeRegion, DataRegions: req.DataRegions}
	if _, err := buildAccount(m, aa); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", "%v", err)
		return
	}
	s.mu.Lock()
	_, existed := s.accounts[id]
	s.accounts[id] = aa
	s.mu.Unlock()
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	jsonapi.Write(w, status, accountJSON{ID: id, Plan: aa.Plan, HomeRegion: aa.HomeRegion, DataRegions: aa.DataRegions, Source: "api"})
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m := s.Model()
	if a, ok := m.Accounts[id]; ok {
		home := ""
		if a.HomeRegion != policy.None {
			home = m.Regions[a.HomeRegion].ID
		}
		jsonapi.Write(w, http.StatusOK, accountJSON{ID: id, Plan: m.Plans[a.Plan].ID, HomeRegion: home,
			DataRegions: regionIDs(m, a.DataRegions), Source: "config"})
		return
	}
	s.mu.Lock()
	aa := s.accounts[id]
	s.mu.Unlock()
	if aa == nil {
		fail(w, http.StatusNotFound, "unknown_account", "no account %q", id)
		return
	}
	jsonapi.Write(w, http.StatusOK, accountJSON{ID: id, Plan: aa.Plan, HomeRegion: aa.HomeRegion, DataRegions: aa.DataRegions, Source: "api"})
}
