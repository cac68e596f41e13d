package audit_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"os"
	"testing"

	"github.com/geofence/geofence/audit"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func leaf(b []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, b...))
	return h[:]
}

// mth is RFC 6962's Merkle tree hash, written again for the tests.
func mth(hs [][]byte) []byte {
	if len(hs) == 1 {
		return hs[0]
	}
	k := 1
	for k*2 < len(hs) {
		k *= 2
	}
	l, r := mth(hs[:k]), mth(hs[k:])
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

func TestMain(m *testing.M) {
	audit.QuietTessera(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func ed25519Key(seed []byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed) }
