package meetingui

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

// needModules skips t (fails it under CI) when web/meeting's npm dependencies are not
// installed: the page's HPKE comes from them.
func needModules(t *testing.T) {
	t.Helper()
	node(t)
	if _, err := os.Stat(filepath.Join("node_modules", "@hpke", "core", "package.json")); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("web/meeting/node_modules has no @hpke/core: run `npm ci` in web/meeting")
		}
		t.Fatal("web/meeting/node_modules has no @hpke/core: run `npm ci` in web/meeting first")
	}
}

// TestHPKEInterop: the page makes a key pair of each keywrap suite; Go (crypto/keywrap, as
// the key servers do) wraps a meeting key to its public key; the page opens it under the same
// binding, and refuses it under another.
func TestHPKEInterop(t *testing.T) {
	needModules(t)
	for _, suite := range []string{"x25519", "mlkem768x25519"} {
		t.Run(suite, func(t *testing.T) {
			var gen struct {
				PublicKey  string `json:"public_key"`
				PrivateKey string `json:"private_key"`
				Error      string `json:"error"`
			}
			req, _ := json.Marshal(map[string]string{"op": "generate", "suite": suite})
			if err := json.Unmarshal(runNode(t, req, filepath.Join("test", "hpke.mjs")), &gen); err != nil || gen.Error != "" {
				t.Fatalf("generate: %v %s", err, gen.Error)
			}
			pub, err := keywrap.ParsePublicKey(gen.PublicKey)
			if err != nil {
				t.Fatalf("Go parses the page's public key %.40s...: %v", gen.PublicKey, err)
			}
			key := e2ee.NewMeetingKey()
			b := keywrap.Binding{Meeting: "m-7f3a", Epoch: 3, Participant: "alice"}
			w, err := keywrap.Wrap(pub, key, b)
			if err != nil {
				t.Fatal(err)
			}
			open := func(epoch, participant string) (string, string) {
				var ans struct {
					Key   string `json:"key"`
					Error string `json:"error"`
				}
				req, _ := json.Marshal(map[string]string{"op": "open", "suite": suite, "private_key": gen.PrivateKey,
					"wrapped": w.String(), "meeting": b.Meeting, "epoch": epoch, "participant": participant})
				if err := json.Unmarshal(runNode(t, req, filepath.Join("test", "hpke.mjs")), &ans); err != nil {
					t.Fatal(err)
				}
				return ans.Key, ans.Error
			}
			if got, errMsg := open("3", "alice"); got != hex.EncodeToString(key) {
				t.Errorf("the page opened %q (%s), want the key Go wrapped", got, errMsg)
			}
			if got, errMsg := open("4", "alice"); got != "" || errMsg == "" {
				t.Errorf("opened under another epoch: %q, want an error", got)
			}
			if got, errMsg := open("3", "bob"); got != "" || errMsg == "" {
				t.Errorf("opened for another participant: %q, want an error", got)
			}
		})
	}
}
