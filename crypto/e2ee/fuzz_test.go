package e2ee_test

import (
	"encoding/json"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

// FuzzReceive feeds a participant envelopes as a relay would deliver them (JSON, untrusted).
// Whatever the input, Receive returns an error or a key, never panics, and a failed Receive
// leaves the participant's key alone. The corpus in testdata/fuzz/FuzzReceive holds envelopes
// that open, for alice (x25519) and bob (hybrid), whose keys are the seeded ones below.
func FuzzReceive(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"meeting":"m-42","epoch":1,"participant":"alice"}`,
		`{"meeting":"m-42","epoch":1,"participant":"alice","wrapped":"x25519-wrapped:"}`,
		`{"meeting":"m-42","epoch":18446744073709551615,"participant":"alice","wrapped":""}`,
	} {
		f.Add([]byte(s))
	}
	alice := seededKey(f, keywrap.X25519, 1)
	bob := seededKey(f, keywrap.MLKEM768X25519, 2)
	f.Fuzz(func(t *testing.T, data []byte) {
		var e e2ee.Envelope
		if err := json.Unmarshal(data, &e); err != nil {
			return
		}
		for id, priv := range map[string]keywrap.PrivateKey{"alice": alice, "bob": bob} {
			p, err := e2ee.NewParticipant(meeting, id, priv)
			if err != nil {
				t.Fatal(err)
			}
			k, err := p.Receive(e)
			if err != nil {
				if !k.IsZero() || !p.Key().IsZero() {
					t.Fatalf("Receive failed (%v) but returned or kept a key", err)
				}
				continue
			}
			if k.IsZero() || k.Epoch() != e.Epoch || e.Participant != id || e.Meeting != meeting {
				t.Fatalf("Receive of %+v as %s = %v", e, id, k)
			}
		}
	})
}
