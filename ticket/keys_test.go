package ticket

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func kids(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// TestRotation steps through a key's life: next, active, retired, pruned.
func TestRotation(t *testing.T) {
	const ttl = 10 * time.Minute
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	before := newTestVerifier(t, s.JWKS(), clk) // knows the active and the next key
	k1 := s.KeyID()
	tok1 := mustSign(t, s, validClaims(), ttl)

	if err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	k2 := s.KeyID()
	if k2 == k1 {
		t.Fatalf("kid after Rotate is still %q", k1)
	}
	if !slices.Contains(kids(s.JWKS()), k1) {
		t.Fatalf("kids after Rotate %q, want them to keep the retired %q", kids(s.JWKS()), k1)
	}
	clk.Advance(time.Minute)
	tok2 := mustSign(t, s, validClaims(), ttl)
	after := newTestVerifier(t, s.JWKS(), clk)

	check := func(step string, v *Verifier, tok string, wantErr error) {
		t.Helper()
		_, err := v.Verify(tok)
		if wantErr == nil && err != nil || wantErr != nil && !errors.Is(err, wantErr) {
			t.Errorf("%s: got error %v, want %v", step, err, wantErr)
		}
	}
	// The next key was published before it signed: a verifier that never refreshed knows it.
	check("new ticket, set from before Rotate", before, tok2, nil)
	check("old ticket, set from after Rotate", after, tok1, nil)
	check("new ticket, set from after Rotate", after, tok2, nil)

	// tok1 expires at t0+ttl; a verifier accepts it until Leeway later, so k1 stays until then.
	clk.Set(t0.Add(ttl + Leeway - time.Second))
	if n, err := s.Prune(); n != 0 || err != nil {
		t.Fatalf("Prune before every k1 ticket expired = %d, %v; want 0, nil", n, err)
	}
	check("old ticket, just before exp+leeway", newTestVerifier(t, s.JWKS(), clk), tok1, nil)

	clk.Set(t0.Add(ttl + Leeway))
	if n, err := s.Prune(); n != 1 || err != nil {
		t.Fatalf("Prune after every k1 ticket expired = %d, %v; want 1, nil", n, err)
	}
	if got := kids(s.JWKS()); slices.Contains(got, k1) || !slices.Contains(got, k2) {
		t.Fatalf("kids after Prune %q, want %q gone and %q kept", got, k1, k2)
	}
	check("old ticket after Prune", newTestVerifier(t, s.JWKS(), clk), tok1, ErrUnknownKey)
	check("new ticket after Prune", newTestVerifier(t, s.JWKS(), clk), tok2, nil)
}

func TestPruneUnusedKey(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	unused := s.KeyID()
	if err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(); n != 1 || err != nil {
		t.Fatalf("Prune = %d, %v; want the never-used key dropped: 1, nil", n, err)
	}
	if got := kids(s.JWKS()); slices.Contains(got, unused) || len(got) != 2 {
		t.Errorf("kids %q, want the active and next keys only", got)
	}
}

// TestSignRotateConcurrently is for the race detector: a key must not be pruned between
// signing a ticket and recording its expiry.
func TestSignRotateConcurrently(t *testing.T) {
	clk := newClock(t0)
	s, err := NewSigner(testIssuer, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []string
	)
	for range 4 {
		wg.Go(func() {
			for range 50 {
				tok := mustSign(t, s, validClaims(), time.Hour)
				mu.Lock()
				tokens = append(tokens, tok)
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := s.Rotate(); err != nil {
				t.Error(err)
			}
			if _, err := s.Prune(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	v := newTestVerifier(t, s.JWKS(), clk)
	for _, tok := range tokens {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("ticket signed during rotation: %v", err)
		}
	}
}

// recorder keeps everything read from the random source: the private keys are made of it.
type recorder struct {
	r    io.Reader
	mu   sync.Mutex
	read [][]byte
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.mu.Lock()
	r.read = append(r.read, bytes.Clone(b[:n]))
	r.mu.Unlock()
	return n, err
}

func TestJWKSHasNoPrivateKey(t *testing.T) {
	clk := newClock(t0)
	rec := &recorder{r: detRand(3)}
	s, err := NewSigner(testIssuer, rec, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	mustSign(t, s, validClaims(), time.Minute)
	if err := s.Rotate(); err != nil { // one active, one next, one retired
		t.Fatal(err)
	}
	set := s.JWKS()
	if len(set.Keys) != 3 {
		t.Fatalf("got %d keys, want 3", len(set.Keys))
	}
	setJSON, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	rr := httptest.NewRecorder()
	s.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, JWKSPath, nil))

	for _, doc := range []struct {
		name string
		body []byte
	}{{"JWKS", setJSON}, {"handler", rr.Body.Bytes()}} {
		var raw struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(doc.body, &raw); err != nil {
			t.Fatalf("%s: %v", doc.name, err)
		}
		for i, k := range raw.Keys {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "priv"} {
				if _, ok := k[private]; ok {
					t.Errorf("%s: key %d has private member %q", doc.name, i, private)
				}
			}
			for member, want := range map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"} {
				if got := k[member]; got != want {
					t.Errorf("%s: key %d: got %s %v, want %q", doc.name, i, member, got, want)
				}
			}
		}
		// Whatever the encoding, no secret read from rand may appear.
		for _, secret := range rec.read {
			if len(secret) != ed25519.SeedSize {
				continue
			}
			priv := ed25519.NewKeyFromSeed(secret)
			for _, enc := range []string{b64.EncodeToString(secret), b64.EncodeToString(priv), string(secret)} {
				if bytes.Contains(doc.body, []byte(enc)) {
					t.Errorf("%s holds private key material %q", doc.name, enc)
				}
			}
		}
	}
	for i, k := range set.Keys {
		if !k.IsPublic() {
			t.Errorf("key %d is not public", i)
		}
		if _, ok := k.Key.(ed25519.PublicKey); !ok {
			t.Errorf("key %d is a %T, want ed25519.PublicKey", i, k.Key)
		}
	}
	// Changing the returned set must not change the published one.
	set.Keys[0].KeyID = "changed"
	if s.JWKS().Keys[0].KeyID == "changed" {
		t.Error("JWKS returned the signer's own slice")
	}
}

func TestJWKSHandler(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	get := func(method string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+JWKSPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	resp, body := get(http.MethodGet, nil)
	etag := resp.Header.Get("ETag")
	for _, h := range []struct{ name, want string }{
		{"Content-Type", "application/jwk-set+json"},
		{"Cache-Control", "public, max-age=300"},
	} {
		if got := resp.Header.Get(h.name); got != h.want {
			t.Errorf("GET: got %s %q, want %q", h.name, got, h.want)
		}
	}
	if resp.StatusCode != http.StatusOK || etag == "" {
		t.Fatalf("GET: got status %d, ETag %q; want 200 and an ETag", resp.StatusCode, etag)
	}
	set, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kids(set), kids(s.JWKS()); !slices.Equal(got, want) {
		t.Errorf("GET: got kids %q, want %q", got, want)
	}

	tests := []struct {
		name       string
		method     string
		header     http.Header
		wantStatus int
		wantBody   bool
	}{
		{"get", http.MethodGet, nil, http.StatusOK, true},
		{"head", http.MethodHead, nil, http.StatusOK, false},
		{"revalidate", http.MethodGet, http.Header{"If-None-Match": {etag}}, http.StatusNotModified, false},
		{"stale etag", http.MethodGet, http.Header{"If-None-Match": {`"old"`}}, http.StatusOK, true},
		{"post", http.MethodPost, nil, http.StatusMethodNotAllowed, true},
		{"delete", http.MethodDelete, nil, http.StatusMethodNotAllowed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, got := get(tt.method, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if (len(got) > 0) != tt.wantBody {
				t.Errorf("got %d body bytes, want a body: %v", len(got), tt.wantBody)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("got Allow %q, want %q", resp.Header.Get("Allow"), "GET, HEAD")
			}
		})
	}

	if err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	resp, _ = get(http.MethodGet, http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Errorf("after Rotate: got status %d, ETag %q; want 200 and an ETag other than %q",
			resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
}

func TestNewVerifierKeySets(t *testing.T) {
	f := newForger(t, 9)
	pub := f.priv.Public().(ed25519.PublicKey)
	good := jose.JSONWebKey{Key: pub, KeyID: f.kid, Algorithm: "EdDSA", Use: "sig"}
	other := newForger(t, 10)

	tests := []struct {
		name     string
		keys     []jose.JSONWebKey
		wantErr  string // empty: NewVerifier succeeds
		wantKids []string
	}{
		{"one key", []jose.JSONWebKey{good}, "", []string{f.kid}},
		{"bare key", []jose.JSONWebKey{{Key: pub, KeyID: f.kid}}, "", []string{f.kid}},
		{"rfc 9864 alg", []jose.JSONWebKey{{Key: pub, KeyID: f.kid, Algorithm: "Ed25519"}}, "", []string{f.kid}},
		{"encryption key ignored", []jose.JSONWebKey{good, {Key: other.priv.Public(), KeyID: "enc", Use: "enc"}}, "", []string{f.kid}},
		{"other alg ignored", []jose.JSONWebKey{good, {Key: other.priv.Public(), KeyID: "x", Algorithm: "ES256"}}, "", []string{f.kid}},
		{"empty", nil, "no Ed25519 signing key", nil},
		{"private key", []jose.JSONWebKey{good, {Key: other.priv, KeyID: "leak"}}, `kid "leak") is private`, nil},
		{"symmetric key", []jose.JSONWebKey{good, {Key: []byte("secret"), KeyID: "hs"}}, `kid "hs") is private or symmetric`, nil},
		{"no kid", []jose.JSONWebKey{{Key: pub}}, "key 0 has no kid", nil},
		{"duplicate kid", []jose.JSONWebKey{good, {Key: other.priv.Public(), KeyID: f.kid}}, "appears twice", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(jose.JSONWebKeySet{Keys: tt.keys}, testIssuer, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for kid := range v.keys {
				got = append(got, kid)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantKids) {
				t.Errorf("got kids %q, want %q", got, tt.wantKids)
			}
		})
	}
	if _, err := NewVerifier(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{good}}, "", nil); err == nil {
		t.Error("NewVerifier with an empty issuer succeeded, want an error")
	}
}
