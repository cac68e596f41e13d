package kms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/geofence/geofence/wire"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/geofence/geofence/crypto/keywrap"
)

// benchmarkIssue100 measures one key server issuing the key of a 100-participant meeting:
// one op is 100 key requests through the handler, each with its own participant, key pair
// and ticket (verify the ticket, check the policy, unseal, wrap with HPKE, answer JSON).
func benchmarkIssue100(b *testing.B, suite keywrap.Suite) {
	e := newEnv(b, "us-sjc", func(c *Config) {
		c.Logger = slog.New(slog.DiscardHandler) // the log's cost is the handler's, not ours
		c.Registry = nil
	})
	const n = 100
	bodies := make([][]byte, n)
	for i := range n {
		p := newParty(b, fmt.Sprintf("participant-%03d", i), suite)
		body, err := json.Marshal(wire.KeyRequest{Token: e.sign(naClaims("m-bench", p))})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	path := keyPath("m-bench")
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("got %d %s", rec.Code, rec.Body)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/issue")
}

func BenchmarkIssue100(b *testing.B)       { benchmarkIssue100(b, keywrap.X25519) }
func BenchmarkIssue100Hybrid(b *testing.B) { benchmarkIssue100(b, keywrap.MLKEM768X25519) }
