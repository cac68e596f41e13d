package agent

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/internal/cors"
	"github.com/geofence/geofence/internal/fault"
	"github.com/geofence/geofence/internal/httpserve"
	"github.com/geofence/geofence/internal/jsonapi"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultReportInterval = 2 * time.Second
	DefaultDrainTimeout   = 10 * time.Second
	// DefaultSessionTTL is how long a session lives without a heartbeat. A client sends one
	// every third of it, so a session survives two lost heartbeats.
	DefaultSessionTTL = 30 * time.Second
)

// Paths the agent serves (docs/agent.md).
const (
	ConnectPath    = wire.ConnectPath
	HeartbeatPath  = wire.HeartbeatPath
	DisconnectPath = wire.DisconnectPath
	HealthPath     = "/healthz"
	MetricsPath    = "/metrics"
)

// maxBody bounds the request bodies the agent reads: a connect body is a ticket (at most
// ticket.MaxTokenSize) in a small JSON object.
const maxBody = ticket.MaxTokenSize + 1024

// retryAfterSeconds is the Retry-After the agent sends with a 503: about one load report
// interval, after which the directory knows better.
const retryAfterSeconds = 2

// Config configures an Agent. ID, Model and Keys are required; every other field's zero value
// is its default. The Agent keeps a copy: changing Config after New has no effect.
type Config struct {
	// ID is the id of the agent's datacenter in Model. Required.
	ID string
	// Model is the policy the agent enforces: its own copy, never the directory's word.
	// Required.
	Model *policy.Model
	// Keys verifies tickets, in production a *ticket.RemoteKeys on the directory's key set.
	// Required.
	Keys admission.TicketVerifier

	// Directory is the directory's base URL, for load reports; "" sends none.
	Directory string
	// Credential, when set, is sent as "Authorization: Bearer <Credential>" with load reports.
	Credential string
	// HTTPClient sends load reports; nil means http.DefaultClient.
	HTTPClient *http.Client
	// ReportInterval is the time between load reports; zero means DefaultReportInterval.
	ReportInterval time.Duration
	// SessionTTL is how long a session lives after its connect or its last heartbeat; zero
	// means DefaultSessionTTL. It is at least a second: clients are told it in seconds.
	SessionTTL time.Duration
	// DrainTimeout bounds how long Serve waits, once its context is done, for requests in
	// flight to finish; zero means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// HTTP bounds the HTTP server (deadlines, header size, connections held); its zero value
	// is package httpserve's defaults. Its Name, Logger, Metrics and DrainTimeout are the
	// agent's.
	HTTP httpserve.Options
	// Now is the clock of session times and expiry; nil means time.Now. (Ticket lifetimes are
	// checked with Keys' clock.)
	Now func() time.Time
	// Logger receives the agent's logs; nil means none.
	Logger *slog.Logger
	// Registry, when set, gets the agent's metrics (see metrics.go) and its HTTP server's
	// (package httpserve); several agents can share one, each labelled with its datacenter.
	Registry prometheus.Registerer
	// Metrics, when set, is served at GET /metrics (for example promhttp.HandlerFor the
	// Registry's gatherer).
	Metrics http.Handler
	// Page, when set, is served to anyone at GET /meet/ (the meeting page, package meetingui,
	// with its path prefix stripped).
	Page http.Handler
	// Unverified says the config failed `geofence verify` and runs anyway
	// (--allow-unverified): the agent logs it at error level when it starts and exports
	// geofence_agent_config_unverified 1. Its admission checks are the same either way.
	Unverified bool
}

// Agent is a running DC agent. Create one with New and run it with Serve.
type Agent struct {
	cfg      Config
	dc       policy.DCID
	capacity atomic.Int64
	model    atomic.Pointer[policy.Model] // the policy in force; SetModel swaps it
	admitter *admission.Admitter
	log      *slog.Logger
	metrics  *metrics
	http     *httpserve.Metrics
	faults   fault.Injector
	serving  atomic.Bool
	media    Media // the media server, when SetMedia gave one

	mu       sync.Mutex
	sessions map[string]*session   // by id
	byParty  map[identity]*session // the one session of each participant in a meeting
	byExpiry list.List             // of *session, soonest expiry first
}

// identity is who holds a session: a participant of an account, in a meeting. The account is
// part of it because participant ids are the account's own (the subject of its join tokens):
// another account's "alice" is someone else, and must not be able to replace this one's
// session.
type identity struct {
	meeting, account, participant string
}

type session struct {
	id      string
	who     identity
	ticket  string // the ticket's id (jti), for the log
	started time.Time
	expires time.Time
	elem    *list.Element // in Agent.byExpiry; nil for a media session, which ends with its connection
	end     func()        // a media session's: closes its connection when it is replaced
}

// Media is a DC's media server (package sfu): the agent serves its signalling at
// wire.RTCPath, puts its load in every load report, and drains it when it drains.
type Media interface {
	http.Handler
	Load() wire.MediaLoad
	Drain(ctx context.Context)
}

// SetMedia makes m the datacenter's media server. It must be called before Serve.
func (a *Agent) SetMedia(m Media) error {
	if a.serving.Load() {
		return fmt.Errorf("agent %s: SetMedia after Serve", a.cfg.ID)
	}
	a.media = m
	return nil
}

// Hold opens a media session for the participant of verified, admitted claims c: the one
// session it holds in its meeting (DESIGN.md section 8), replacing any it held (an HTTP
// session, or another media connection, whose end is called), within the datacenter's
// capacity (503 no_capacity beyond it, I4). The media server calls it; release ends the
// session and may be called more than once.
func (a *Agent) Hold(c *wire.Claims, end func()) (release func(), ref *admission.Refusal) {
	s, n, old, ref := a.openSession(c, end)
	if ref != nil {
		a.metrics.admissions.WithLabelValues(ref.Code).Inc()
		return nil, ref
	}
	if old != nil {
		a.log.Info("media session replaces the participant's session", "meeting", c.Meeting, "account", c.Account,
			"participant", c.Participant, "ticket", c.ID, "replaced_ticket", old.ticket, "participants", n)
	}
	return func() { a.close(s.id) }, nil
}

// openSession opens the session of verified, admitted claims c, an HTTP session or (end
// set) a media one: the participant's one session in its meeting, replacing the one it held
// (whose end is called), within the datacenter's capacity. It returns the session, the
// number open after, the one replaced, or the refusal (not counted: the caller counts it).
func (a *Agent) openSession(c *wire.Claims, end func()) (s *session, n int, old *session, ref *admission.Refusal) {
	id, err := newSessionID()
	if err != nil {
		return nil, 0, nil, &admission.Refusal{Status: http.StatusInternalServerError, Code: wire.CodeInternal,
			Message: "the datacenter could not open a session; try another datacenter", Cause: err}
	}
	s = &session{id: id, who: identity{c.Meeting, c.Account, c.Participant}, ticket: c.ID, end: end}
	n, old, ok := a.open(s)
	if !ok {
		// I4: full is an explicit refusal; the client moves on to its next datacenter.
		return nil, n, nil, &admission.Refusal{Status: http.StatusServiceUnavailable, Code: wire.CodeNoCapacity,
			Message: fmt.Sprintf("datacenter %s is full (%d participants)", a.cfg.ID, a.capacity.Load())}
	}
	a.metrics.admissions.WithLabelValues(OutcomeAdmitted).Inc()
	if old != nil {
		// One session per participant and meeting: a replayed ticket, or a client that
		// reconnected, takes over the session rather than adding load.
		a.metrics.replaced.Inc()
		if old.end != nil {
			old.end()
		}
	}
	return s, n, old, nil
}

// New checks cfg and returns an Agent for it.
func New(cfg Config) (*Agent, error) {
	if cfg.Model == nil {
		return nil, errors.New("new agent: no policy model")
	}
	if cfg.Keys == nil {
		return nil, errors.New("new agent: no ticket verifier")
	}
	dc, ok := cfg.Model.DC(cfg.ID)
	if !ok {
		return nil, fmt.Errorf("new agent: datacenter %q is not in the config", cfg.ID)
	}
	if !cfg.Model.DCs[dc].Media {
		return nil, fmt.Errorf("new agent: datacenter %s does not run the media service", cfg.ID)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SessionTTL < time.Second {
		return nil, fmt.Errorf("new agent %s: session TTL %v is less than a second", cfg.ID, cfg.SessionTTL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registry, cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("new agent %s: %w", cfg.ID, err)
	}
	hm, err := httpserve.NewMetrics(cfg.Registry)
	if err != nil {
		m.unregister(cfg.Registry)
		return nil, fmt.Errorf("new agent %s: %w", cfg.ID, err)
	}
	if cfg.Unverified {
		m.unverified.Set(1)
	}
	a := &Agent{
		cfg:      cfg,
		dc:       dc,
		log:      log.With("datacenter", cfg.ID),
		metrics:  m,
		http:     hm,
		sessions: make(map[string]*session),
		byParty:  make(map[identity]*session),
	}
	a.model.Store(cfg.Model)
	a.capacity.Store(cfg.Model.DCs[dc].Capacity)
	a.admitter = &admission.Admitter{Model: a.model.Load, DC: cfg.ID, Keys: cfg.Keys}
	return a, nil
}

// SetModel swaps in a new policy (a pushed config, verified by the caller): admissions from
// then on are checked with it. A policy in which this datacenter no longer runs the media
// service is refused, and the agent keeps the one it has.
func (a *Agent) SetModel(m *policy.Model) {
	d, ok := m.DC(a.cfg.ID)
	if !ok || !m.DCs[d].Media {
		a.log.Error("new config refused: it no longer has this datacenter running the media service; keeping the config in force")
		return
	}
	a.model.Store(m)
	a.capacity.Store(m.DCs[d].Capacity)
	a.log.Info("config swapped in")
}

// Model is the policy in force at the agent (the last SetModel's).
func (a *Agent) Model() *policy.Model { return a.model.Load() }

// ID is the agent's datacenter id.
func (a *Agent) ID() string { return a.cfg.ID }

// SessionTTL is how long a session lives without a heartbeat.
func (a *Agent) SessionTTL() time.Duration { return a.cfg.SessionTTL }

// Participants is the number of sessions open now; those past their TTL are expired first.
func (a *Agent) Participants() int {
	a.expire()
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions)
}

// SetFault sets the failure the agent simulates from now on; FaultNone clears it. It is safe
// to call at any time, before Serve too.
func (a *Agent) SetFault(f Fault) {
	a.faults.Set(f)
	a.log.Info("fault set", "fault", f.String())
}

// Fault returns the failure the agent simulates.
func (a *Agent) Fault() Fault { return a.faults.Mode() }

// Serve serves the agent's HTTP API on ln, bounded by Config.HTTP, expires sessions and sends
// load reports until ctx is done; then it drains: it tells the directory the datacenter is
// unhealthy, stops accepting, waits up to DrainTimeout for requests in flight, closes every
// connection (black-holed ones too) and returns nil. It returns earlier, with an error, when
// ln fails. Serve closes ln. It may be called once.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	if !a.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("serve agent %s: already served", a.cfg.ID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The HTTP server drains once the last load report is sent, so that the directory stops
	// sending participants here before this agent stops answering them.
	srvCtx, drain := context.WithCancel(context.WithoutCancel(ctx))
	defer drain()

	opts := a.cfg.HTTP
	opts.Name, opts.Logger, opts.Metrics, opts.DrainTimeout = "agent/"+a.cfg.ID, a.log, a.http, a.cfg.DrainTimeout
	if a.cfg.Unverified {
		a.log.Error("serving a config that failed geofence verify (--allow-unverified); admissions still enforce its rules")
	}
	a.log.Info("serving", "addr", ln.Addr().String(), "session_ttl", a.cfg.SessionTTL)

	served := make(chan error, 1)
	go func() {
		served <- httpserve.Serve(srvCtx, a.faults.Listener(ln, srvCtx.Done()), a.handler(), opts)
	}()
	var loops sync.WaitGroup
	if a.cfg.Directory != "" {
		loops.Go(func() { a.reportLoop(ctx) })
	}
	loops.Go(func() { a.expireLoop(ctx) })

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serve agent %s: %w", a.cfg.ID, err)
		served = nil
		cancel()
	}
	loops.Wait()
	if a.cfg.Directory != "" {
		// Drain: the directory stops sending participants here now rather than after its
		// stale_after.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ReportInterval)
		a.report(rctx, false)
		rcancel()
	}
	if a.media != nil {
		// WebSocket connections are hijacked: the HTTP server's drain does not see them.
		mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.DrainTimeout)
		a.media.Drain(mctx)
		mcancel()
	}
	drain()
	if served != nil {
		if serr := <-served; serr != nil {
			err = fmt.Errorf("serve agent %s: %w", a.cfg.ID, serr)
		}
	}
	a.log.Info("stopped", "participants", a.Participants())
	return err
}

// expireLoop expires sessions a few times per TTL, so that the participant gauge and the
// logs follow expiries when nothing else asks (every request expires what is due first).
func (a *Agent) expireLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.SessionTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.expire()
		}
	}
}

func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	// Participant endpoints: any origin (the meeting page of another server).
	cors.HandleFunc(mux, "POST "+ConnectPath, a.connect)
	cors.HandleFunc(mux, "POST "+HeartbeatPath, a.heartbeat)
	cors.HandleFunc(mux, "POST "+DisconnectPath, a.disconnect)
	mux.HandleFunc("GET "+HealthPath, a.health)
	if a.cfg.Metrics != nil {
		mux.Handle("GET "+MetricsPath, a.cfg.Metrics)
	}
	if a.media != nil {
		mux.Handle("GET "+wire.RTCPath, a.media)
	}
	if a.cfg.Page != nil {
		mux.Handle("GET /meet/", a.cfg.Page)
	}
	return mux
}

func badRequest(msg string) *admission.Refusal {
	return &admission.Refusal{Status: http.StatusBadRequest, Code: wire.CodeBadRequest, Message: msg}
}

func (a *Agent) connect(w http.ResponseWriter, r *http.Request) {
	var req wire.Connect
	if err := jsonapi.DecodeLenient(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		a.refuse(w, r, badRequest(err.Error()), nil)
		return
	}
	if req.Token == "" {
		a.refuse(w, r, badRequest(`request has no "token"`), nil)
		return
	}
	c, ref := a.admitter.Admit(r.Context(), req.Token, admission.Media)
	if ref != nil {
		a.refuse(w, r, ref, c)
		return
	}
	s, n, old, ref := a.openSession(c, nil)
	if ref != nil {
		a.refuse(w, r, ref, c)
		return
	}
	id := s.id
	attrs := []any{"meeting", c.Meeting, "account", c.Account, "participant", c.Participant,
		"lists", c.Lists(a.cfg.ID), "participant_region", c.Context.ParticipantRegion, "ticket", c.ID, "participants", n}
	if old != nil {
		a.log.Info("admitted, replacing the participant's session", append(attrs,
			"replaced_ticket", old.ticket, "replaced_after", s.started.Sub(old.started))...)
	} else {
		a.log.Info("admitted", attrs...)
	}
	jsonapi.Write(w, http.StatusOK, wire.Connected{
		Datacenter: a.cfg.ID, Participant: c.Participant, Session: id,
		SessionTTL: int(a.cfg.SessionTTL / time.Second),
	})
}

// open adds s, timed from now, replacing the session its participant holds in its meeting if
// any. It returns the number of sessions after, the session replaced, and false when the
// datacenter is full (a replacement never is: it frees the session it takes).
func (a *Agent) open(s *session) (n int, replaced *session, ok bool) {
	a.expire()
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	replaced = a.byParty[s.who]
	if replaced != nil {
		a.removeLocked(replaced)
	} else if int64(len(a.sessions)) >= a.capacity.Load() {
		return len(a.sessions), nil, false
	}
	s.started, s.expires = now, now.Add(a.cfg.SessionTTL)
	if s.end == nil {
		s.elem = a.byExpiry.PushBack(s)
	} else {
		s.expires = time.Time{} // ends with its connection, never by TTL
	}
	a.sessions[s.id] = s
	a.byParty[s.who] = s
	n = len(a.sessions)
	a.metrics.participants.Set(float64(n))
	return n, replaced, true
}

// renew extends session id for another TTL from now; false when there is no such session.
func (a *Agent) renew(id string) (*session, bool) {
	a.expire()
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[id]
	if !ok || s.elem == nil || !now.Before(s.expires) {
		return nil, false
	}
	s.expires = now.Add(a.cfg.SessionTTL)
	// Every session lives the same TTL, so the one renewed now expires last.
	a.byExpiry.MoveToBack(s.elem)
	return s, true
}

// close ends session id; false when there is no such session.
func (a *Agent) close(id string) (s *session, n int, ok bool) {
	a.expire()
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok = a.sessions[id]
	if ok {
		a.removeLocked(s)
		a.metrics.participants.Set(float64(len(a.sessions)))
	}
	return s, len(a.sessions), ok
}

// expire drops the sessions whose TTL has passed, and logs them.
func (a *Agent) expire() {
	now := a.cfg.Now()
	expired, n := a.takeExpired(now)
	for _, s := range expired {
		a.log.Info("session expired", "meeting", s.who.meeting, "account", s.who.account, "participant", s.who.participant,
			"ticket", s.ticket, "last_heartbeat", s.expires.Add(-a.cfg.SessionTTL), "duration", s.expires.Sub(s.started), "participants", n)
	}
}

func (a *Agent) takeExpired(now time.Time) ([]*session, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var expired []*session
	for e := a.byExpiry.Front(); e != nil; e = a.byExpiry.Front() {
		s := e.Value.(*session)
		if now.Before(s.expires) {
			break
		}
		a.removeLocked(s)
		expired = append(expired, s)
	}
	if len(expired) > 0 {
		a.metrics.expired.Add(float64(len(expired)))
		a.metrics.participants.Set(float64(len(a.sessions)))
	}
	return expired, len(a.sessions)
}

func (a *Agent) removeLocked(s *session) {
	if s.elem != nil {
		a.byExpiry.Remove(s.elem)
	}
	delete(a.sessions, s.id)
	if a.byParty[s.who] == s {
		delete(a.byParty, s.who)
	}
}

// refuse answers with ref, counts and logs it. c is nil when the ticket did not verify.
func (a *Agent) refuse(w http.ResponseWriter, r *http.Request, ref *admission.Refusal, c *wire.Claims) {
	a.metrics.admissions.WithLabelValues(ref.Code).Inc()
	attrs := []any{"code", ref.Code, "status", ref.Status, "message", ref.Message, "remote", r.RemoteAddr}
	if ref.Rule != "" {
		attrs = append(attrs, "rule", ref.Rule)
	}
	if ref.Cause != nil {
		attrs = append(attrs, "err", ref.Cause)
	}
	if c != nil {
		attrs = append(attrs, "meeting", c.Meeting, "account", c.Account, "participant", c.Participant, "ticket", c.ID)
	}
	switch ref.Code {
	case wire.CodeBadRequest, wire.CodeNoCapacity:
		a.log.Info("connect refused", attrs...)
	case wire.CodeKeysUnavailable, wire.CodeInternal:
		a.log.Error("connect refused", attrs...)
	default:
		// The directory or the client should never have sent this ticket here: the run-time
		// layer caught what an earlier one missed, or someone is probing.
		a.log.Warn("connect refused", attrs...)
	}
	body := ref.Body()
	if ref.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		body.RetryAfter = retryAfterSeconds
	}
	jsonapi.Write(w, ref.Status, body)
}

// decodeSession reads a heartbeat or disconnect body: one JSON object with a non-empty
// "session".
func decodeSession(w http.ResponseWriter, r *http.Request) (string, bool) {
	var req wire.Session
	err := jsonapi.DecodeLenient(http.MaxBytesReader(w, r.Body, maxBody), &req)
	if err == nil && req.Session == "" {
		err = errors.New(`request has no "session"`)
	}
	if err != nil {
		jsonapi.Write(w, http.StatusBadRequest, wire.Error{Error: wire.CodeBadRequest, Message: err.Error()})
		return "", false
	}
	return req.Session, true
}

func (a *Agent) unknownSession(w http.ResponseWriter) {
	jsonapi.Write(w, http.StatusNotFound, wire.Error{Error: wire.CodeUnknownSession,
		Message: fmt.Sprintf("no such session at datacenter %s: it was disconnected, replaced by a newer connect of the same participant, "+
			"or went %v without a heartbeat; connect again", a.cfg.ID, a.cfg.SessionTTL)})
}

func (a *Agent) heartbeat(w http.ResponseWriter, r *http.Request) {
	id, ok := decodeSession(w, r)
	if !ok {
		return
	}
	if _, ok := a.renew(id); !ok {
		a.metrics.heartbeats.WithLabelValues(wire.CodeUnknownSession).Inc()
		a.unknownSession(w)
		return
	}
	a.metrics.heartbeats.WithLabelValues("ok").Inc()
	w.WriteHeader(http.StatusNoContent)
}

func (a *Agent) disconnect(w http.ResponseWriter, r *http.Request) {
	id, ok := decodeSession(w, r)
	if !ok {
		return
	}
	s, n, ok := a.close(id)
	if !ok {
		a.unknownSession(w)
		return
	}
	a.log.Info("disconnected", "meeting", s.who.meeting, "account", s.who.account, "participant", s.who.participant,
		"duration", a.cfg.Now().Sub(s.started), "participants", n)
	w.WriteHeader(http.StatusNoContent)
}

func (a *Agent) health(w http.ResponseWriter, r *http.Request) {
	jsonapi.Write(w, http.StatusOK, struct {
		Status       string `json:"status"`
		Datacenter   string `json:"datacenter"`
		Participants int    `json:"participants"`
	}{"ok", a.cfg.ID, a.Participants()})
}

// newSessionID returns 128 random bits: a session id is the only thing that lets its holder
// renew and end the session.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
