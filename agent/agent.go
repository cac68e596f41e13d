package agent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/wire"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/internal/jsonapi"

	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultReportInterval = 2 * time.Second
	DefaultDrainTimeout   = 10 * time.Second
)

// Paths the agent serves (DESIGN.md section 7 and the agent's contract with the client SDK).
const (
	ConnectPath    = "/v1/connect"
	DisconnectPath = "/v1/disconnect"
	HealthPath     = "/healthz"
	MetricsPath    = "/metrics"
)

// maxBody bounds the request bodies the agent reads: a connect body is a ticket (at most
// ticket.MaxTokenSize) in a small JSON object.
const maxBody = ticket.MaxTokenSize + 1024

// retryAfterSeconds is the Retry-After the agent sends with a 503: about one load report
// interval, after which the directory knows better.
const retryAfterSeconds = 2

// TicketVerifier checks a ticket's signature, issuer and lifetime and returns its claims.
// Errors about the token match ticket.ErrInvalid; other errors (the key set cannot be
// fetched) say nothing about the token. *ticket.RemoteKeys is one.
type TicketVerifier interface {
	Verify(ctx context.Context, token string) (wire.Claims, error)
}

var _ TicketVerifier = (*ticket.RemoteKeys)(nil)

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
	Keys TicketVerifier

	// Directory is the directory's base URL, for load reports; "" sends none.
	Directory string
	// Credential, when set, is sent as "Authorization: Bearer <Credential>" with load reports.
	Credential string
	// HTTPClient sends load reports; nil means http.DefaultClient.
	HTTPClient *http.Client
	// ReportInterval is the time between load reports; zero means DefaultReportInterval.
	ReportInterval time.Duration
	// DrainTimeout bounds how long Serve waits, once its context is done, for requests in
	// flight to finish; zero means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Now is the clock of session times; nil means time.Now. (Ticket lifetimes are checked
	// with Keys' clock.)
	Now func() time.Time
	// Logger receives the agent's logs; nil means none.
	Logger *slog.Logger
	// Registry, when set, gets the agent's metrics (see metrics.go); several agents can share
	// one, each labelled with its datacenter.
	Registry prometheus.Registerer
	// Metrics, when set, is served at GET /metrics (for example promhttp.HandlerFor the
	// Registry's gatherer).
	Metrics http.Handler
	// Unverified says the config failed `geofence verify` and runs anyway
	// (--allow-unverified): the agent logs it at error level when it starts and exports
	// geofence_agent_config_unverified 1. Its admission checks are the same either way.
	Unverified bool
}

// Agent is a running DC agent. Create one with New and run it with Serve.
type Agent struct {
	cfg     Config
	dc      policy.DCID
	log     *slog.Logger
	metrics *metrics
	faults  faultState
	serving atomic.Bool

	mu       sync.Mutex
	sessions map[string]session
}

type session struct {
	participant string
	meeting     string
	started     time.Time
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
	if cfg.Unverified {
		m.unverified.Set(1)
	}
	return &Agent{
		cfg:      cfg,
		dc:       dc,
		log:      log.With("datacenter", cfg.ID),
		metrics:  m,
		sessions: make(map[string]session),
	}, nil
}

// ID is the agent's datacenter id.
func (a *Agent) ID() string { return a.cfg.ID }

// Participants is the number of open sessions.
func (a *Agent) Participants() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions)
}

// SetFault sets the failure the agent simulates from now on; FaultNone clears it. It is safe
// to call at any time, before Serve too.
func (a *Agent) SetFault(f Fault) {
	a.faults.set(f)
	a.log.Info("fault set", "fault", f.String())
}

// Fault returns the failure the agent simulates.
func (a *Agent) Fault() Fault {
	f, _ := a.faults.get()
	return f
}

// Serve serves the agent's HTTP API on ln and sends load reports until ctx is done; then it
// drains: it tells the directory the datacenter is unhealthy, stops accepting, waits up to
// DrainTimeout for requests in flight, closes every connection (black-holed ones too) and
// returns nil. It returns earlier, with an error, when ln fails. Serve closes ln. It may be
// called once.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	if !a.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("serve agent %s: already served", a.cfg.ID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	srv := &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	if a.cfg.Unverified {
		a.log.Error("serving a config that failed geofence verify (--allow-unverified); admissions still enforce its rules")
	}
	a.log.Info("serving", "addr", ln.Addr().String())

	served := make(chan error, 1)
	go func() {
		served <- srv.Serve(&faultListener{Listener: ln, faults: &a.faults, done: ctx.Done()})
	}()
	var reporting sync.WaitGroup
	if a.cfg.Directory != "" {
		reporting.Go(func() { a.reportLoop(ctx) })
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serve agent %s: %w", a.cfg.ID, err)
		served = nil
		cancel()
	}
	reporting.Wait()
	if a.cfg.Directory != "" {
		// Drain: the directory stops sending participants here now rather than after its
		// stale_after.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ReportInterval)
		a.report(rctx, false)
		rcancel()
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.DrainTimeout)
	if serr := srv.Shutdown(sctx); serr != nil {
		a.log.Warn("drain timed out; closing connections in flight", "timeout", a.cfg.DrainTimeout)
		srv.Close()
	}
	scancel()
	if served != nil {
		<-served // http.ErrServerClosed
	}
	a.log.Info("stopped", "participants", a.Participants())
	return err
}

func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ConnectPath, a.connect)
	mux.HandleFunc("POST "+DisconnectPath, a.disconnect)
	mux.HandleFunc("GET "+HealthPath, a.health)
	if a.cfg.Metrics != nil {
		mux.Handle("GET "+MetricsPath, a.cfg.Metrics)
	}
	return mux
}

// ConnectRequest is the body of POST /v1/connect.
type ConnectRequest struct {
	Token string `json:"token"`
}

// ConnectResponse is the 200 answer to POST /v1/connect.
type ConnectResponse struct {
	Datacenter  string `json:"datacenter"`
	Participant string `json:"participant"`
	Session     string `json:"session"`
}

// DisconnectRequest is the body of POST /v1/disconnect.
type DisconnectRequest struct {
	Session string `json:"session"`
}

// ErrorResponse is the body of every error answer. Rule names the residency rule behind a
// 403 when a rule is the reason; it is present (maybe empty) in every 403.
type ErrorResponse struct {
	Error   string  `json:"error"`
	Message string  `json:"message"`
	Rule    *string `json:"rule,omitempty"`
}

// refusal is a connect refused after the body was read.
type refusal struct {
	status int
	code   string
	rule   string
	msg    string
}

func (a *Agent) connect(w http.ResponseWriter, r *http.Request) {
	token, err := decodeConnect(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		a.refuse(w, r, &refusal{status: http.StatusBadRequest, code: OutcomeBadRequest, msg: err.Error()}, nil)
		return
	}
	c, err := a.cfg.Keys.Verify(r.Context(), token)
	if err != nil {
		if errors.Is(err, ticket.ErrInvalid) {
			a.refuse(w, r, &refusal{status: http.StatusUnauthorized, code: OutcomeInvalidTicket, msg: err.Error()}, nil)
			return
		}
		// Fail closed (I4): no key set, no admission. The detail (a URL, a network error) is
		// for the operator's log, not for the client.
		a.log.Error("cannot verify tickets", "err", err)
		a.refuse(w, r, &refusal{status: http.StatusServiceUnavailable, code: OutcomeKeysUnavailable,
			msg: fmt.Sprintf("datacenter %s cannot verify tickets right now; try another datacenter", a.cfg.ID)}, nil)
		return
	}
	if ref := a.admit(&c); ref != nil {
		a.refuse(w, r, ref, &c)
		return
	}
	id, err := newSessionID()
	if err != nil {
		a.log.Error("session id", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	capacity := a.cfg.Model.DCs[a.dc].Capacity
	a.mu.Lock()
	if int64(len(a.sessions)) >= capacity {
		a.mu.Unlock()
		// I4: full is an explicit refusal; the client moves on to its next datacenter.
		a.refuse(w, r, &refusal{status: http.StatusServiceUnavailable, code: OutcomeNoCapacity,
			msg: fmt.Sprintf("datacenter %s is full (%d participants)", a.cfg.ID, capacity)}, &c)
		return
	}
	a.sessions[id] = session{participant: c.Participant, meeting: c.Meeting, started: a.cfg.Now()}
	n := len(a.sessions)
	a.mu.Unlock()
	a.metrics.participants.Set(float64(n))
	a.metrics.admissions.WithLabelValues(OutcomeAdmitted).Inc()
	a.log.Info("admitted", "meeting", c.Meeting, "participant", c.Participant, "lists", c.Lists(a.cfg.ID),
		"participant_region", c.Context.ParticipantRegion, "ticket", c.ID, "participants", n)
	jsonapi.Write(w, http.StatusOK, ConnectResponse{Datacenter: a.cfg.ID, Participant: c.Participant, Session: id})
}

// decodeConnect reads a connect body: one JSON object with a non-empty "token". Unknown
// members are ignored, so that newer clients can send more.
func decodeConnect(body io.Reader) (string, error) {
	var req ConnectRequest
	if err := jsonapi.Decode(body, &req); err != nil {
		return "", err
	}
	if req.Token == "" {
		return "", errors.New(`request has no "token"`)
	}
	return req.Token, nil
}

// admit decides whether this datacenter may serve the ticket's participant; nil means yes.
func (a *Agent) admit(c *wire.Claims) *refusal {
	id := a.cfg.ID
	lists := c.Lists(id)
	if !slices.Contains(lists, wire.ListPrimary) && !slices.Contains(lists, wire.ListSecondary) {
		return &refusal{status: http.StatusForbidden, code: OutcomeNotListed,
			msg: fmt.Sprintf("the ticket for meeting %s does not list datacenter %s as a primary or secondary", c.Meeting, id)}
	}
	m := a.cfg.Model
	p := admission.Party(c.Context)
	if err := m.Admit(p, a.dc); err != nil {
		return admitRefusal(err, "")
	}
	// I1 covers the meeting's home too: a participant connecting here has its media bridged
	// there.
	if c.Home != id {
		h, ok := m.DC(c.Home)
		if !ok {
			return &refusal{status: http.StatusForbidden, code: OutcomeResidencyConflict,
				msg: fmt.Sprintf("the meeting's home datacenter %q is not in datacenter %s's policy", c.Home, id)}
		}
		if err := m.Admit(p, h); err != nil {
			return admitRefusal(err, fmt.Sprintf("the meeting's home datacenter %s, where this datacenter bridges its media: ", c.Home))
		}
	}
	return nil
}

func admitRefusal(err error, prefix string) *refusal {
	ref := &refusal{status: http.StatusForbidden, code: OutcomeResidencyConflict, msg: prefix + err.Error()}
	var pr *policy.Refusal
	if errors.As(err, &pr) {
		ref.code, ref.rule = pr.Code(), pr.Rule
	}
	return ref
}

func (a *Agent) refuse(w http.ResponseWriter, r *http.Request, ref *refusal, c *wire.Claims) {
	a.metrics.admissions.WithLabelValues(ref.code).Inc()
	attrs := []any{"code", ref.code, "status", ref.status, "message", ref.msg, "remote", r.RemoteAddr}
	if ref.rule != "" {
		attrs = append(attrs, "rule", ref.rule)
	}
	if c != nil {
		attrs = append(attrs, "meeting", c.Meeting, "participant", c.Participant, "ticket", c.ID)
	}
	switch ref.code {
	case OutcomeBadRequest, OutcomeNoCapacity, OutcomeKeysUnavailable:
		a.log.Info("connect refused", attrs...)
	default:
		// The directory or the client should never have sent this ticket here: the run-time
		// layer caught what an earlier one missed, or someone is probing.
		a.log.Warn("connect refused", attrs...)
	}
	body := ErrorResponse{Error: ref.code, Message: ref.msg}
	if ref.status == http.StatusForbidden {
		body.Rule = &ref.rule
	}
	if ref.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	jsonapi.Write(w, ref.status, body)
}

func (a *Agent) disconnect(w http.ResponseWriter, r *http.Request) {
	var req DisconnectRequest
	if err := jsonapi.Decode(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		jsonapi.Write(w, http.StatusBadRequest, ErrorResponse{Error: OutcomeBadRequest, Message: err.Error()})
		return
	}
	a.mu.Lock()
	s, ok := a.sessions[req.Session]
	delete(a.sessions, req.Session)
	n := len(a.sessions)
	a.mu.Unlock()
	if !ok {
		jsonapi.Write(w, http.StatusNotFound, ErrorResponse{Error: "unknown_session", Message: "no such session"})
		return
	}
	a.metrics.participants.Set(float64(n))
	a.log.Info("disconnected", "meeting", s.meeting, "participant", s.participant,
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
// disconnect the session.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
