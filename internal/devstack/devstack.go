// Package devstack is the whole Geofence system in one process on loopback: the directory
// (core and HTTP API, with the operator dashboard at /ui/), one DC agent per media datacenter
// and one key server per kms datacenter, sharing one Prometheus registry. `geofence dev` runs
// it, and tests of the command line and of the client use it as their cluster; the simulator
// will drive the same directory core without the network.
//
// Loopback is trusted in a stack (DESIGN.md section 10): a caller on 127.0.0.1 is the
// operator, may report any DC's load and may join as any account without a token. The stack
// also registers a join-token key of its own on one example account, so that the real path
// (a token minted by the account's backend) can be tried too. It is not a production
// deployment: every key lives in memory and dies with the process, except the evidence
// logs' (Config.Evidence), kept in their folder so that a restart resumes the logs.
package devstack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/clientip"
	"github.com/geofence/geofence/dashboard"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/directory/directoryhttp"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/internal/httpserve"
	"github.com/geofence/geofence/internal/jsonapi"
	"github.com/geofence/geofence/kms"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/verify"
	meetingui "github.com/geofence/geofence/web/meeting"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Loopback is the trusted proxy of a stack: a caller plays any country with X-Forwarded-For.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Config configures a stack. Model is required; the zero value of every other field is its
// default.
type Config struct {
	// Model is the policy every server of the stack enforces. Required.
	Model *policy.Model
	// Unverified records that the config did not verify (--allow-unverified).
	Unverified bool
	// GeoIP locates clients; nil puts every client in the default region.
	GeoIP directoryhttp.Locator
	// Listener is where the directory listens; nil: a free loopback port.
	Listener net.Listener
	// NoAgents starts no DC agents: DC state comes only from load reports.
	NoAgents bool
	// DevAccount is the account the stack registers a join-token key on; "": the first
	// account of the config (acme when it has one); none when the config has no account.
	DevAccount string
	// Evidence is the folder of the evidence logs (DESIGN.md section 11): one tlog-tiles log
	// per region in Evidence/<region>, the keys in Evidence/keys (made on first use, so a
	// restart resumes the logs), the verifier keys in Evidence/vkeys. "": no evidence log.
	Evidence string
	// StrictEvidence refuses joins and keys whose evidence cannot be written.
	StrictEvidence bool
	// ConfigDigest is the digest of the config file (audit.Digest) and Report what verify
	// said of it: the first entry of every log.
	ConfigDigest string
	Report       *verify.Report
	// Etcd, when set, are the client URLs of an etcd the stack keeps its shared state in, as a
	// replicated deployment does (DESIGN.md section 9): meetings, accounts, load reports and the
	// key servers' sealed keys; and a second directory serves beside the first, on the same
	// store, so that the cluster can be seen in one process. Nil: all in memory.
	Etcd []string
	// RecordPayload, when set, is given the SHA-256 of every RTP payload a media server
	// forwards (sfu.Config.RecordPayload): development only.
	RecordPayload func(digest [32]byte)
	// Now is the directory core's clock; nil: time.Now. A replay of a simulator trace steps
	// it to the trace's simulated times.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Stack is a running system.
type Stack struct {
	// URL is the directory's base URL.
	URL string
	// PeerURL is the second directory's, with Config.Etcd; "" otherwise.
	PeerURL string
	// Core and API are the directory.
	Core *directory.Core
	API  *directoryhttp.Server
	// Agents and KMS are the servers by DC id, with their base URLs.
	Agents    map[string]*agent.Agent
	AgentURLs map[string]string
	// Media is every agent's media server (its signalling is at the agent's URL).
	Media   map[string]*sfu.Server
	KMS     map[string]*kms.Server
	KMSURLs map[string]string
	// Registry holds every server's metrics.
	Registry *prometheus.Registry
	// Dashboard is the operator dashboard, served by the directory at /ui/.
	Dashboard *dashboard.Dashboard
	// Evidence is the evidence logs (nil without Config.Evidence), EvidenceDir their folder.
	Evidence    *audit.Logs
	EvidenceDir string
	// DevAccount, DevKID and DevKey are the account whose join tokens the stack can mint, the
	// key's id and its private key ("" and nil when the config has no account).
	DevAccount string
	DevKID     string
	DevKey     ed25519.PrivateKey

	model *policy.Model
	log   *slog.Logger

	downMu sync.Mutex
	down   map[string]bool         // DCs failed with the "down" fault
	lns    map[string]net.Listener // unstarted listeners: agents, key servers, directory
	dirLn  net.Listener

	// With Config.Etcd: the second directory, the etcd clients, and the context of the
	// stores' watches, which Run's end (or a failed New) stops.
	PeerCore *directory.Core
	peerAPI  *directoryhttp.Server
	peerLn   net.Listener
	etcd     []*clientv3.Client
	etcdURLs []string
	ctx      context.Context
	stop     context.CancelFunc
}

// New builds a stack: every listener is open and every server made, nothing serves yet
// (Run serves).
func New(cfg Config) (_ *Stack, err error) {
	if cfg.Model == nil {
		return nil, errors.New("new dev stack: no model")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Model
	s := &Stack{
		Agents: map[string]*agent.Agent{}, AgentURLs: map[string]string{}, Media: map[string]*sfu.Server{}, KMS: map[string]*kms.Server{}, KMSURLs: map[string]string{},
		Registry: prometheus.NewRegistry(), model: m, log: log, lns: map[string]net.Listener{}, down: map[string]bool{},
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			s.closeListeners()
			s.stop()
			for _, cli := range s.etcd {
				cli.Close()
			}
		}
	}()
	listen := func(key string) (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("new dev stack: %w", err)
		}
		s.lns[key] = ln
		return "http://" + ln.Addr().String(), nil
	}
	// Listen for every agent and key server first, so the directory's tickets carry their
	// endpoints.
	for _, dc := range m.DCs {
		if dc.Media && !cfg.NoAgents {
			if s.AgentURLs[dc.ID], err = listen("agent/" + dc.ID); err != nil {
				return nil, err
			}
		}
		if dc.KMS {
			if s.KMSURLs[dc.ID], err = listen("kms/" + dc.ID); err != nil {
				return nil, err
			}
		}
	}
	s.dirLn = cfg.Listener
	if s.dirLn == nil {
		if s.dirLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("new dev stack: %w", err)
		}
	}
	s.URL = "http://" + s.dirLn.Addr().String()

	devKeys, err := s.makeDevKey(cfg.DevAccount)
	if err != nil {
		return nil, fmt.Errorf("new dev stack: %w", err)
	}
	var rec *audit.Recorder
	if cfg.Evidence != "" {
		if rec, err = s.openEvidence(cfg); err != nil {
			return nil, fmt.Errorf("new dev stack: %w", err)
		}
		defer func() {
			if err != nil {
				s.Evidence.Close(context.Background())
			}
		}()
	}
	dcfg := directory.Config{
		Model: m, Endpoints: s.AgentURLs, KMSEndpoints: s.KMSURLs, Unverified: cfg.Unverified,
		ExtraKeys: devKeys, Logger: log, Registry: s.Registry, Now: cfg.Now,
	}
	feed := dashboard.NewFeed(0)
	dcfg.Decisions = feed
	if rec != nil {
		dcfg.Decisions = dashboard.Tee(rec, feed)
	}
	// The key servers of a meeting hand out the same key for an epoch: through etcd, or
	// through records shared in this process.
	var records kms.Records = &kms.MemoryRecords{}
	if len(cfg.Etcd) > 0 {
		if dcfg.Store, records, err = s.openEtcd(cfg.Etcd); err != nil {
			return nil, fmt.Errorf("new dev stack: %w", err)
		}
	}
	s.Core, err = directory.New(dcfg)
	if err != nil {
		return nil, fmt.Errorf("new dev stack: %w", err)
	}
	storeKind := "memory"
	if len(cfg.Etcd) > 0 {
		storeKind = "etcd"
	}
	s.Dashboard, err = dashboard.New(dashboard.Config{Core: s.Core, Feed: feed, Gatherer: s.Registry, Unverified: cfg.Unverified,
		Store: storeKind, Logger: log, Registry: s.Registry})
	if err != nil {
		return nil, fmt.Errorf("new dev stack: %w", err)
	}
	signer, err := ticket.NewSigner(wire.TicketIssuer, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("new dev stack: %w", err)
	}
	s.API, err = directoryhttp.New(directoryhttp.Config{
		Core: s.Core, Signer: signer, GeoIP: cfg.GeoIP, Proxies: clientip.Resolver{Trusted: Loopback},
		TrustLoopback: true, Gatherer: s.Registry, Logger: log, Registry: s.Registry, AuditDir: s.EvidenceDir,
		Dashboard: s.Dashboard.Handler(),
	})
	if err == nil && len(cfg.Etcd) > 0 {
		err = s.newPeer(cfg, dcfg, signer)
	}
	if err != nil {
		return nil, fmt.Errorf("new dev stack: %w", err)
	}

	keys, err := ticket.NewRemoteKeys(s.URL+ticket.JWKSPath, nil, wire.TicketIssuer, nil)
	if err != nil {
		return nil, fmt.Errorf("new dev stack: %w", err)
	}
	// The key servers seal their keys under a key-encryption key made for this process: a
	// dev stack keeps no keys across restarts.
	kek := make([]byte, kms.KeySize)
	rand.Read(kek)
	for id := range s.KMSURLs {
		kcfg := kms.Config{DC: id, Model: m, Keys: keys, KEK: kek, Logger: log.With("kms", id),
			Registry: s.Registry, Unverified: cfg.Unverified, Shared: records}
		if rec != nil {
			kcfg.Decisions = rec
		}
		k, err := kms.New(kcfg)
		if err != nil {
			return nil, fmt.Errorf("new dev stack: %w", err)
		}
		s.KMS[id] = k
	}
	// Every media DC runs a media server inside its agent, on loopback only (DESIGN.md
	// section 8), bridging to the others with credentials made for this process.
	creds := map[string]string{}
	for id := range s.AgentURLs {
		creds[id] = rand.Text()
	}
	peers := func(id string) (string, bool) {
		u, ok := s.AgentURLs[id]
		return u, ok
	}
	for id := range s.AgentURLs {
		a, err := agent.New(agent.Config{ID: id, Model: m, Keys: keys, Directory: s.URL,
			Logger: log.With("dc", id), Registry: s.Registry, Unverified: cfg.Unverified, Page: meetingPage()})
		if err != nil {
			return nil, fmt.Errorf("new dev stack: %w", err)
		}
		media, err := sfu.New(sfu.Config{ID: id, Model: a.Model, Keys: keys, Sessions: a, Network: sfu.Network{Loopback: true},
			Credential: creds[id], PeerCredentials: creds, Peers: peers, RecordPayload: cfg.RecordPayload,
			Logger: log.With("dc", id), Registry: s.Registry})
		if err != nil {
			return nil, fmt.Errorf("new dev stack: %w", err)
		}
		if err := a.SetMedia(media); err != nil {
			return nil, fmt.Errorf("new dev stack: %w", err)
		}
		s.Agents[id], s.Media[id] = a, media
	}
	return s, nil
}

// EtcdURLs are the client URLs of the stack's etcd; nil when it keeps its state in memory.
func (s *Stack) EtcdURLs() []string { return s.etcdURLs }

// openEtcd connects to the stack's etcd: the first directory's store (a watched copy) and the
// key servers' records.
func (s *Stack) openEtcd(urls []string) (directory.Store, kms.Records, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: urls, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, nil, err
	}
	s.etcd, s.etcdURLs = append(s.etcd, cli), urls
	st, err := etcdstore.NewCached(s.ctx, cli, etcdstore.CacheConfig{Logger: s.log})
	if err != nil {
		return nil, nil, err
	}
	return st, etcdstore.New(cli, ""), nil
}

// newPeer makes the second directory: its own core on its own copy of the store, the same
// signer (one process), no load reports of its own (they reach it through the store).
func (s *Stack) newPeer(cfg Config, dcfg directory.Config, signer *ticket.Signer) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Etcd, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	s.etcd = append(s.etcd, cli)
	if dcfg.Store, err = etcdstore.NewCached(s.ctx, cli, etcdstore.CacheConfig{Logger: s.log}); err != nil {
		return err
	}
	dcfg.Registry, dcfg.Decisions = nil, nil // one registry per series; one evidence writer
	if s.PeerCore, err = directory.New(dcfg); err != nil {
		return err
	}
	api, err := directoryhttp.New(directoryhttp.Config{
		Core: s.PeerCore, Signer: signer, GeoIP: cfg.GeoIP, Proxies: clientip.Resolver{Trusted: Loopback},
		TrustLoopback: true, Logger: s.log.With("directory", "peer"),
	})
	if err != nil {
		return err
	}
	if s.peerLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return err
	}
	s.PeerURL, s.peerAPI = "http://"+s.peerLn.Addr().String(), api
	return nil
}

// openEvidence opens the evidence logs of every region and records the config in force.
func (s *Stack) openEvidence(cfg Config) (*audit.Recorder, error) {
	rep := cfg.Report
	if rep == nil {
		rep = &verify.Report{OK: !cfg.Unverified}
	}
	logs, rec, err := audit.OpenFolder(context.Background(), audit.Folder{Dir: cfg.Evidence, Model: s.model, Digest: cfg.ConfigDigest,
		Report: rep, Strict: cfg.StrictEvidence, Logger: s.log, Registry: s.Registry})
	if err != nil {
		return nil, err
	}
	s.Evidence, s.EvidenceDir = logs, logs.Folder()
	return rec, nil
}

// makeDevKey makes the stack's join-token key for the dev account. It is registered with the
// directory core as an extra key: the config's accounts stay as written.
func (s *Stack) makeDevKey(account string) ([]directory.ExtraKey, error) {
	if account == "" {
		account = FirstAccount(s.model)
	}
	if account == "" {
		return nil, nil
	}
	if _, ok := s.model.Accounts[account]; !ok {
		return nil, fmt.Errorf("dev account %q is not in the config", account)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	s.DevAccount, s.DevKID, s.DevKey = account, "dev-"+time.Now().UTC().Format("20060102T150405"), priv
	return []directory.ExtraKey{{Account: account, KID: s.DevKID, Public: pub}}, nil
}

// FirstAccount is the account a stack plays by default: acme when the config has it, else the
// first by id; "" when there is none.
func FirstAccount(m *policy.Model) string {
	if _, ok := m.Accounts["acme"]; ok {
		return "acme"
	}
	ids := make([]string, 0, len(m.Accounts))
	for id := range m.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// Token mints a join token of the dev account for participant, bound to meeting when given.
func (s *Stack) Token(participant, meeting string, host bool, ttl time.Duration) (string, error) {
	if s.DevKey == nil {
		return "", errors.New("mint dev token: the config has no account")
	}
	now := time.Now()
	return identity.Mint(s.DevKey, s.DevKID, wire.JoinClaims{
		Account: s.DevAccount, Participant: participant, Audience: []string{wire.JoinAudience}, Meeting: meeting, Host: host,
		IssuedAt: now, Expiry: now.Add(ttl),
	})
}

// Handler is the directory's API plus the dev-only endpoints:
// POST /v1/dev/datacenters/{id}/fault {"mode": "blackhole" | "refuse" | "down" | "none"}.
func (s *Stack) Handler() http.Handler {
	api := s.API.Handler()
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("POST /v1/dev/datacenters/{id}/fault", s.fault)
	mux.Handle("PUT /v1/datacenters/{id}/load", s.downReports(api))
	mux.Handle("GET "+meetingui.PagePath, meetingPage())
	return mux
}

// faultDown is the dev-only fault that fails a DC as the directory sees it: its agent refuses
// connections, and every load report for it, from its agent or by hand, says unhealthy until
// the fault is cleared. (Black-holed and refusing agents keep reporting healthy, so the
// directory and its dashboard still list them: a fault the directory cannot see.)
const faultDown = "down"

func (s *Stack) isDown(id string) bool {
	s.downMu.Lock()
	defer s.downMu.Unlock()
	return s.down[id]
}

func (s *Stack) setDown(id string, down bool) {
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if down {
		s.down[id] = true
	} else {
		delete(s.down, id)
	}
}

// downReports turns the load reports of a DC failed with faultDown into unhealthy ones. A body
// that is not a JSON object goes through unchanged, for the API to refuse.
func (s *Stack) downReports(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.isDown(r.PathValue("id")) {
			api.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		var rep map[string]json.RawMessage
		if err == nil && json.Unmarshal(body, &rep) == nil && rep != nil {
			rep["healthy"] = json.RawMessage("false")
			body, _ = json.Marshal(rep)
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		api.ServeHTTP(w, r)
	})
}

func (s *Stack) fault(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		Mode string `json:"mode"`
	}
	if err := jsonapi.Decode(http.MaxBytesReader(w, r.Body, 4096), &req); err != nil {
		jsonapi.Write(w, http.StatusBadRequest, wire.Error{Error: wire.CodeBadRequest, Message: `want {"mode": "blackhole" | "refuse" | "down" | "none"}: ` + err.Error()})
		return
	}
	a := s.Agents[id]
	if req.Mode == faultDown {
		dc, ok := s.model.DC(id)
		if !ok {
			jsonapi.Write(w, http.StatusNotFound, wire.Error{Error: wire.CodeUnknownDatacenter, Message: fmt.Sprintf("no datacenter %q", id)})
			return
		}
		s.setDown(id, true)
		if a != nil {
			a.SetFault(agent.FaultRefuse)
		}
		// Down at once, not at the next report.
		var participants int64
		for _, d := range s.Core.Datacenters() {
			if d.ID == id {
				participants = d.Participants
			}
		}
		s.Core.ReportLoad(s.model.DCs[dc].ID, participants, false)
		jsonapi.Write(w, http.StatusOK, map[string]string{"datacenter": id, "mode": faultDown})
		return
	}
	f, err := agent.ParseFault(req.Mode)
	if err != nil {
		jsonapi.Write(w, http.StatusBadRequest, wire.Error{Error: wire.CodeBadRequest, Message: err.Error() + ` (or "down")`})
		return
	}
	wasDown := s.isDown(id)
	s.setDown(id, false)
	if a == nil {
		if wasDown && f == agent.FaultNone {
			jsonapi.Write(w, http.StatusOK, map[string]string{"datacenter": id, "mode": f.String()})
			return
		}
		jsonapi.Write(w, http.StatusNotFound, wire.Error{Error: wire.CodeUnknownDatacenter, Message: fmt.Sprintf("no agent for datacenter %q in this dev process", id)})
		return
	}
	a.SetFault(f)
	jsonapi.Write(w, http.StatusOK, map[string]string{"datacenter": id, "mode": f.String()})
}

// Run serves every server of the stack until ctx is done, then drains them and returns.
func (s *Stack) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for id, k := range s.KMS {
		ln := s.take("kms/" + id)
		wg.Go(func() {
			if err := k.Serve(ctx, ln); err != nil {
				s.log.Error("key server stopped", "dc", id, "err", err)
			}
		})
	}
	for id, a := range s.Agents {
		ln := s.take("agent/" + id)
		wg.Go(func() {
			if err := a.Serve(ctx, ln); err != nil {
				s.log.Error("agent stopped", "dc", id, "err", err)
			}
		})
	}
	wg.Go(func() { s.Core.Run(ctx) })
	wg.Go(func() { s.Dashboard.Run(ctx) })
	if s.PeerCore != nil {
		wg.Go(func() { s.PeerCore.Run(ctx) })
		wg.Go(func() {
			if err := httpserve.Serve(ctx, s.peerLn, s.peerAPI.Handler(), httpserve.Options{Name: "directory-peer", Logger: s.log}); err != nil {
				s.log.Error("peer directory stopped", "err", err)
			}
		})
	}
	hm, err := httpserve.NewMetrics(s.Registry)
	if err != nil {
		return fmt.Errorf("run dev stack: %w", err)
	}
	err = httpserve.Serve(ctx, s.dirLn, s.Handler(), httpserve.Options{Name: "directory", Metrics: hm, Logger: s.log})
	cancel()
	wg.Wait()
	s.stop() // the stores' watches
	for _, cli := range s.etcd {
		cli.Close()
	}
	if s.Evidence != nil {
		// Every server has drained: the last checkpoint covers every decision they made.
		if cerr := s.Evidence.Close(context.Background()); cerr != nil && err == nil {
			err = fmt.Errorf("run dev stack: %w", cerr)
		}
	}
	return err
}

// meetingPage is the meeting page, mounted at meetingui.PagePath.
func meetingPage() http.Handler {
	return http.StripPrefix(strings.TrimSuffix(meetingui.PagePath, "/"), meetingui.Handler())
}

func (s *Stack) take(key string) net.Listener {
	ln := s.lns[key]
	delete(s.lns, key)
	return ln
}

func (s *Stack) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
	if s.dirLn != nil {
		s.dirLn.Close()
	}
	if s.peerLn != nil {
		s.peerLn.Close()
	}
}
