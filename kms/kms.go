package kms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/internal/cors"
	"github.com/geofence/geofence/internal/httpserve"
	"github.com/geofence/geofence/internal/jsonapi"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultRetain       = 10 * time.Minute
	DefaultDrainTimeout = 10 * time.Second
	// DefaultRotateInterval is the rotate_interval of DESIGN.md section 8: a meeting rotates
	// its key at most once per interval, however many participants leave.
	DefaultRotateInterval = 10 * time.Second
)

// Paths the key server serves (patterns of net/http.ServeMux; docs/agent.md).
const (
	KeyPath     = wire.KeyPath
	LeavePath   = wire.LeavePath
	HealthPath  = "/healthz"
	MetricsPath = "/metrics"
)

// Config configures a Server. DC, Model, Keys and KEK are required; every other field's zero
// value is its default. The Server keeps a copy: changing Config after New has no effect.
type Config struct {
	// DC is the id of the key server's datacenter in Model; it must run the kms service.
	// Required.
	DC string
	// Model is the policy the key server enforces: its own copy, never the directory's word.
	// Required.
	Model *policy.Model
	// Keys verifies tickets, in production a *ticket.RemoteKeys on the directory's key set.
	// Required.
	Keys admission.TicketVerifier
	// KEK is the 32-byte key-encryption key the meeting keys are sealed under at rest (see
	// LoadKEK). Required. New does not keep this slice; the caller may clear it afterwards.
	KEK []byte

	// Now is the clock of key retention and rotation; nil means time.Now. (Ticket lifetimes
	// are checked with Keys' clock.)
	Now func() time.Time
	// Retain is how long a superseded epoch's key stays available after a participant leaves,
	// so that media already encrypted with it can still be decrypted; zero means
	// DefaultRetain. It must not be negative.
	Retain time.Duration
	// RotateInterval is the shortest time between two rotations of a meeting's key: a leave
	// within RotateInterval of the meeting's last rotation is coalesced into one rotation at
	// the end of the interval (DESIGN.md section 8). Zero means DefaultRotateInterval. It must
	// not be negative.
	RotateInterval time.Duration
	// DrainTimeout bounds how long Serve waits, once its context is done, for requests in
	// flight to finish; zero means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// HTTP bounds Serve's HTTP server (deadlines, header size, connections held); its zero
	// value is package httpserve's defaults. Its Name, Logger, Metrics and DrainTimeout are
	// the key server's.
	HTTP httpserve.Options
	// Logger receives the key server's logs, one record per issuance, refusal and rotation
	// (I6); nil means none. Key material is never logged.
	Logger *slog.Logger
	// Registry, when set, gets the key server's metrics (see metrics.go) and its HTTP
	// server's (package httpserve); several key servers can share one, each labelled with its
	// datacenter.
	Registry prometheus.Registerer
	// Metrics, when set, is served at GET /metrics (for example promhttp.HandlerFor the
	// Registry's gatherer).
	Metrics http.Handler
	// Shared, when set, keeps meetings' sealed keys where every key server of the deployment
	// reads them (DESIGN.md section 9), so that all of a meeting's key servers hand out the
	// same key for an epoch, also after a restart; they must share the KEK. Nil: keys live in
	// this process only.
	Shared Records
	// Unverified says the config failed `geofence verify` and runs anyway
	// (--allow-unverified): the key server logs it at error level when it starts and exports
	// geofence_kms_config_unverified 1. Its checks are the same either way.
	Unverified bool
	// Decisions, when set, is told of every key issued and every refusal of a ticket that
	// verified (I6: package audit's Recorder logs them). When it returns an error for an
	// issuance the key is not sent (503 evidence_unavailable): the evidence log's strict mode.
	Decisions Decisions
}

// Decisions receives a key server's decisions (I6).
type Decisions interface {
	// KeyDecided is called before the answer, once per key issued and once per refusal of a
	// request whose ticket verified. Requests refused before their ticket verified (malformed,
	// forged or expired tickets) say nothing about residency and are not reported.
	KeyDecided(ctx context.Context, d *KeyDecision) error
}

// KeyDecision is one decision of a key server.
type KeyDecision struct {
	Time time.Time
	// DC is the key server's datacenter id, Model the policy it decided on.
	DC    string
	Model *policy.Model
	// Claims are the ticket's.
	Claims *wire.Claims
	// Epoch is the epoch issued, or asked for (0: the current one) when refused.
	Epoch uint64
	// Refusal is nil for an issued key.
	Refusal *admission.Refusal
}

// Server is a key server. Create one with New; serve Handler, or run Serve.
type Server struct {
	cfg      Config
	dc       policy.DCID
	admitter *admission.Admitter
	log      *slog.Logger
	metrics  *metrics
	http     *httpserve.Metrics
	sealer   *sealer
	store    keyStore
	model    atomic.Pointer[policy.Model] // the policy in force; SetModel swaps it
	serving  atomic.Bool
}

// New checks cfg and returns a Server for it.
func New(cfg Config) (*Server, error) {
	if cfg.Model == nil {
		return nil, errors.New("new kms: no policy model")
	}
	if cfg.Keys == nil {
		return nil, errors.New("new kms: no ticket verifier")
	}
	dc, ok := cfg.Model.DC(cfg.DC)
	if !ok {
		return nil, fmt.Errorf("new kms: datacenter %q is not in the config", cfg.DC)
	}
	if !cfg.Model.DCs[dc].KMS {
		return nil, fmt.Errorf("new kms: datacenter %s does not run the kms service", cfg.DC)
	}
	if cfg.Retain < 0 {
		return nil, fmt.Errorf("new kms %s: retain %v is negative", cfg.DC, cfg.Retain)
	}
	if cfg.RotateInterval < 0 {
		return nil, fmt.Errorf("new kms %s: rotate interval %v is negative", cfg.DC, cfg.RotateInterval)
	}
	// Key servers that share their keys share the KEK too: a key sealed by one opens at every
	// other, so the seal binds meeting and epoch but not the key server's datacenter.
	sealDC := cfg.DC
	if cfg.Shared != nil {
		sealDC = ""
	}
	sl, err := newSealer(cfg.KEK, sealDC)
	if err != nil {
		return nil, fmt.Errorf("new kms %s: %w", cfg.DC, err)
	}
	cfg.KEK = nil // the sealer's cipher holds the key; keep no other copy
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retain == 0 {
		cfg.Retain = DefaultRetain
	}
	if cfg.RotateInterval == 0 {
		cfg.RotateInterval = DefaultRotateInterval
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registry, cfg.DC)
	if err != nil {
		return nil, fmt.Errorf("new kms %s: %w", cfg.DC, err)
	}
	hm, err := httpserve.NewMetrics(cfg.Registry)
	if err != nil {
		m.unregister(cfg.Registry)
		return nil, fmt.Errorf("new kms %s: %w", cfg.DC, err)
	}
	if cfg.Unverified {
		m.unverified.Set(1)
	}
	s := &Server{
		cfg:     cfg,
		dc:      dc,
		log:     log.With("dc", cfg.DC),
		metrics: m,
		http:    hm,
		sealer:  sl,
	}
	s.model.Store(cfg.Model)
	s.admitter = &admission.Admitter{Model: s.model.Load, DC: cfg.DC, Keys: cfg.Keys}
	if cfg.Shared != nil {
		s.store = newSharedStore(cfg.Shared, s.newSealed, cfg.Retain, cfg.RotateInterval, cfg.DC, func(x wire.Context, dc string) error {
			m := s.model.Load()
			d, ok := m.DC(dc)
			if !ok {
				return fmt.Errorf("key server %s is not in this key server's policy", dc)
			}
			return m.Admit(admission.Party(x), d)
		})
	} else {
		s.store = newStore(s.newSealed, cfg.Retain, cfg.RotateInterval)
	}
	return s, nil
}

// SetModel swaps in a new policy (a pushed config, verified by the caller): key requests from
// then on are checked with it. A policy in which this datacenter no longer runs the kms service
// is refused, and the key server keeps the one it has.
func (s *Server) SetModel(m *policy.Model) {
	d, ok := m.DC(s.cfg.DC)
	if !ok || !m.DCs[d].KMS {
		s.log.Error("new config refused: it no longer has this datacenter running the kms service; keeping the config in force")
		return
	}
	s.model.Store(m)
	s.log.Info("config swapped in")
}

// DC is the key server's datacenter id.
func (s *Server) DC() string { return s.cfg.DC }

// Meetings is the number of meetings the key server holds a key for.
func (s *Server) Meetings() int { return s.store.len() }

// Handler returns the key server's HTTP API. It is safe to serve from any number of servers
// at once.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// Participant endpoints: any origin (the meeting page); no cookie is ever looked at.
	cors.HandleFunc(mux, "POST "+KeyPath, s.issue)
	cors.HandleFunc(mux, "POST "+LeavePath, s.leave)
	mux.HandleFunc("GET "+HealthPath, s.health)
	if s.cfg.Metrics != nil {
		mux.Handle("GET "+MetricsPath, s.cfg.Metrics)
	}
	return mux
}

// Sweep makes the key rotations that are due, deletes the superseded epochs whose retention
// has passed and forgets the retired tickets that have expired; it returns the number of
// epochs deleted. Serve calls it periodically; lookups also never return an epoch past its
// retention, and make a rotation that is due first, swept or not.
func (s *Server) Sweep() int {
	n := s.store.sweep(s.cfg.Now())
	s.logRotations()
	return n
}

// sweepInterval is how often Serve sweeps: a quarter of Retain, between 1 s and 1 min, and
// at most half of RotateInterval, so that a due rotation is logged soon even when no one asks
// for the meeting's key.
func (s *Server) sweepInterval() time.Duration {
	return min(max(s.cfg.Retain/4, time.Second), time.Minute, max(s.cfg.RotateInterval/2, time.Second))
}

// Serve serves Handler on ln, bounded by Config.HTTP, until ctx is done; then it drains: it
// stops accepting, waits up to DrainTimeout for requests in flight, closes every connection
// and returns nil. It returns earlier, with an error, when ln fails. Serve closes ln. It may
// be called once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("serve kms %s: already served", s.cfg.DC)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	opts := s.cfg.HTTP
	opts.Name, opts.Logger, opts.Metrics, opts.DrainTimeout = "kms/"+s.cfg.DC, s.log, s.http, s.cfg.DrainTimeout
	if s.cfg.Unverified {
		s.log.Error("serving a config that failed geofence verify (--allow-unverified); key requests still enforce its rules")
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "retain", s.cfg.Retain, "rotate_interval", s.cfg.RotateInterval)

	served := make(chan error, 1)
	go func() { served <- httpserve.Serve(ctx, ln, s.Handler(), opts) }()
	var sweeping sync.WaitGroup
	sweeping.Go(func() {
		t := time.NewTicker(s.sweepInterval())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n := s.Sweep(); n > 0 {
					s.log.Debug("deleted superseded epochs", "epochs", n)
				}
			}
		}
	})

	err := <-served // httpserve.Serve drains when ctx is done
	if err != nil {
		err = fmt.Errorf("serve kms %s: %w", s.cfg.DC, err)
	}
	cancel()
	sweeping.Wait()
	s.log.Info("stopped", "meetings", s.Meetings())
	return err
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	jsonapi.Write(w, http.StatusOK, struct {
		Status     string `json:"status"`
		Datacenter string `json:"datacenter"`
		Meetings   int    `json:"meetings"`
	}{"ok", s.cfg.DC, s.Meetings()})
}
