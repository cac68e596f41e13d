// Package directoryhttp is the directory's HTTP API (DESIGN.md sections 7 and 10): it
// authenticates each caller, locates clients with GeoIP, translates requests into calls of the
// directory core (package directory) and its answers into the bodies of package wire, and
// signs tickets. It makes no routing decision of its own.
//
// Who may call what:
//
//	POST   /v1/meetings              a join token with the host right (its account hosts), or the operator
//	GET    /v1/meetings/{id}         the host (join token with the host right) or the operator
//	DELETE /v1/meetings/{id}         the host (join token with the host right) or the operator
//	POST   /v1/meetings/{id}/join    a join token of any account (bound to this meeting if it names one)
//	PUT    /v1/datacenters/{id}/load the datacenter's own credential
//	GET    /v1/datacenters           the operator
//	GET    /v1/explain               the operator
//	*      /v1/accounts[/{id}]       the operator
//	GET    /metrics                  the operator
//	GET    /v1/audit[/...]           anyone: the evidence logs are publishable (audit.go)
//	GET    /ui/..., * /v1/dashboard/... the operator, with the bearer token or, from a browser,
//	                                 HTTP Basic with the operator token as password (dashboard.go)
//	GET    /.well-known/jwks.json, /healthz, /readyz: anyone
//
// With TrustLoopback (`geofence dev` only) a caller whose connection comes from loopback is
// the operator, may report any datacenter's load, and may join or host as the account its body
// names without a token; a token it sends is still verified.
package directoryhttp

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/geofence/geofence/clientip"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/explain"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/internal/cors"
	"github.com/geofence/geofence/internal/jsonapi"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Locator maps an address to a country and maybe a location; *geoip.DB is one.
type Locator interface {
	Lookup(addr netip.Addr) (geoip.Result, error)
}

var _ Locator = (*geoip.DB)(nil)

// DefaultTicketTTL is how long a ticket is valid by default.
const DefaultTicketTTL = 5 * time.Minute

// maxBody bounds every request body.
const maxBody = 64 << 10

// Config is what a Server needs. Core and Signer are required; the zero value of every other
// field is its documented default.
type Config struct {
	// Core is the directory core. Required.
	Core *directory.Core
	// Signer signs tickets. Required.
	Signer *ticket.Signer
	// TicketTTL is how long a ticket is valid: positive and at most ticket.MaxTTL. Default
	// DefaultTicketTTL.
	TicketTTL time.Duration
	// GeoIP locates clients; nil places every client in the default region with no location.
	GeoIP Locator
	// Proxies are the peers whose X-Forwarded-For is believed (loopback in dev mode).
	Proxies clientip.Resolver
	// Credentials maps a DC id to the bearer credential its load reports must carry.
	Credentials map[string]string
	// Operator checks the operator's bearer token. Nil: no caller is the operator, except
	// trusted loopback.
	Operator *identity.Operator
	// TrustLoopback makes loopback peers trusted, as `geofence dev` does (see the package
	// documentation). Never set it in production.
	TrustLoopback bool
	// AuditDir, when set, is the evidence folder (one tlog-tiles log per region, package
	// audit) served read-only to anyone under /v1/audit (see audit.go).
	AuditDir string
	// Dashboard, when set, is the operator dashboard (package dashboard), served under /ui/
	// and /v1/dashboard/ to the operator only (see dashboard.go).
	Dashboard http.Handler
	// Gatherer, when set, is served at GET /metrics (to the operator).
	Gatherer prometheus.Gatherer
	// Now is the clock of token lifetimes; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registry receives the HTTP layer's metrics; nil registers none.
	Registry prometheus.Registerer
}

// Server is the directory's HTTP API.
type Server struct {
	cfg     Config
	core    *directory.Core
	tokens  *identity.Verifier
	log     *slog.Logger
	metrics *metrics
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Core == nil {
		return nil, errors.New("new directory api: no directory core")
	}
	if cfg.Signer == nil {
		return nil, errors.New("new directory api: no ticket signer")
	}
	if cfg.TicketTTL == 0 {
		cfg.TicketTTL = DefaultTicketTTL
	}
	if err := ticket.CheckTTL(cfg.TicketTTL); err != nil {
		return nil, fmt.Errorf("new directory api: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("new directory api: %w", err)
	}
	s := &Server{cfg: cfg, core: cfg.Core, log: cfg.Logger, metrics: m}
	s.tokens = &identity.Verifier{Keys: coreKeys{cfg.Core}, Now: cfg.Now}
	return s, nil
}

// coreKeys looks join-token keys up in the core's accounts.
type coreKeys struct{ c *directory.Core }

func (k coreKeys) AccountKey(account, kid string) (ed25519.PublicKey, error) {
	pub, err := k.c.AccountKey(context.Background(), account, kid)
	var e *directory.Error
	switch {
	case err == nil:
		return pub, nil
	case errors.Is(err, directory.ErrUnknownKey):
		return nil, fmt.Errorf("%w: %v", identity.ErrUnknownKey, err)
	case errors.Is(err, directory.ErrUnknownAccount), errors.As(err, &e) && e.Code != wire.CodeInternal:
		// An account the config in force cannot use is as good as unknown.
		return nil, fmt.Errorf("%w: %v", identity.ErrUnknownAccount, err)
	}
	return nil, err // the store failed: not the token's fault
}

// Handler is the directory's HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/meetings", s.createMeeting)
	mux.HandleFunc("GET /v1/meetings/{id}", s.getMeeting)
	mux.HandleFunc("DELETE /v1/meetings/{id}", s.endMeeting)
	// Participant endpoints: any origin (the meeting page served by a DC); operator ones none.
	cors.HandleFunc(mux, "POST /v1/meetings/{id}/join", s.join)
	mux.HandleFunc("PUT /v1/datacenters/{id}/load", s.putLoad)
	mux.HandleFunc("GET /v1/datacenters", s.operatorOnly(s.listDatacenters))
	mux.HandleFunc("GET /v1/explain", s.operatorOnly(s.explain))
	mux.HandleFunc("GET /v1/accounts", s.operatorOnly(s.listAccounts))
	mux.HandleFunc("PUT /v1/accounts/{id}", s.operatorOnly(s.putAccount))
	mux.HandleFunc("GET /v1/accounts/{id}", s.operatorOnly(s.getAccount))
	mux.HandleFunc("DELETE /v1/accounts/{id}", s.operatorOnly(s.deleteAccount))
	cors.Handle(mux, "GET "+ticket.JWKSPath, s.cfg.Signer.Handler())
	if s.cfg.AuditDir != "" {
		mux.HandleFunc("GET /v1/audit", s.auditIndex)
		mux.HandleFunc("GET /v1/audit/vkeys", s.auditVKeys)
		mux.HandleFunc("GET /v1/audit/{region}/{path...}", s.auditResource)
	}
	if s.cfg.Dashboard != nil {
		s.mountDashboard(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ready\n")) })
	if s.cfg.Gatherer != nil {
		mux.HandleFunc("GET /metrics", s.operatorOnly(promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP))
	}
	return http.MaxBytesHandler(mux, maxBody)
}

var jsonType = []string{"application/json"}

// joinBuffer holds a join's two buffers, the ticket's claims and the answer, reused across
// joins: they are garbage once the answer is written.
type joinBuffer struct{ payload, body []byte }

// maxKeptBuffer is the largest buffer put back: the pool is for common tickets, not for the
// largest ever seen.
const maxKeptBuffer = 16 << 10

func (b *joinBuffer) keep(payload, body []byte) {
	if cap(payload) <= maxKeptBuffer {
		b.payload = payload[:0]
	}
	if cap(body) <= maxKeptBuffer {
		b.body = body[:0]
	}
}

var joinBuffers = sync.Pool{New: func() any { return &joinBuffer{payload: make([]byte, 0, 2<<10), body: make([]byte, 0, 6<<10)} }}

// statusOf is the HTTP status of each wire error code the directory answers with.
var statusOf = map[string]int{
	wire.CodeBadRequest:        http.StatusBadRequest,
	wire.CodeUnauthorized:      http.StatusUnauthorized,
	wire.CodeForbidden:         http.StatusForbidden,
	wire.CodeUnknownMeeting:    http.StatusNotFound,
	wire.CodeUnknownAccount:    http.StatusNotFound,
	wire.CodeUnknownDatacenter: http.StatusNotFound,
	wire.CodeResidencyConflict: http.StatusForbidden,
	wire.CodePlanConflict:      http.StatusForbidden,
	wire.CodeNoCapacity:        http.StatusServiceUnavailable,
	wire.CodeConfigAccount:     http.StatusConflict,
	wire.CodeMeetingStale:      http.StatusConflict,
	wire.CodeLimit:             http.StatusTooManyRequests,
	wire.CodeStoreUnavailable:  http.StatusServiceUnavailable,
	wire.CodeInternal:          http.StatusInternalServerError,
	// Strict evidence mode (I6): the decision could not be logged, so it is not answered.
	wire.CodeEvidenceUnavailable: http.StatusServiceUnavailable,
	wire.CodeNotFound:            http.StatusNotFound,
}

// fail answers with the error body of code.
func fail(w http.ResponseWriter, code, format string, args ...any) {
	writeError(w, &directory.Error{Code: code, Message: fmt.Sprintf(format, args...)})
}

// writeError answers with err: a *directory.Error as its code says, anything else as an
// internal error.
func writeError(w http.ResponseWriter, err error) {
	var e *directory.Error
	if !errors.As(err, &e) {
		e = &directory.Error{Code: wire.CodeInternal, Message: "internal error"}
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body := wire.Error{Error: e.Code, Message: e.Message, Rules: e.Rules}
	if status == http.StatusForbidden && (e.Code == wire.CodeResidencyConflict || e.Code == wire.CodePlanConflict) && body.Rules == nil {
		body.Rules = []string{}
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		body.RetryAfter = secs
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="geofence"`)
	}
	jsonapi.Write(w, status, body)
}

// decodeLenient reads a participant's body: unknown members are ignored, so that newer
// clients work with older directories.
func decodeLenient(r *http.Request, v any) error {
	if err := jsonapi.DecodeLenient(r.Body, v); err != nil {
		return &directory.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	}
	return nil
}

// locate finds where a request comes from.
func (s *Server) locate(r *http.Request) (directory.Where, error) {
	addr, err := s.cfg.Proxies.ClientAddr(r)
	if err != nil {
		return directory.Where{}, &directory.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	}
	w := directory.Where{Country: geo.NoCountry, Addr: addr.String()}
	if s.cfg.GeoIP != nil {
		res, err := s.cfg.GeoIP.Lookup(addr)
		if err == nil && res.Found {
			if k, ok := geo.LookupCountry(res.Country); ok {
				w.Country = k
				w.Location, w.Located = k.Centroid(), true
				if res.HasLocation {
					w.Location = geo.LatLon{Lat: res.Location.Lat, Lon: res.Location.Lon}
				}
			}
		}
	}
	if w.Country == geo.NoCountry {
		s.metrics.geoipUnknown.Inc()
	}
	return w, nil
}

func (s *Server) createMeeting(w http.ResponseWriter, r *http.Request) {
	var req wire.CreateMeeting
	if err := decodeLenient(r, &req); err != nil {
		writeError(w, err)
		return
	}
	host, err := s.authHost(r, req.HostAccount)
	if err != nil {
		writeError(w, err)
		return
	}
	where, err := s.locate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rec, err := s.core.CreateMeeting(r.Context(), directory.CreateMeeting{HostAccount: host, Mode: req.Mode, Host: where})
	if err != nil {
		writeError(w, err)
		return
	}
	jsonapi.Write(w, http.StatusCreated, rec.Wire())
}

// meetingOfHost reads meeting id for a caller who must be its host or the operator.
func (s *Server) meetingOfHost(r *http.Request) (directory.MeetingRecord, error) {
	rec, err := s.core.Meeting(r.Context(), r.PathValue("id"))
	if err != nil {
		if s.isOperator(r) {
			return rec, err
		}
		// Do not tell a stranger which meeting ids exist.
		if _, aerr := s.authHost(r, ""); aerr != nil {
			return rec, aerr
		}
		return rec, err
	}
	if _, err := s.authHost(r, rec.HostAccount); err != nil {
		return rec, err
	}
	return rec, nil
}

func (s *Server) getMeeting(w http.ResponseWriter, r *http.Request) {
	rec, err := s.meetingOfHost(r)
	if err != nil {
		writeError(w, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, rec.Wire())
}

func (s *Server) endMeeting(w http.ResponseWriter, r *http.Request) {
	rec, err := s.meetingOfHost(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.core.EndMeeting(r.Context(), rec.ID); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req wire.JoinRequest
	if err := decodeLenient(r, &req); err != nil {
		writeError(w, err)
		return
	}
	meeting := r.PathValue("id")
	id, err := s.authParticipant(r, meeting, req.Account, req.Participant)
	if err != nil {
		writeError(w, err)
		return
	}
	where, err := s.locate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.core.Join(r.Context(), directory.JoinRequest{
		Meeting: meeting, Account: id.Account, Participant: id.Participant, PublicKey: req.PublicKey, Where: where,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	bufs := joinBuffers.Get().(*joinBuffer)
	defer joinBuffers.Put(bufs)
	signed, err := s.cfg.Signer.SignAppend(bufs.payload, res.Claims, s.cfg.TicketTTL)
	if err != nil {
		s.log.Error("sign ticket", "meeting", meeting, "err", err)
		fail(w, wire.CodeInternal, "could not sign the ticket")
		return
	}
	// The answer repeats the ticket's lists: copy their JSON from the signed claims instead of
	// encoding them again, and take "expires" from the ticket itself.
	c := &signed.Claims
	body := wire.AppendJoinResponse(bufs.body[:0], signed.Payload, c.Meeting, c.Region, c.Home, c.Expiry.UTC(), signed.Token)
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	bufs.keep(signed.Payload.JSON, body)
	s.metrics.joinLatency.Observe(time.Since(start).Seconds())
}

func (s *Server) putLoad(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.datacenterCredential(r, id) {
		s.metrics.denied.WithLabelValues(denyDCCredential).Inc()
		fail(w, wire.CodeUnauthorized, "load reports for %s need its credential (Authorization: Bearer ...)", id)
		return
	}
	var rep wire.LoadReport
	if err := jsonapi.Decode(r.Body, &rep); err != nil {
		fail(w, wire.CodeBadRequest, "%v", err)
		return
	}
	if rep.Participants == nil || rep.Healthy == nil {
		fail(w, wire.CodeBadRequest, `a load report needs "participants" and "healthy"`)
		return
	}
	if err := s.core.ReportMediaLoad(id, *rep.Participants, *rep.Healthy, rep.Media); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listDatacenters(w http.ResponseWriter, r *http.Request) {
	jsonapi.Write(w, http.StatusOK, s.core.Datacenters())
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	eq := explain.Query{
		Country: q.Get("country"), Plan: q.Get("plan"), Account: q.Get("account"),
		MeetingRegion: q.Get("meeting_region"), HostPlan: q.Get("host_plan"), Home: q.Get("home"),
		Down: explain.SplitList(q.Get("down")),
	}
	if eq.Country == "" {
		fail(w, wire.CodeBadRequest, "country is required, e.g. ?country=US")
		return
	}
	if f := q.Get("from"); f != "" {
		p, err := explain.ParseLatLon(f)
		if err != nil {
			fail(w, wire.CodeBadRequest, "from: %v", err)
			return
		}
		eq.From = &p
	}
	var err error
	if eq.Load, err = explain.ParseLoad(q.Get("load")); err != nil {
		fail(w, wire.CodeBadRequest, "load: %v", err)
		return
	}
	m, st := s.core.LiveState()
	m = s.core.ExplainModel(r.Context(), m, eq.Account)
	a, err := explain.Run(m, eq, st)
	if err != nil {
		fail(w, wire.CodeBadRequest, "%v", err)
		return
	}
	jsonapi.Write(w, http.StatusOK, a)
}

func (s *Server) putAccount(w http.ResponseWriter, r *http.Request) {
	var a wire.Account
	if err := jsonapi.Decode(r.Body, &a); err != nil {
		fail(w, wire.CodeBadRequest, "%v", err)
		return
	}
	id := r.PathValue("id")
	if a.ID != "" && a.ID != id {
		fail(w, wire.CodeBadRequest, "the body names account %q but the path %q", a.ID, id)
		return
	}
	if a.Source != "" {
		fail(w, wire.CodeBadRequest, `"source" is set by the directory; leave it out`)
		return
	}
	a.ID = id
	stored, created, err := s.core.PutAccount(r.Context(), a)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	jsonapi.Write(w, status, stored)
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.core.GetAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, a)
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	as, err := s.core.ListAccounts(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	jsonapi.Write(w, http.StatusOK, wire.Accounts{Accounts: as})
}

func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) {
	if err := s.core.DeleteAccount(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
