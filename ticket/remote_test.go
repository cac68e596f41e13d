package ticket

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// directory serves a Signer's key set over TLS on loopback, counting fetches; down makes it
// answer 503.
type directory struct {
	*httptest.Server
	signer  *Signer
	fetches atomic.Int32
	down    atomic.Bool
}

func newDirectory(t *testing.T, s *Signer) *directory {
	t.Helper()
	d := &directory{signer: s}
	mux := http.NewServeMux()
	mux.HandleFunc(JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		d.fetches.Add(1)
		if d.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.Handler().ServeHTTP(w, r)
	})
	d.Server = httptest.NewTLSServer(mux)
	t.Cleanup(d.Close)
	return d
}

func newTestRemote(t *testing.T, d *directory, clk *clock) *RemoteKeys {
	t.Helper()
	r, err := NewRemoteKeys(d.URL+JWKSPath, d.Client(), testIssuer, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRemoteKeysScenario steps a verifier through rotations, made-up kids, expiry of its cache
// and an outage of the directory, checking each answer and how many fetches it cost.
func TestRemoteKeysScenario(t *testing.T) {
	ctx := t.Context()
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	d := newDirectory(t, s)
	r := newTestRemote(t, d, clk)
	forged := newForger(t, 9)
	const ttl = time.Hour

	var tok1, tok3 string
	steps := []struct {
		name        string
		do          func() // before verifying; may be nil
		token       func() string
		wantErr     error // nil, ErrUnknownKey or ErrInvalid
		wantFetches int32 // total so far
	}{
		{"first use fetches", nil, func() string { tok1 = mustSign(t, s, validClaims(), ttl); return tok1 }, nil, 1},
		{"cached", nil, func() string { return tok1 }, nil, 1},
		{"rotated once: the next key was already published", func() { rotate(t, s) },
			func() string { return mustSign(t, s, validClaims(), ttl) }, nil, 1},
		{"rotated again within the cache's life: unknown kid refetches", func() { clk.Advance(20 * time.Second); rotate(t, s) },
			func() string { tok3 = mustSign(t, s, validClaims(), ttl); return tok3 }, nil, 2},
		{"old ticket still verifies", nil, func() string { return tok1 }, nil, 2},
		{"made-up kid right after a fetch for an unknown kid is not fetched for", nil, func() string { return forgedToken(t, forged) }, ErrUnknownKey, 2},
		{"made-up kid after MinInterval is fetched for once", func() { clk.Advance(DefaultMinInterval) },
			func() string { return forgedToken(t, forged) }, ErrUnknownKey, 3},
		{"and not again", nil, func() string { return forgedToken(t, forged) }, ErrUnknownKey, 3},
		{"malformed tokens cost no fetch", func() { clk.Advance(DefaultMinInterval) }, func() string { return "a.b" }, ErrInvalid, 3},
		{"cache older than MaxAge is refreshed", func() { clk.Advance(DefaultMaxAge) }, func() string { return tok3 }, nil, 4},
		{"directory down: the last set keeps working", func() { d.down.Store(true); clk.Advance(DefaultMaxAge) },
			func() string { return tok3 }, nil, 5},
		{"and the failed fetch is rate limited too", func() { clk.Advance(time.Second) }, func() string { return tok3 }, nil, 5},
		{"directory back", func() { d.down.Store(false); clk.Advance(DefaultMinInterval) }, func() string { return tok3 }, nil, 6},
		{"tok1's key pruned: after the next refresh, tok1 is refused", func() {
			clk.Set(t0.Add(ttl + Leeway))
			if n, err := s.Prune(); n != 2 || err != nil { // the keys of tok1 and of the ticket of step 3
				t.Fatalf("Prune = %d, %v; want 2, nil", n, err)
			}
			clk.Advance(-Leeway - time.Minute) // tok1 itself is not yet expired
		}, func() string { return tok1 }, ErrUnknownKey, 8}, // one fetch as the set is stale, one for the kid
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		_, err := r.Verify(ctx, st.token())
		switch {
		case st.wantErr == nil && err != nil:
			t.Fatalf("%s: got error %v, want none", st.name, err)
		case st.wantErr != nil && !errors.Is(err, st.wantErr):
			t.Fatalf("%s: got error %v, want %v", st.name, err, st.wantErr)
		}
		if got := d.fetches.Load(); got != st.wantFetches {
			t.Fatalf("%s: got %d fetches so far, want %d", st.name, got, st.wantFetches)
		}
	}
}

func rotate(t testing.TB, s *Signer) {
	t.Helper()
	if err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
}

func forgedToken(t testing.TB, f *forger) string {
	return f.sign(mustJSON(t, f.header()), mustJSON(t, payload(t, validClaims(), t0, time.Hour)))
}

// TestRemoteKeysConcurrentUnknownKid: many verifiers meeting the same new key at once cause
// one fetch, not one each.
func TestRemoteKeysConcurrentUnknownKid(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	d := newDirectory(t, s)
	r := newTestRemote(t, d, clk)
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	rotate(t, s)
	rotate(t, s)
	tok := mustSign(t, s, validClaims(), time.Hour)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := r.Verify(t.Context(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := d.fetches.Load(); got != 2 {
		t.Errorf("got %d fetches, want 2 (Refresh and one for the new kid)", got)
	}
}

func TestRemoteKeysFirstFetch(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	tok := mustSign(t, s, validClaims(), time.Hour)

	tests := []struct {
		name    string
		handler http.HandlerFunc
		issuer  string
		wantErr string // empty: Verify succeeds
	}{
		{"ok", s.Handler().ServeHTTP, testIssuer, ""},
		{"not found", http.NotFound, testIssuer, "status 404"},
		{"not json", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, testIssuer, "decode key set"},
		{"no keys member", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"kids":[]}`)) }, testIssuer, `no "keys" member`},
		{"private key published", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","d":"` + rfc8037D + `","x":"` + rfc8037X + `"}]}`))
		}, testIssuer, "private or symmetric"},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSSize) + `"}`))
		}, testIssuer, "larger than"},
		{"unknown key types are skipped", func(w http.ResponseWriter, r *http.Request) {
			body := string(mustJSON(t, s.JWKS()))
			body = strings.Replace(body, `"keys":[`, `"keys":[{"kty":"AKP","alg":"ML-DSA-65","kid":"pq","pub":"AAAA"},{"kty":"XYZ"},`, 1)
			w.Write([]byte(body))
		}, testIssuer, ""},
		{"other issuer", s.Handler().ServeHTTP, "https://other.test", `iss "` + testIssuer + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tt.handler)
			defer srv.Close()
			r, err := NewRemoteKeys(srv.URL, srv.Client(), tt.issuer, clk.Now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Verify(t.Context(), tok)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestRemoteKeysFetchErrorIsNotInvalid(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	r, err := NewRemoteKeys(srv.URL, srv.Client(), testIssuer, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Verify(t.Context(), mustSign(t, s, validClaims(), time.Hour))
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("got error %v, want a fetch error that does not blame the ticket", err)
	}
}

func TestRemoteKeysContext(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	release := make(chan struct{})
	// The handler never answers before the test ends: returning early would send an empty 200,
	// and the client could read it before it notices its deadline.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	r, err := NewRemoteKeys(srv.URL, srv.Client(), testIssuer, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = r.Verify(ctx, mustSign(t, s, validClaims(), time.Hour))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v, want context.DeadlineExceeded", err)
	}
}

func TestRemoteKeysPlainHTTPLoopback(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	srv := httptest.NewServer(s.Handler()) // plain HTTP, as in `geofence dev`
	defer srv.Close()
	r, err := NewRemoteKeys(srv.URL+JWKSPath, srv.Client(), testIssuer, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(t.Context(), mustSign(t, s, validClaims(), time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestNewRemoteKeysURL(t *testing.T) {
	tests := []struct {
		url    string
		wantOK bool
	}{
		{"https://directory.example" + JWKSPath, true},
		{"https://10.0.0.1:8443" + JWKSPath, true},
		{"http://127.0.0.1:8080" + JWKSPath, true},
		{"http://[::1]:8080" + JWKSPath, true},
		{"http://localhost:8080" + JWKSPath, true},
		{"http://directory.example" + JWKSPath, false},
		{"http://10.0.0.1" + JWKSPath, false},
		{"http://127.0.0.1.evil.example" + JWKSPath, false},
		{"ftp://directory.example/jwks.json", false},
		{"https://", false},
		{"/jwks.json", false},
		{"", false},
		{"::", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := NewRemoteKeys(tt.url, nil, testIssuer, nil)
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Errorf("got error %v, want ok: %v", err, tt.wantOK)
			}
		})
	}
	if _, err := NewRemoteKeys("https://directory.example", nil, "", nil); err == nil {
		t.Error("empty issuer: got no error")
	}
}
