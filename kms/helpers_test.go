package kms

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/geofence/geofence/wire"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/prometheus/client_golang/prometheus"
)

const testIssuer = "geofence"

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// aprilPath is the config of the April 2020 scenario: North America's key-server list names
// Beijing. It does not verify, on purpose: the key server must refuse anyway.
const aprilPath = "../examples/april-2020.yaml"

// aprilModel is loaded once: a Model is immutable and safe to share.
var aprilModel = sync.OnceValues(func() (*policy.Model, error) {
	c, err := config.Load(aprilPath)
	if err != nil {
		return nil, err
	}
	return policy.New(c)
})

func loadApril(t testing.TB) *policy.Model {
	t.Helper()
	m, err := aprilModel()
	if err != nil {
		t.Fatalf("load %s: %v", aprilPath, err)
	}
	return m
}

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// detRand is a deterministic randomness source for ticket signers.
func detRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// staticKeys verifies with a fixed key set, without a network: a *ticket.Verifier wrapped to
// the TicketVerifier interface.
type staticKeys struct{ v *ticket.Verifier }

func (s staticKeys) Verify(_ context.Context, token string) (wire.Claims, error) {
	return s.v.Verify(token)
}

// testKEK is a fixed key-encryption key for tests.
func testKEK(seed byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// env is one key server on the April 2020 model with a directory's signer, a fake clock and
// its logs and metrics captured.
type env struct {
	t      testing.TB
	model  *policy.Model
	clk    *clock
	signer *ticket.Signer
	srv    *Server
	h      http.Handler
	reg    *prometheus.Registry
	logs   *bytes.Buffer
}

// newEnv starts a key server for dc; edit, when set, changes its Config before New.
func newEnv(t testing.TB, dc string, edit func(*Config)) *env {
	t.Helper()
	m := loadApril(t)
	clk := &clock{now: t0}
	signer, err := ticket.NewSigner(testIssuer, detRand(1), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ticket.NewVerifier(signer.JWKS(), testIssuer, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	reg := prometheus.NewRegistry()
	cfg := Config{
		DC: dc, Model: m, Keys: staticKeys{v}, KEK: testKEK(1), Now: clk.Now,
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: reg,
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, model: m, clk: clk, signer: signer, srv: srv, h: srv.Handler(), reg: reg, logs: logs}
}

// party is a participant with its own HPKE key pair.
type party struct {
	id   string
	priv keywrap.PrivateKey
	pub  keywrap.PublicKey
}

func newParty(t testing.TB, id string, suite keywrap.Suite) party {
	t.Helper()
	priv, err := keywrap.GenerateKey(suite)
	if err != nil {
		t.Fatal(err)
	}
	return party{id: id, priv: priv, pub: priv.PublicKey()}
}

// naClaims is the ticket the directory gives p, a basic-plan participant from the US, for a
// North American meeting hosted by acme (enterprise, data regions na and eu), listing three
// key servers: two allowed ones and, as in April 2020, Beijing.
func naClaims(meeting string, p party) wire.Claims {
	return wire.Claims{
		Meeting: meeting, Participant: p.id, Account: "initech", Mode: wire.ModeManaged,
		Region: "na", Home: "us-sjc",
		Primary: []wire.DC{{ID: "us-sjc", Country: "US"}, {ID: "ca-yyz", Country: "CA"}},
		KMS:     []wire.DC{{ID: "us-sjc", Country: "US"}, {ID: "ca-yyz", Country: "CA"}, {ID: "cn-pek", Country: "CN"}},
		Context: wire.Context{
			ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic",
			MeetingRegion: "na", HostAccount: "acme", HostPlan: "enterprise",
			HostDataRegions: []string{"na", "eu"},
		},
		PublicKey: p.pub.String(),
	}
}

// sign signs c for an hour, long enough to outlive a retention period on the fake clock.
func (e *env) sign(c wire.Claims) string {
	e.t.Helper()
	return e.signTTL(c, time.Hour)
}

func (e *env) signTTL(c wire.Claims, ttl time.Duration) string {
	e.t.Helper()
	tok, err := e.signer.Sign(c, ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// post sends body (a string is sent as is, anything else as JSON) to path through the
// handler and returns the status and the response body.
func (e *env) post(path string, body any) (int, []byte) {
	e.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// answer is a decoded key, leave or error answer.
type answer struct {
	status int
	body   []byte
	key    wire.KeyResponse
	left   wire.LeaveResponse
	err    wire.Error
}

func keyPath(meeting string) string   { return strings.Replace(KeyPath, "{id}", meeting, 1) }
func leavePath(meeting string) string { return strings.Replace(LeavePath, "{id}", meeting, 1) }

func (e *env) key(meeting string, req wire.KeyRequest) answer {
	e.t.Helper()
	st, body := e.post(keyPath(meeting), req)
	a := answer{status: st, body: body}
	if st == http.StatusOK {
		mustDecode(e.t, body, &a.key)
	} else {
		mustDecode(e.t, body, &a.err)
	}
	return a
}

func (e *env) leave(meeting, token string) answer {
	e.t.Helper()
	st, body := e.post(leavePath(meeting), wire.LeaveRequest{Token: token})
	a := answer{status: st, body: body}
	if st == http.StatusOK {
		mustDecode(e.t, body, &a.left)
	} else {
		mustDecode(e.t, body, &a.err)
	}
	return a
}

func mustDecode(t testing.TB, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
}

// open unwraps an issued key with p's private key under the binding the answer claims.
func open(t testing.TB, p party, k wire.KeyResponse) []byte {
	t.Helper()
	w, err := keywrap.ParseWrapped(k.Wrapped)
	if err != nil {
		t.Fatalf("parse wrapped key: %v", err)
	}
	key, err := keywrap.Unwrap(p.priv, w, keywrap.Binding{Meeting: k.Meeting, Epoch: k.Epoch, Participant: p.id})
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	return key
}

func epochPtr(n uint64) *uint64 { return &n }

// value returns the value of the series name{labels} in reg, or -1 when there is none.
func value(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// logRecords decodes the JSON log lines.
func logRecords(t testing.TB, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}
