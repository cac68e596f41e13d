package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/verify"
	"github.com/geofence/geofence/wire"
)

const testIssuer = "geofence"

// loadModel loads a config that must verify.
func loadModel(t testing.TB, path string) *policy.Model {
	t.Helper()
	rep, m, err := verify.File(path, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m == nil {
		t.Fatalf("%s: no model", path)
	}
	_ = rep // april-2020.yaml does not verify, on purpose: the agent must refuse anyway
	return m
}

// detRand is a deterministic key source, so that two signers can share keys (to test the
// issuer check) or a signer can sign with a past clock.
func detRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// keyServer is a directory's signing side: a signer and its JWKS on a loopback server.
type keyServer struct {
	signer *ticket.Signer
	url    string // JWKS URL
}

func newKeyServer(t testing.TB) *keyServer {
	t.Helper()
	s, err := ticket.NewSigner(testIssuer, detRand(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ticket.JWKSPath, s.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &keyServer{signer: s, url: srv.URL + ticket.JWKSPath}
}

func (k *keyServer) remoteKeys(t testing.TB) *ticket.RemoteKeys {
	t.Helper()
	rk, err := ticket.NewRemoteKeys(k.url, nil, testIssuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rk
}

func (k *keyServer) sign(t testing.TB, c wire.Claims) string {
	t.Helper()
	return mustSign(t, k.signer, c, 5*time.Minute)
}

func mustSign(t testing.TB, s *ticket.Signer, c wire.Claims, ttl time.Duration) string {
	t.Helper()
	tok, err := s.Sign(c, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// naClaims is a basic-plan participant from the US in a North American meeting, with the
// datacenters of m.
func naClaims(m *policy.Model, primary, secondary []string) wire.Claims {
	dcs := func(ids []string) []wire.DC {
		var out []wire.DC
		for _, id := range ids {
			country := "US"
			if d, ok := m.DC(id); ok {
				country = m.DCs[d].Country.Code()
			}
			out = append(out, wire.DC{ID: id, Country: country})
		}
		return out
	}
	return wire.Claims{
		Meeting: "m-1", Participant: "alice", Account: "globex", Mode: wire.ModeE2EE,
		Region: "na", Home: "us-sjc",
		Primary: dcs(primary), Secondary: dcs(secondary),
		Context: wire.Context{
			ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic",
			MeetingRegion: "na", HostAccount: "globex", HostPlan: "basic",
		},
	}
}

// startAgent serves a on a loopback port until the test ends, and returns its base URL.
func startAgent(t testing.TB, a *Agent) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newAgent(t testing.TB, cfg Config) *Agent {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testClient is an HTTP client of its own, whose idle connections are closed when the test
// ends (so that the goroutine check sees none of them).
func testClient(t testing.TB, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

type answer struct {
	status  int
	header  http.Header
	connect wire.Connected
	err     wire.Error
	raw     string
}

func post(t testing.TB, c *http.Client, url string, body any) answer {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(raw, &a.connect)
	} else if len(raw) > 0 {
		err = json.Unmarshal(raw, &a.err)
	}
	if err != nil {
		t.Fatalf("POST %s: %d answer %q is not JSON: %v", url, resp.StatusCode, raw, err)
	}
	return a
}

func connect(t testing.TB, c *http.Client, base, token string) answer {
	t.Helper()
	return post(t, c, base+ConnectPath, wire.Connect{Token: token})
}

// staticKeys verifies with a fixed key set, without a network.
type staticKeys struct{ v *ticket.Verifier }

func (s staticKeys) Verify(_ context.Context, token string) (wire.Claims, error) {
	return s.v.Verify(token)
}

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)} }

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
