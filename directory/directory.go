// Package directory is the control plane's front door (DESIGN.md sections 4 and 7): it keeps
// meetings, accounts and the live state of every datacenter, answers joins with a signed
// ticket naming the participant's primary, secondary and key-server datacenters, and refuses
// explicitly when the rules allow nothing usable (I4).
//
// It decides nothing about residency itself: every answer is route.Select on the current
// policy.Model and the live state, the function `geofence verify` and `explain` share. It is
// not the media path and holds no meeting keys.
package directory

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/clientip"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/prometheus/client_golang/prometheus"
)

// Locator maps an address to a country and maybe a location; *geoip.DB is one.
type Locator interface {
	Lookup(addr netip.Addr) (geoip.Result, error)
}

var _ Locator = (*geoip.DB)(nil)

// Defaults of Config.
const (
	DefaultStaleAfter = 10 * time.Second
	DefaultTicketTTL  = 5 * time.Minute
	DefaultRetryAfter = 5 * time.Second
)

// Config is what a directory needs. Model and Signer are required; the zero value of every
// other field is its documented default.
type Config struct {
	Model  *policy.Model
	Signer *ticket.Signer
	// GeoIP locates clients; nil places every client in the default region with no location.
	GeoIP Locator
	// Proxies are the peers whose X-Forwarded-For is believed (loopback in dev mode).
	Proxies clientip.Resolver
	// Endpoints maps a DC id to the URL its media agent listens on, KMSEndpoints to its key
	// server's. Missing entries give tickets without an endpoint.
	Endpoints, KMSEndpoints map[string]string
	// Credentials maps a DC id to the bearer credential its load reports must carry.
	Credentials map[string]string
	// TrustLoopbackReports accepts load reports from loopback without a credential (dev).
	TrustLoopbackReports bool
	// StaleAfter is how old a DC's last load report may be before it counts as down.
	// Default DefaultStaleAfter.
	StaleAfter time.Duration
	// TicketTTL is how long a ticket is valid. Default DefaultTicketTTL.
	TicketTTL time.Duration
	// RetryAfter is the hint given with 503 no_capacity. Default DefaultRetryAfter.
	RetryAfter time.Duration
	// Unverified records that the model was started with --allow-unverified; it is
	// exported as a metric so it can be alerted on.
	Unverified bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registry receives the directory's metrics; nil registers none.
	Registry prometheus.Registerer
}

// Server is a directory.
type Server struct {
	cfg     Config
	model   atomic.Pointer[policy.Model]
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	mu       sync.Mutex
	meetings map[string]*meeting
	accounts map[string]*apiAccount // accounts created through the API
	dcs      []dcState              // indexed by policy.DCID of the current model
	down     []bool                 // scratch for route.State, under mu
	util     []float64
}

type meeting struct {
	id          string
	hostAccount string
	region      string // data region (sticky)
	mode        string
	home        string // home DC id, "" until the first join
	created     time.Time
}

// apiAccount is an account added at run time; it is rebuilt against each new model.
type apiAccount struct {
	ID          string   `json:"id"`
	Plan        string   `json:"plan"`
	HomeRegion  string   `json:"home_region,omitempty"`
	DataRegions []string `json:"data_regions,omitempty"`

	// built is the account in the terms of builtFor, so that joins do not rebuild its
	// narrowing set each time; a new model rebuilds it on first use. Guarded by Server.mu.
	built    *policy.Account
	builtFor *policy.Model
}

type dcState struct {
	reported   int64 // participants in the last report
	placed     int64 // placements made since that report
	healthy    bool
	lastReport time.Time // zero: never reported
}

// New makes a directory.
func New(cfg Config) (*Server, error) {
	if cfg.Model == nil {
		return nil, errors.New("new directory: no model")
	}
	if cfg.Signer == nil {
		return nil, errors.New("new directory: no ticket signer")
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = DefaultTicketTTL
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		meetings: map[string]*meeting{},
		accounts: map[string]*apiAccount{},
	}
	s.setModel(cfg.Model)
	m, err := newMetrics(s, cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("new directory: %w", err)
	}
	s.metrics = m
	if cfg.Unverified {
		s.log.Warn("directory serving a config that does not verify (--allow-unverified); run-time checks still enforce the rules")
	}
	return s, nil
}

// SetModel swaps in a new model atomically (a config change). DC live state is kept for DCs
// that still exist; meetings keep their region and home by id.
func (s *Server) SetModel(m *policy.Model) { s.setModel(m) }

func (s *Server) setModel(m *policy.Model) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.model.Load()
	dcs := make([]dcState, len(m.DCs))
	if old != nil {
		for i := range old.DCs {
			if d, ok := m.DC(old.DCs[i].ID); ok {
				dcs[d] = s.dcs[i]
			}
		}
	}
	s.dcs = dcs
	s.down = make([]bool, len(m.DCs))
	s.util = make([]float64, len(m.DCs))
	s.model.Store(m)
}

// Model is the model in force.
func (s *Server) Model() *policy.Model { return s.model.Load() }

// Handler is the directory's HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/meetings", s.createMeeting)
	mux.HandleFunc("GET /v1/meetings/{id}", s.getMeeting)
	mux.HandleFunc("POST /v1/meetings/{id}/join", s.join)
	mux.HandleFunc("PUT /v1/datacenters/{id}/load", s.putLoad)
	mux.HandleFunc("GET /v1/datacenters", s.listDatacenters)
	mux.HandleFunc("GET /v1/explain", s.explain)
	mux.HandleFunc("PUT /v1/accounts/{id}", s.putAccount)
	mux.HandleFunc("GET /v1/accounts/{id}", s.getAccount)
	mux.Handle("GET /.well-known/jwks.json", s.cfg.Signer.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	if s.metrics != nil && s.metrics.gatherer != nil {
		mux.Handle("GET /metrics", s.metrics.handler())
	}
	return http.MaxBytesHandler(mux, 64<<10)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.Model() == nil {
		http.Error(w, "no model\n", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID is a random id of 80 bits.
func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
