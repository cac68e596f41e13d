package meetingui

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

// TestWrapInterop: the page, as an e2ee meeting's leader, wraps a meeting key to a Go
// participant's public key of each suite (src/keys.js wrapKey); Go (crypto/keywrap, and
// crypto/e2ee's Participant as the Go client) opens it under the same binding and refuses it
// under another. Go's wrap opened by the page is TestHPKEInterop.
func TestWrapInterop(t *testing.T) {
	needModules(t)
	for _, suite := range []keywrap.Suite{keywrap.X25519, keywrap.MLKEM768X25519} {
		t.Run(suite.String(), func(t *testing.T) {
			priv, err := keywrap.GenerateKey(suite)
			if err != nil {
				t.Fatal(err)
			}
			key := e2ee.NewMeetingKey()
			req, _ := json.Marshal(map[string]string{"public_key": priv.PublicKey().String(), "key": hex.EncodeToString(key),
				"meeting": "m-7f3a", "epoch": "5", "participant": "pbob"})
			var ans struct {
				Wrapped string `json:"wrapped"`
				Error   string `json:"error"`
			}
			if err := json.Unmarshal(runNode(t, req, filepath.Join("test", "wrap.mjs")), &ans); err != nil || ans.Error != "" {
				t.Fatalf("wrap: %v %s", err, ans.Error)
			}
			w, err := keywrap.ParseWrapped(ans.Wrapped)
			if err != nil {
				t.Fatalf("Go parses the page's wrapped key %.40s...: %v", ans.Wrapped, err)
			}
			got, err := keywrap.Unwrap(priv, w, keywrap.Binding{Meeting: "m-7f3a", Epoch: 5, Participant: "pbob"})
			if err != nil || hex.EncodeToString(got) != hex.EncodeToString(key) {
				t.Fatalf("Go opened %x (%v), want the key the page wrapped", got, err)
			}
			p, err := e2ee.NewParticipant("m-7f3a", "pbob", priv)
			if err != nil {
				t.Fatal(err)
			}
			k, err := p.Receive(e2ee.Envelope{Meeting: "m-7f3a", Epoch: 5, Participant: "pbob", Wrapped: w})
			if err != nil || hex.EncodeToString(k.Bytes()) != hex.EncodeToString(key) {
				t.Fatalf("the Go participant received %v (%v), want the page's key", k, err)
			}
			for _, b := range []keywrap.Binding{
				{Meeting: "m-7f3a", Epoch: 6, Participant: "pbob"},
				{Meeting: "m-7f3a", Epoch: 5, Participant: "pcarol"},
				{Meeting: "m-other", Epoch: 5, Participant: "pbob"},
			} {
				if _, err := keywrap.Unwrap(priv, w, b); !errors.Is(err, keywrap.ErrUnwrap) {
					t.Errorf("opened under %+v: %v, want ErrUnwrap", b, err)
				}
			}
		})
	}
}
