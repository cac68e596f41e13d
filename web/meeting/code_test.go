package meetingui

import (
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

// TestSecurityCodeInterop: the page's security code (src/code.js) equals crypto/e2ee's for
// the same key, epoch and roster, whatever the roster's order; a roster listing a key twice is
// refused by both.
func TestSecurityCodeInterop(t *testing.T) {
	node(t)
	var roster []keywrap.PublicKey
	var texts []string
	for _, s := range []keywrap.Suite{keywrap.X25519, keywrap.MLKEM768X25519, keywrap.X25519} {
		priv, err := keywrap.GenerateKey(s)
		if err != nil {
			t.Fatal(err)
		}
		roster = append(roster, priv.PublicKey())
		texts = append(texts, priv.PublicKey().String())
	}
	js := func(key []byte, epoch uint64, roster []string) (string, string) {
		req, _ := json.Marshal(map[string]any{"key": hex.EncodeToString(key), "epoch": strconv.FormatUint(epoch, 10), "roster": roster})
		var ans struct{ Code, Error string }
		if err := json.Unmarshal(runNode(t, req, filepath.Join("test", "code.mjs")), &ans); err != nil {
			t.Fatal(err)
		}
		return ans.Code, ans.Error
	}
	for _, epoch := range []uint64{1, 7, 1 << 40} {
		raw := e2ee.NewMeetingKey()
		k, err := e2ee.NewEpochKey(epoch, raw)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e2ee.SecurityCode(k, roster)
		if err != nil {
			t.Fatal(err)
		}
		reversed := []string{texts[2], texts[1], texts[0]}
		if got, e := js(raw, epoch, reversed); got != want {
			t.Errorf("epoch %d: the page's code %q (%s), Go's %q", epoch, got, e, want)
		}
	}
	if got, e := js(e2ee.NewMeetingKey(), 1, []string{texts[0], texts[0]}); got != "" || e == "" {
		t.Errorf("a roster with a key twice: code %q, want an error", got)
	}
}
