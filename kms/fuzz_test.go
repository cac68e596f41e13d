package kms

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"github.com/geofence/geofence/wire"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/geofence/geofence/crypto/keywrap"
)

// FuzzKeyRequest feeds arbitrary bodies to POST /v1/meetings/{id}/key (its corpus is in
// testdata/fuzz/FuzzKeyRequest): the key server never panics, never answers 500, always
// answers JSON, and issues a key only to a well-formed request with a valid ticket.
//
//	go test ./kms -run '^$' -fuzz FuzzKeyRequest -fuzztime 5m -fuzzminimizetime 5s
//
// (a short -fuzzminimizetime: minimizing a ticket-sized input otherwise takes the default
// minute, during which nothing new is tried).
func FuzzKeyRequest(f *testing.F) {
	e := newEnv(f, "us-sjc", nil)
	e.logs.Reset()
	// Fixed keys: under -fuzz the seeds are made in one process and run in others, so the
	// ticket's public key must be the same everywhere (the signer is deterministic too).
	priv, err := keywrap.ParsePrivateKey("x25519-private:" + base64.RawURLEncoding.EncodeToString(testKEK(5)))
	if err != nil {
		f.Fatal(err)
	}
	alice := party{id: "alice", priv: priv, pub: priv.PublicKey()}
	tok := e.sign(naClaims("m-1", alice))
	for _, seed := range []string{
		`{"token":"` + tok + `"}`,
		`{"token":"` + tok + `","public_key":"` + alice.pub.String() + `"}`,
		`{"token":"` + tok + `","public_key":"x25519:AAAA"}`,
		`{"token":"` + tok + `","epoch":1}`,
		`{"token":"` + tok + `","epoch":18446744073709551615}`,
		`{"token":"` + tok + `","epoch":0}`,
		`{"token":"` + tok + `"} {}`,
		`{"token":"` + tok[:len(tok)/2] + `"}`,
	} {
		f.Add([]byte(seed))
	}
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		e.logs.Reset() // bound the memory the captured log takes
		req := httptest.NewRequest(http.MethodPost, keyPath("m-1"), bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("got %d %s for body %q", rec.Code, rec.Body, body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}
		// The leave body has the same parser; it is checked without the handler, whose
		// leave would retire alice's ticket for the rest of the run.
		if lr, err := decodeLeaveRequest(bytes.NewReader(body)); err == nil && lr.Token == "" {
			t.Fatalf("leave parser accepted a body without a token: %q", body)
		}
		parsed, err := decodeKeyRequest(bytes.NewReader(body))
		if err != nil {
			if rec.Code == http.StatusOK {
				t.Fatalf("issued a key for a body the parser rejects (%v): %q", err, body)
			}
			return
		}
		if parsed.Token == "" {
			t.Fatalf("parser accepted a body without a token: %q", body)
		}
		if parsed.Epoch != nil && *parsed.Epoch == 0 {
			t.Fatalf("parser accepted epoch 0: %q", body)
		}
		if rec.Code == http.StatusOK {
			var k wire.KeyResponse
			mustDecode(t, rec.Body.Bytes(), &k)
			open(t, alice, k) // only alice's ticket is valid: the key is hers
		}
	})
}
