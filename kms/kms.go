package kms

import (
	"context"
	"errors"
	"fmt"
	"github.com/geofence/geofence/wire"
	"log/slog"
	"net"
	"net/http"
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
	DefaultRetain       = 10 * time.Minute
	DefaultDrainTimeout = 10 * time.Second
)

// Paths the key server serves (patterns of net/http.ServeMux).
const (
	KeyPath     = "/v1/meetings/{id}/key"
	LeavePath   = "/v1/meetings/{id}/leave"
	HealthPath  = "/healthz"
	MetricsPath = "/metrics"
)

// TicketVerifier checks a ticket's signature, issuer and lifetime and returns its claims.
// Errors about the token match ticket.ErrInvalid; other errors (the key set cannot be
// fetched) say nothing about the token. *ticket.RemoteKeys is one.
type TicketVerifier interface {
	Verify(ctx context.Context, token string) (wire.Claims, error)
}

var _ TicketVerifier = (*ticket.RemoteKeys)(nil)

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
	Keys TicketVerifier
	// KEK is the 32-byte key-encryption key the meeting keys are sealed under at rest (see
	// LoadKEK). Required. New does not keep this slice; the caller may clear it afterwards.
	KEK []byte

	// Now is the clock of key retention; nil means time.Now. (Ticket lifetimes are checked
	// with Keys' clock.)
	Now func() time.Time
	// Retain is how long a superseded epoch's key stays available after a participant leaves,
	// so that media already encrypted with it can still be decrypted; zero means
	// DefaultRetain. It must not be negative.
	Retain time.Duration
	// DrainTimeout bounds how long Serve waits, once its context is done, for requests in
	// flight to finish; zero means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Logger receives the key server's logs, one record per issuance, refusal and rotation
	// (I6); nil means none. Key material is never logged.
	Logger *slog.Logger
	// Registry, when set, gets the key server's metrics (see metrics.go); several key servers
	// can share one, each labelled with its datacenter.
	Registry prometheus.Registerer
	// Metrics, when set, is served at GET /metrics (for example promhttp.HandlerFor the
	// Registry's gatherer).
	Metrics http.Handler
	// Unverified says the config failed `geofence verify` and runs anyway
	// (--allow-unverified): the key server logs it at error level when it starts and exports
	// geofence_kms_config_unverified 1. Its checks are the same either way.
	Unverified bool
}

// Server is a key server. Create one with New; serve Handler, or run Serve.
type Server struct {
	cfg     Config
	dc      policy.DCID
	log     *slog.Logger
	metrics *metrics
	sealer  *sealer
	store   *store
	serving atomic.Bool
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
	sl, err := newSealer(cfg.KEK, cfg.DC)
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
	if cfg.Unverified {
		m.unverified.Set(1)
	}
	return &Server{
		cfg:     cfg,
		dc:      dc,
		log:     log.With("dc", cfg.DC),
		metrics: m,
		sealer:  sl,
		store:   newStore(),
	}, nil
}

// DC is the key server's datacenter id.
func (s *Server) DC() string { return s.cfg.DC }

// Meetings is the number of meetings the key server holds a key for.
func (s *Server) Meetings() int { return s.store.len() }

// Handler returns the key server's HTTP API. It is safe to serve from any number of servers
// at once.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+KeyPath, s.issue)
	mux.HandleFunc("POST "+LeavePath, s.leave)
	mux.HandleFunc("GET "+HealthPath, s.health)
	if s.cfg.Metrics != nil {
		mux.Handle("GET "+MetricsPath, s.cfg.Metrics)
	}
	return mux
}

// Sweep deletes the superseded epochs whose retention has passed and forgets the retired
// tickets that have expired; it returns the number of epochs deleted. Serve calls it
// periodically; lookups also never return an epoch past its retention, swept or not.
func (s *Server) Sweep() int { return s.store.sweep(s.cfg.Now()) }

// sweepInterval is how often Serve sweeps: a quarter of Retain, between 1 s and 1 min.
func (s *Server) sweepInterval() time.Duration {
	return min(max(s.cfg.Retain/4, time.Second), time.Minute)
}

// Serve serves Handler on ln until ctx is done; then it drains: it stops accepting, waits up
// to DrainTimeout for requests in flight, closes every connection and returns nil. It returns
// earlier, with an error, when ln fails. Serve closes ln. It may be called once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("serve kms %s: already served", s.cfg.DC)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.cfg.Unverified {
		s.log.Error("serving a config that failed geofence verify (--allow-unverified); key requests still enforce its rules")
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "retain", s.cfg.Retain)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
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

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serve kms %s: %w", s.cfg.DC, err)
		served = nil
		cancel()
	}
	sweeping.Wait()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	if serr := srv.Shutdown(sctx); serr != nil {
		s.log.Warn("drain timed out; closing connections in flight", "timeout", s.cfg.DrainTimeout)
		srv.Close()
	}
	scancel()
	if served != nil {
		<-served // http.ErrServerClosed
	}
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
