// Package directory is the directory core (DESIGN.md sections 4, 7 and 9): meetings, the
// accounts created at run time and the live state of every datacenter, and the join that
// turns them into a ticket's claims, or an explicit refusal (I4). It is a Go API
// ([Core.CreateMeeting], [Core.Join], [Core.EndMeeting], [Core.ReportLoad], [Core.LiveState])
// over a small [Store], with an in-memory implementation here ([MemoryStore]); a replicated
// store plugs in at the same seam.
//
// It decides nothing about residency itself: every join is route.Join (section 4's selection
// and home rule) on the model in force and the live state. It neither signs tickets nor speaks
// HTTP, and it does not authenticate anyone: package directoryhttp does both and calls it;
// the simulator calls it directly.
package directory

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultStaleAfter = 10 * time.Second
	DefaultRetryAfter = 5 * time.Second
	// DefaultStoreTimeout bounds a call to the store: longer than an etcd leader election.
	DefaultStoreTimeout = 3 * time.Second
	// DefaultMeetingIdle is how long a meeting lives after its creation or its last join
	// when nobody joins it: a working day and a half, so that a meeting scheduled in the
	// morning for the next day's start still exists.
	DefaultMeetingIdle = 36 * time.Hour
	// DefaultMaxMeetingsPerAccount bounds the open meetings of one host account.
	DefaultMaxMeetingsPerAccount = 10000
)

// Config is what a Core needs. Model is required; the zero value of every other field is its
// documented default. The Core keeps a copy.
type Config struct {
	// Model is the policy in force at start. Required.
	Model *policy.Model
	// Store keeps meetings and API accounts. Nil: a new MemoryStore.
	Store Store
	// Stores are the stores the config declares (its stores section), by id: a meeting's
	// record goes only to the store of its region, and only when the meeting's rules allow
	// that store's country (I1: the store is a location). A meeting whose store has no entry
	// here is refused with store_unavailable, never written elsewhere. Nil: every meeting goes
	// to Store (the config declares no stores, or the deployment runs one).
	Stores map[string]Store
	// Endpoints maps a DC id to the URL its media server listens on, KMSEndpoints to its key
	// server's. Missing entries give tickets without an endpoint.
	Endpoints, KMSEndpoints map[string]string
	// StaleAfter is how old a DC's last load report may be before it counts as down.
	// Default DefaultStaleAfter.
	StaleAfter time.Duration
	// RetryAfter is the hint given with no_capacity. Default DefaultRetryAfter.
	RetryAfter time.Duration
	// StoreTimeout bounds each call to the Store. Default DefaultStoreTimeout.
	StoreTimeout time.Duration
	// MeetingIdle is how long a meeting lives without a join. Default DefaultMeetingIdle. To
	// spare the store a write per join, a join pushes the deadline forward only when less
	// than half of it is left: a meeting ends between MeetingIdle/2 and MeetingIdle after its
	// last join, and never while joins come at least every MeetingIdle/2.
	MeetingIdle time.Duration
	// MaxMeetingsPerAccount bounds a host account's open meetings. Default
	// DefaultMaxMeetingsPerAccount; negative: no bound.
	MaxMeetingsPerAccount int
	// ExtraKeys are join-token keys registered on accounts outside the config and the store
	// (`geofence dev` registers one of its own on an example account).
	ExtraKeys []ExtraKey
	// Unverified records that the model was started with --allow-unverified; it is exported
	// as a metric so it can be alerted on.
	Unverified bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives one record per decision (I6); default slog.Default().
	Logger *slog.Logger
	// Registry receives the core's metrics; nil registers none.
	Registry prometheus.Registerer
	// Decisions, when set, is told of every join the core answers or refuses by selection
	// (I6: package audit's Recorder writes them to the evidence log). An error it returns
	// makes the core refuse the join with evidence_unavailable: that is the evidence log's
	// strict mode, and a Decisions that must never stop joins returns nil.
	Decisions Decisions
}

// Decisions receives the core's join decisions (I6).
//
// A join is decided here, so an answered join is reported here, with the claims the ticket
// will carry; the ticket's id and expiry are set only when directoryhttp signs it, and are
// not in the report: the claims, the meeting record's revision and the time identify the
// ticket for an auditor, and a signing failure (which does not happen with a healthy key)
// leaves the evidence of an answer that was not sent, never the reverse. Callers without a
// signer (the simulator) get the same reports.
type Decisions interface {
	// JoinDecided is called once per answered join and once per join refused by selection
	// (residency_conflict, plan_conflict, no_capacity), before the answer is returned. Joins
	// refused before selection (bad or unauthenticated requests, unknown meetings) are not
	// decisions about residency and are not reported.
	JoinDecided(ctx context.Context, d *JoinDecision) error
}

// JoinDecision is one join decision: Claims for an answered join, Refusal for a refused one.
type JoinDecision struct {
	// Time is when the core decided.
	Time time.Time
	// Model is the model the decision was made on.
	Model *policy.Model
	// Meeting is the meeting, Account and Participant who joined, Where where from.
	Meeting, Account, Participant string
	Where                         Where
	// Context is the rule context of the decision (the ticket's, for an answered join).
	Context wire.Context
	// Claims are the answered ticket's claims; nil for a refusal.
	Claims *wire.Claims
	// Refusal is the refusal; nil for an answered join.
	Refusal *Error
}

// ExtraKey is a join-token key of an account, registered with Config.ExtraKeys.
type ExtraKey struct {
	Account, KID string
	Public       ed25519.PublicKey
}

// Core is the directory core. It is safe for concurrent use.
type Core struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	// model is the model in force, read without a lock on every request. Live state is
	// indexed by a model's DCIDs, so it is read and changed only under mu, against
	// live.Model(): a request whose model is not live.Model() starts again (see withLive).
	model atomic.Pointer[policy.Model]
	mu    sync.Mutex
	live  *route.Live

	acctMu   sync.Mutex
	accounts map[string]*builtAccount // API accounts built against a model, by id

	// Shared load reports, when the store is a LoadStore (see shareLoad).
	loads    LoadStore
	instance string // this core's id in the reports it shares
	pendMu   sync.Mutex
	pending  map[string]LoadReport // reports not yet stored, latest per DC
	kick     chan struct{}

	// media is the latest media load each DC's media server reported, by DC id, read and
	// written under mu. Values are never changed once stored (Datacenters hands them out).
	media map[string]*wire.MediaLoad
	// memOnly: every store is InMemory (see storeCtx).
	memOnly bool
	// metered: the metrics go to a registry. Without one nobody can read them, and the join
	// path skips timing and counting.
	metered bool
}

// builtAccount is an API account in the terms of one model, so that joins do not rebuild its
// narrowing each time.
type builtAccount struct {
	model *policy.Model
	rev   int64
	acct  *policy.Account
	keys  map[string]ed25519.PublicKey
}

// New makes a Core.
func New(cfg Config) (*Core, error) {
	if cfg.Model == nil {
		return nil, errors.New("new directory: no model")
	}
	if cfg.StaleAfter < 0 || cfg.RetryAfter < 0 || cfg.MeetingIdle < 0 {
		return nil, errors.New("new directory: stale-after, retry-after and meeting idle timeout must not be negative")
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.MeetingIdle == 0 {
		cfg.MeetingIdle = DefaultMeetingIdle
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.MaxMeetingsPerAccount == 0 {
		cfg.MaxMeetingsPerAccount = DefaultMaxMeetingsPerAccount
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Core{cfg: cfg, store: cfg.Store, log: cfg.Logger, now: cfg.Now, accounts: map[string]*builtAccount{}, media: map[string]*wire.MediaLoad{}}
	_, c.memOnly = cfg.Store.(InMemory)
	for _, s := range cfg.Stores {
		if _, ok := s.(InMemory); !ok {
			c.memOnly = false
		}
	}
	c.metered = cfg.Registry != nil
	if ls, ok := cfg.Store.(LoadStore); ok {
		c.loads, c.instance = ls, newID()
		c.pending, c.kick = map[string]LoadReport{}, make(chan struct{}, 1)
	}
	c.live = route.NewLive(cfg.Model, cfg.StaleAfter)
	c.model.Store(cfg.Model)
	m, err := newMetrics(c, cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("new directory: %w", err)
	}
	c.metrics = m
	if cfg.Unverified {
		c.log.Warn("directory serving a config that does not verify (--allow-unverified); run-time checks still enforce the rules")
	}
	return c, nil
}

// Model is the model in force.
func (c *Core) Model() *policy.Model { return c.model.Load() }

// Store is the core's store.
func (c *Core) Store() Store { return c.store }

// SetModel swaps in a new model atomically (a config change). DC live state is kept for DCs
// that still exist; meetings keep their region and home by id, and API accounts are rebuilt
// against the new model on first use.
// With Config.Decisions set, record the change there first (audit.Recorder.ConfigChanged):
// decisions on a model the evidence log has not seen name no config, and fail audit verify.
func (c *Core) SetModel(m *policy.Model) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live.Rebase(m)
	c.model.Store(m)
}

// withLive runs fn on the live state if it is still indexed by model m, and reports whether
// it ran. Every use of live state goes through it (or lockedLive), so the lock is always
// released, also when fn panics.
func (c *Core) withLive(m *policy.Model, fn func(l *route.Live)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live.Model() != m {
		return false
	}
	fn(c.live)
	return true
}

// lockedLive runs fn on the live state and the model it is indexed by.
func (c *Core) lockedLive(fn func(m *policy.Model, l *route.Live)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c.live.Model(), c.live)
}

// Error is a request the core refuses: a wire error code, a message for the caller, and for
// refusals of selection the rules and the retry hint.
type Error struct {
	Code       string
	Message    string
	Rules      []string      // residency_conflict: the rules that excluded the DCs
	RetryAfter time.Duration // no_capacity
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ValidID reports whether id may name a participant, an account or a key: 1 to 128 letters,
// digits, '.', '_' or '-', the ids join tokens carry (identity.ValidID).
func ValidID(id string) bool { return identity.ValidID(id) }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID is a random id of 80 bits.
func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// Where is where a client is, as the caller located it.
type Where struct {
	// Country is where its address geolocates to; geo.NoCountry when unknown (the client is
	// then in the default region, at no location).
	Country geo.Country
	// Location is used when Located.
	Location geo.LatLon
	Located  bool
	// Addr is the client's address in text form, for the evidence log (which records only its
	// keyed hash); "" when the caller has none.
	Addr string
}

// CreateMeeting is a request to create a meeting.
type CreateMeeting struct {
	// HostAccount is the host's account. Required.
	HostAccount string
	// Mode is wire.ModeManaged (default) or wire.ModeE2EE.
	Mode string
	// Host is where the host is: a meeting of an account without a home region takes the
	// region of its host's country.
	Host Where
	// ID is the new meeting's id; "" (every API caller) gives a random one. A caller that
	// chooses ids, as the simulator does so that its store finds a record by index, keeps
	// them unique among open meetings and ValidID.
	ID string
}

// CreateMeeting creates a meeting and returns its record.
func (c *Core) CreateMeeting(ctx context.Context, req CreateMeeting) (MeetingRecord, error) {
	switch req.Mode {
	case "":
		req.Mode = wire.ModeManaged
	case wire.ModeManaged, wire.ModeE2EE:
	default:
		return MeetingRecord{}, errorf(wire.CodeBadRequest, "mode %q: want %q or %q", req.Mode, wire.ModeManaged, wire.ModeE2EE)
	}
	if req.ID == "" {
		req.ID = newID()
	} else if !ValidID(req.ID) {
		return MeetingRecord{}, errorf(wire.CodeBadRequest, "meeting id must be 1-128 letters, digits, '.', '_' or '-'")
	}
	m := c.Model()
	acct, _, err := c.account(ctx, m, req.HostAccount)
	if err != nil {
		return MeetingRecord{}, err
	}
	// The data region is sticky: the host's home region, else the region of its country.
	region := acct.HomeRegion
	if region == policy.None {
		region = m.RegionOf(req.Host.Country)
	}
	now := c.now()
	rec := MeetingRecord{ID: req.ID, HostAccount: acct.ID, Region: m.Regions[region].ID, Mode: req.Mode,
		Created: now, Expires: now.Add(c.cfg.MeetingIdle)}
	store, storeID, err := c.storeFor(m, region, acct.Plan)
	if err != nil {
		return MeetingRecord{}, err
	}
	rec.Store = storeID
	sctx, cancel := c.storeCtx(ctx)
	defer cancel()
	rec, err = store.CreateMeeting(sctx, rec, max(c.cfg.MaxMeetingsPerAccount, 0))
	if errors.Is(err, ErrLimit) {
		c.metrics.limits.WithLabelValues("meetings_per_account").Inc()
		return MeetingRecord{}, errorf(wire.CodeLimit, "account %s already has %d open meetings; end some (DELETE /v1/meetings/{id}) or wait for idle ones to expire",
			acct.ID, c.cfg.MaxMeetingsPerAccount)
	}
	if errors.Is(err, ErrExists) {
		return MeetingRecord{}, errorf(wire.CodeBadRequest, "a meeting %s is open already", rec.ID)
	}
	if err != nil {
		return MeetingRecord{}, c.storeError("create meeting", err)
	}
	c.metrics.created.Inc()
	if c.log.Enabled(ctx, slog.LevelInfo) { // the arguments cost an allocation each
		c.log.Info("meeting created", "meeting", rec.ID, "host_account", rec.HostAccount, "region", rec.Region, "mode", rec.Mode)
	}
	return rec, nil
}

// storeFor is the store that may hold the state of a meeting of region r hosted on plan p, and
// its config id: the region's store when the config declares stores, refused when the
// meeting's rules forbid its country (I1) or the deployment has not given it.
func (c *Core) storeFor(m *policy.Model, r policy.RegionID, p policy.PlanID) (Store, string, error) {
	if c.cfg.Stores == nil || len(m.Stores) == 0 {
		return c.store, "", nil
	}
	st, ok := m.StoreOf(r)
	if !ok {
		return nil, "", errorf(wire.CodeStoreUnavailable, "the config gives region %s no store", m.Regions[r].ID)
	}
	if v := m.CheckStore(r, p, st); !v.Allowed() {
		c.metrics.refusals.WithLabelValues(wire.CodeResidencyConflict, m.Rules[v.Rule].ID).Inc()
		return nil, "", &Error{Code: wire.CodeResidencyConflict, Rules: []string{m.Rules[v.Rule].ID},
			Message: fmt.Sprintf("the meetings of region %s would be kept in store %s in %s, which rule %s forbids for plan %s",
				m.Regions[r].ID, m.Stores[st].ID, m.Stores[st].Country.Code(), m.Rules[v.Rule].ID, m.Plans[p].ID)}
	}
	s, ok := c.cfg.Stores[m.Stores[st].ID]
	if !ok {
		return nil, "", &Error{Code: wire.CodeStoreUnavailable, RetryAfter: c.cfg.RetryAfter,
			Message: fmt.Sprintf("store %s, which keeps the meetings of region %s, is not configured in this directory", m.Stores[st].ID, m.Regions[r].ID)}
	}
	return s, m.Stores[st].ID, nil
}

// storeOf is the store holding a meeting record.
func (c *Core) storeOf(rec *MeetingRecord) Store {
	if rec.Store == "" || c.cfg.Stores == nil {
		return c.store
	}
	if s, ok := c.cfg.Stores[rec.Store]; ok {
		return s
	}
	return c.store
}

// Meeting returns a meeting that has not expired.
func (c *Core) Meeting(ctx context.Context, id string) (MeetingRecord, error) {
	ctx, cancel := c.storeCtx(ctx)
	defer cancel()
	rec, err := c.lookupMeeting(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && !rec.Expires.After(c.now()) {
		return MeetingRecord{}, errorf(wire.CodeUnknownMeeting, "no meeting %q (it may have ended or expired)", id)
	}
	if err != nil {
		return MeetingRecord{}, c.storeError("read meeting", err)
	}
	return rec, nil
}

// EndMeeting ends a meeting: later joins are refused.
func (c *Core) EndMeeting(ctx context.Context, id string) error {
	ctx, cancel := c.storeCtx(ctx)
	defer cancel()
	rec, err := c.lookupMeeting(ctx, id)
	if err == nil {
		err = c.storeOf(&rec).DeleteMeeting(ctx, id)
	}
	if errors.Is(err, ErrNotFound) {
		return errorf(wire.CodeUnknownMeeting, "no meeting %q", id)
	}
	if err != nil {
		return c.storeError("end meeting", err)
	}
	c.metrics.ended.Inc()
	if c.log.Enabled(ctx, slog.LevelInfo) {
		c.log.Info("meeting ended", "meeting", id)
	}
	return nil
}

// Sweep ends the meetings whose idle timeout has passed and returns how many. Run calls it
// periodically; a meeting past its timeout is refused whether swept or not.
func (c *Core) Sweep(ctx context.Context) (int, error) {
	n := 0
	var err error
	for _, s := range c.storeList() {
		k, e := s.ExpireMeetings(ctx, c.now())
		n += k
		err = cmp.Or(err, e)
	}
	if n > 0 {
		c.metrics.meetings.WithLabelValues("expired").Add(float64(n))
	}
	return n, err
}

// Run sweeps expired meetings until ctx is done; on a store that shares load reports it also
// stores the reports this core receives and applies those the other directories receive.
func (c *Core) Run(ctx context.Context) {
	if c.loads != nil {
		go c.loads.WatchLoad(ctx, c.applyShared)
		go c.shareLoad(ctx)
	}
	t := time.NewTicker(min(max(c.cfg.MeetingIdle/8, time.Second), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.Sweep(ctx); err != nil {
				c.log.Error("sweep expired meetings", "err", err)
			}
		}
	}
}

// storeError is the answer when the store fails (unreachable, timed out): a refusal with a
// retry hint, never a decision taken without the store (DESIGN.md section 9). It is counted.
// lookupMeeting finds a meeting in the store that holds it: the one store, or each of the
// config's stores in turn (their copies answer without a round trip).
func (c *Core) lookupMeeting(ctx context.Context, id string) (MeetingRecord, error) {
	if c.cfg.Stores == nil {
		return c.store.Meeting(ctx, id)
	}
	var firstErr error
	for _, s := range c.storeList() {
		rec, err := s.Meeting(ctx, id)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, ErrNotFound) && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return MeetingRecord{}, firstErr
	}
	return MeetingRecord{}, fmt.Errorf("meeting %s: %w", id, ErrNotFound)
}

// storeList is every store, the default first, then the config's by id.
func (c *Core) storeList() []Store {
	out := []Store{c.store}
	ids := make([]string, 0, len(c.cfg.Stores))
	for id := range c.cfg.Stores {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if s := c.cfg.Stores[id]; s != c.store {
			out = append(out, s)
		}
	}
	return out
}

func (c *Core) storeError(op string, err error) *Error {
	c.log.Error(op, "err", err)
	c.metrics.storeErrors.WithLabelValues(strings.ReplaceAll(op, " ", "_")).Inc()
	return &Error{Code: wire.CodeStoreUnavailable, Message: "the directory's shared state cannot be reached right now; retry shortly",
		RetryAfter: c.cfg.RetryAfter}
}

// storeCtx bounds one call to the store, so that an unreachable store answers a request with
// a refusal instead of holding it.
//
// InMemory stores answer without waiting and need no bound: the context (and its timer) is
// spared, which for the simulator's millions of reads was most of their cost.
func (c *Core) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.memOnly {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.StoreTimeout)
}

// JoinRequest is an authenticated participant asking to join a meeting. The caller has
// established Account and Participant (from a join token, or a trusted dev loopback).
type JoinRequest struct {
	Meeting     string
	Account     string
	Participant string // "": a random id is given
	// PublicKey is the participant's HPKE public key (keywrap's text form), or "".
	PublicKey string
	Where     Where
}

// JoinResult is an answered join: the ticket's claims (to be signed), and the placement in
// the model's terms.
type JoinResult struct {
	Claims    wire.Claims
	Model     *policy.Model
	Placement route.Placement

	lists []wire.DC // the claims' three lists, one array
}

// maxJoinAttempts bounds how often a join starts again when the model or the meeting changed
// under it.
const maxJoinAttempts = 8

// Join answers a join: section 4's selection and home rule on the live state, the home moved
// by compare-and-swap on the meeting's record, the placement counted. A refusal is an *Error
// (residency_conflict, plan_conflict, no_capacity, unknown_meeting, unknown_account,
// meeting_stale, bad_request).
func (c *Core) Join(ctx context.Context, req JoinRequest) (*JoinResult, error) {
	res := new(JoinResult)
	if err := c.JoinInto(ctx, req, res); err != nil {
		return nil, err
	}
	return res, nil
}

// JoinInto is Join answering into res, whose lists' storage it reuses: for a caller that
// answers joins one after another and keeps nothing of an answer once it has read it (the
// simulator). After an error res holds nothing of use.
func (c *Core) JoinInto(ctx context.Context, req JoinRequest, res *JoinResult) error {
	if req.Participant == "" {
		req.Participant = newID()
	} else if !ValidID(req.Participant) {
		return errorf(wire.CodeBadRequest, "participant id must be 1-128 letters, digits, '.', '_' or '-'")
	}
	if req.PublicKey != "" {
		if len(req.PublicKey) > 4096 {
			return errorf(wire.CodeBadRequest, "public_key is longer than 4096 characters")
		}
		if _, err := keywrap.ParsePublicKey(req.PublicKey); err != nil {
			return errorf(wire.CodeBadRequest, "public_key: %v", err)
		}
	}
	for range maxJoinAttempts {
		err := c.joinOnce(ctx, &req, res)
		if !errors.Is(err, errRetry) {
			return err
		}
	}
	c.log.Error("join gave up: the meeting or the config kept changing", "meeting", req.Meeting)
	return &Error{Code: wire.CodeNoCapacity, Message: "the meeting is changing; retry shortly", RetryAfter: time.Second}
}

// errRetry: the model or the meeting record changed during the join; start again.
var errRetry = errors.New("retry")

func (c *Core) joinOnce(ctx context.Context, req *JoinRequest, res *JoinResult) error {
	m := c.Model()
	pacct, _, err := c.account(ctx, m, req.Account)
	if err != nil {
		return err
	}
	rec, err := c.Meeting(ctx, req.Meeting)
	if err != nil {
		return err
	}
	hostAcct, herr := pacct, error(nil) // a meeting of the participant's own account: read once
	if rec.HostAccount != pacct.ID {
		hostAcct, _, herr = c.account(ctx, m, rec.HostAccount)
	}
	mreg, okReg := m.Region(rec.Region)
	if herr != nil || !okReg {
		return errorf(wire.CodeMeetingStale, "meeting %s refers to an account or region the current config no longer has", rec.ID)
	}
	p := route.Participant{Region: m.RegionOf(req.Where.Country), Plan: pacct.Plan, Location: req.Where.Location, Located: req.Where.Located}
	rm := route.Meeting{Region: mreg, HostPlan: hostAcct.Plan, Narrow: hostAcct.Narrowing(), Home: policy.None, E2EE: rec.Mode == wire.ModeE2EE}
	if h, ok := m.DC(rec.Home); ok {
		rm.Home = h
	}

	now := c.now()
	extend := rec.Expires.Sub(now) < c.cfg.MeetingIdle/2
	pl := &res.Placement
	var selErr error
	ran := c.withLive(m, func(l *route.Live) {
		st := l.State(now)
		if c.metered {
			start := time.Now()
			selErr = route.Join(m, p, rm, st, pl)
			c.metrics.selection.Observe(time.Since(start).Seconds())
		} else {
			selErr = route.Join(m, p, rm, st, pl)
		}
		// When the record need not change, count the placement in the same critical section
		// as the selection, so that a burst of joins spreads.
		if selErr == nil && pl.Home == rm.Home && !extend {
			l.Place(pl.First)
		}
	})
	if !ran {
		return errRetry // the config changed: select on the new model
	}
	if selErr != nil {
		return c.refuse(ctx, m, p, rec, req, pacct.ID, hostAcct, selErr)
	}
	if pl.Home != rm.Home || extend {
		rec.Home = m.DCs[pl.Home].ID
		rec.Expires = now.Add(c.cfg.MeetingIdle)
		sctx, cancel := c.storeCtx(ctx)
		rec, err = c.storeOf(&rec).UpdateMeeting(sctx, rec)
		cancel()
		if errors.Is(err, ErrConflict) {
			return errRetry // another join moved the home first: follow it
		}
		if errors.Is(err, ErrNotFound) {
			return errorf(wire.CodeUnknownMeeting, "meeting %q ended", req.Meeting)
		}
		if err != nil {
			return c.storeError("update meeting", err)
		}
		if pl.Rehomed {
			c.metrics.rehomes.Inc()
			c.log.Info("meeting re-homed", "meeting", rec.ID, "home", rec.Home, "revision", rec.Revision)
		}
		c.withLive(m, func(l *route.Live) { l.Place(pl.First) })
	}

	// The claims are built in the result, and the three lists share one array, the
	// result's (reused by JoinInto).
	res.Model = m
	if n := len(pl.Primary) + len(pl.Secondary) + len(pl.KMS); cap(res.lists) < n {
		res.lists = make([]wire.DC, 0, n)
	}
	lists := res.lists[:0]
	claims := &res.Claims
	*claims = wire.Claims{
		Meeting: rec.ID, Participant: req.Participant, Account: pacct.ID, Mode: rec.Mode,
		Region: rec.Region, Home: rec.Home, HomeCountry: m.DCs[pl.Home].Country.Code(), Revision: rec.Revision,
		Primary:   dcList(&lists, m, pl.Primary, c.cfg.Endpoints),
		Secondary: dcList(&lists, m, pl.Secondary, c.cfg.Endpoints),
		KMS:       dcList(&lists, m, pl.KMS, c.cfg.KMSEndpoints),
		Context: wire.Context{
			ParticipantCountry: req.Where.Country.Code(),
			ParticipantRegion:  m.Regions[p.Region].ID,
			ParticipantPlan:    m.Plans[p.Plan].ID,
			MeetingRegion:      rec.Region,
			HostAccount:        hostAcct.ID,
			HostPlan:           m.Plans[hostAcct.Plan].ID,
			HostDataRegions:    regionIDs(m, hostAcct.DataRegions),
		},
		PublicKey: req.PublicKey,
	}
	// Every routing answer is logged (I6): what was decided, for whom, on which rule context.
	if c.log.Enabled(ctx, slog.LevelInfo) {
		c.log.Info("join answered", "meeting", rec.ID, "participant", req.Participant, "account", pacct.ID,
			"participant_country", claims.Context.ParticipantCountry, "participant_region", claims.Context.ParticipantRegion,
			"meeting_region", claims.Region, "home", rec.Home, "primary", dcIDs(claims.Primary), "secondary", dcIDs(claims.Secondary),
			"kms", dcIDs(claims.KMS))
	}
	if c.cfg.Decisions != nil {
		d := &JoinDecision{Time: now, Model: m, Meeting: rec.ID, Account: pacct.ID, Participant: req.Participant,
			Where: req.Where, Context: claims.Context, Claims: claims}
		if err := c.cfg.Decisions.JoinDecided(ctx, d); err != nil {
			return c.evidenceUnavailable(rec.Region, err)
		}
	}
	if c.metered {
		if len(pl.Secondary) > 0 {
			c.metrics.secondaries.Add(float64(len(pl.Secondary)))
		}
		c.metrics.joins.WithLabelValues(rec.Region, "ok").Inc()
	}
	return nil
}

// evidenceUnavailable is the answer to a join whose decision the evidence log could not take
// (strict mode, I6): no evidence, no answer. The placement it made stays counted until the
// DC's next load report, which errs towards spreading joins.
func (c *Core) evidenceUnavailable(region string, err error) *Error {
	c.metrics.joins.WithLabelValues(region, wire.CodeEvidenceUnavailable).Inc()
	c.log.Error("join refused: its evidence could not be written", "err", err)
	return &Error{Code: wire.CodeEvidenceUnavailable, Message: "the directory cannot record decisions right now; retry shortly", RetryAfter: c.cfg.RetryAfter}
}

// refuse turns a refusal of selection into an *Error (I4): explicit, counted, logged, and
// reported to Config.Decisions.
func (c *Core) refuse(ctx context.Context, m *policy.Model, p route.Participant, rec MeetingRecord, req *JoinRequest, account string, host *policy.Account, err error) error {
	var ref *route.Refusal
	if !errors.As(err, &ref) {
		c.log.Error("selection failed", "meeting", rec.ID, "err", err)
		return errorf(wire.CodeInternal, "selection failed")
	}
	c.metrics.joins.WithLabelValues(rec.Region, ref.Code).Inc()
	if len(ref.Rules) == 0 {
		c.metrics.refusals.WithLabelValues(ref.Code, "").Inc()
	}
	for _, rule := range ref.Rules {
		c.metrics.refusals.WithLabelValues(ref.Code, rule).Inc()
	}
	c.log.Warn("join refused", "meeting", rec.ID, "code", ref.Code, "participant_region", m.Regions[p.Region].ID,
		"plan", m.Plans[p.Plan].ID, "rules", ref.Rules, "message", ref.Message)
	e := &Error{Code: ref.Code, Message: ref.Message, Rules: ref.Rules}
	if e.Rules == nil {
		e.Rules = []string{}
	}
	if ref.Code == route.CodeNoCapacity {
		e.RetryAfter = c.cfg.RetryAfter
	}
	if c.cfg.Decisions != nil {
		d := &JoinDecision{Time: c.now(), Model: m, Meeting: rec.ID, Account: account, Participant: req.Participant, Where: req.Where,
			Context: wire.Context{
				ParticipantCountry: req.Where.Country.Code(), ParticipantRegion: m.Regions[p.Region].ID, ParticipantPlan: m.Plans[p.Plan].ID,
				MeetingRegion: rec.Region, HostAccount: host.ID, HostPlan: m.Plans[host.Plan].ID, HostDataRegions: regionIDs(m, host.DataRegions),
			},
			Refusal: e}
		if err := c.cfg.Decisions.JoinDecided(ctx, d); err != nil {
			return c.evidenceUnavailable(rec.Region, err)
		}
	}
	return e
}

// dcList appends the DCs of ids to *buf (which has the room) and returns them as a list of
// their own, never nil: lists are always arrays.
func dcList(buf *[]wire.DC, m *policy.Model, ids []policy.DCID, endpoints map[string]string) []wire.DC {
	from := len(*buf)
	for _, d := range ids {
		var ep string
		if endpoints != nil {
			ep = endpoints[m.DCs[d].ID]
		}
		*buf = append(*buf, wire.DC{ID: m.DCs[d].ID, Country: m.DCs[d].Country.Code(), Endpoint: ep})
	}
	return (*buf)[from:len(*buf):len(*buf)]
}

func dcIDs(d []wire.DC) []string {
	out := make([]string, len(d))
	for i, x := range d {
		out[i] = x.ID
	}
	return out
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

// ReportLoad records a DC's load report from a DC without a media server (a bare DC agent).
func (c *Core) ReportLoad(id string, participants int64, healthy bool) error {
	return c.ReportMediaLoad(id, participants, healthy, nil)
}

// ReportMediaLoad records a DC's load report with what its media server carries (sessions,
// tracks, bit rates, bridges); media nil: the DC runs no media server, and the media load it
// reported before is forgotten. The core keeps a copy of media.
func (c *Core) ReportMediaLoad(id string, participants int64, healthy bool, media *wire.MediaLoad) error {
	if participants < 0 {
		return errorf(wire.CodeBadRequest, "participants must not be negative")
	}
	if err := checkMedia(media); err != nil {
		return err
	}
	media = cloneMedia(media)
	var found bool
	c.lockedLive(func(m *policy.Model, l *route.Live) {
		d, ok := m.DC(id)
		if found = ok; ok {
			l.Report(d, participants, healthy, c.now())
			c.setMedia(id, media)
		}
	})
	if !found {
		c.metrics.reports.WithLabelValues("unknown_dc").Inc()
		return errorf(wire.CodeUnknownDatacenter, "no datacenter %q", id)
	}
	c.metrics.reports.WithLabelValues("ok").Inc()
	if c.loads != nil {
		c.pendMu.Lock()
		c.pending[id] = LoadReport{DC: id, Participants: participants, Healthy: healthy, Media: media, At: c.now(), By: c.instance}
		c.pendMu.Unlock()
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// maxBridges bounds the bridge entries of one media load report: one per peer DC, so a
// report with more names DCs that do not exist.
const maxBridges = 1024

// checkMedia refuses a media load with negative counts or more bridges than a deployment has
// DCs.
func checkMedia(ml *wire.MediaLoad) error {
	if ml == nil {
		return nil
	}
	if ml.Sessions < 0 || ml.Meetings < 0 || ml.TracksIn < 0 || ml.TracksOut < 0 || ml.BitsInPerSecond < 0 || ml.BitsOutPerSecond < 0 {
		return errorf(wire.CodeBadRequest, "media: counts and bit rates must not be negative")
	}
	if len(ml.Bridges) > maxBridges {
		return errorf(wire.CodeBadRequest, "media: %d bridges, at most %d", len(ml.Bridges), maxBridges)
	}
	for _, b := range ml.Bridges {
		if b.Direction != "in" && b.Direction != "out" {
			return errorf(wire.CodeBadRequest, `media: bridge to %q: direction %q, want "in" or "out"`, b.Datacenter, b.Direction)
		}
		if b.Meetings < 0 || b.TracksIn < 0 || b.TracksOut < 0 {
			return errorf(wire.CodeBadRequest, "media: bridge to %q: counts must not be negative", b.Datacenter)
		}
	}
	return nil
}

func cloneMedia(ml *wire.MediaLoad) *wire.MediaLoad {
	if ml == nil {
		return nil
	}
	out := *ml
	out.Bridges = slices.Clone(ml.Bridges)
	return &out
}

// setMedia keeps a DC's latest media load; the caller holds mu.
func (c *Core) setMedia(id string, ml *wire.MediaLoad) {
	if ml == nil {
		delete(c.media, id)
		return
	}
	c.media[id] = ml
}

// shareLoad stores the reports this core received, latest per DC, until ctx is done. A
// report that cannot be stored is dropped (the next one follows within a report interval);
// this core's own live state has it already.
func (c *Core) shareLoad(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		c.pendMu.Lock()
		batch := c.pending
		c.pending = map[string]LoadReport{}
		c.pendMu.Unlock()
		for _, r := range batch {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := c.loads.PutLoad(pctx, r, c.cfg.StaleAfter); err != nil {
				c.log.Warn("share a load report", "dc", r.DC, "err", err)
			}
			cancel()
		}
	}
}

// applyShared applies a report another directory received; this core's own come back through
// the same watch and are skipped, as are reports older than the one this core has.
func (c *Core) applyShared(r LoadReport) {
	if r.By == c.instance {
		return
	}
	c.lockedLive(func(m *policy.Model, l *route.Live) {
		if d, ok := m.DC(r.DC); ok && r.At.After(l.DC(d).LastReport) && checkMedia(r.Media) == nil {
			l.Report(d, r.Participants, r.Healthy, r.At)
			c.setMedia(r.DC, cloneMedia(r.Media))
		}
	})
}

// LiveState returns the model in force and a copy of route's view of live state.
func (c *Core) LiveState() (*policy.Model, route.State) {
	var (
		m  *policy.Model
		st route.State
	)
	c.lockedLive(func(lm *policy.Model, l *route.Live) {
		s := l.State(c.now())
		m, st = lm, route.State{Down: slices.Clone(s.Down), Utilization: slices.Clone(s.Utilization)}
	})
	return m, st
}

// Datacenters is the state of every DC.
func (c *Core) Datacenters() []wire.Datacenter {
	var out []wire.Datacenter
	c.lockedLive(func(m *policy.Model, l *route.Live) {
		st := l.State(c.now())
		out = make([]wire.Datacenter, len(m.DCs))
		for i := range m.DCs {
			dc, d := &m.DCs[i], l.DC(policy.DCID(i))
			svc := []string{}
			if dc.Media {
				svc = append(svc, "media")
			}
			if dc.KMS {
				svc = append(svc, "kms")
			}
			out[i] = wire.Datacenter{ID: dc.ID, Country: dc.Country.Code(), Region: m.Regions[dc.Region].ID, Capacity: dc.Capacity,
				Services: svc, Dedicated: dc.Dedicated, Participants: d.Reported, Placed: d.Placed,
				Utilization: st.Utilization[i], Healthy: d.Healthy, Down: st.Down[i], LastReport: d.LastReport, Media: c.media[dc.ID]}
		}
	})
	return out
}
