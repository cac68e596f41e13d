package sfu_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/crypto/sframe"
	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/sfu"
)

// The media servers are payload-blind: felix sends SFrame-encrypted frames (a clear prefix,
// then the ciphertext, as the media profile does); anna, across a bridge, decrypts every one
// she gets; both servers forward the payloads byte for byte, and none of the payloads they
// handle is a plaintext.
func TestServersForwardOnlyCiphertext(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	net := newWAN(t, 5*time.Millisecond, 0)
	w.clientNet = net.host
	var mu sync.Mutex
	seen := map[string]map[[32]byte]bool{}
	for _, dc := range []string{"de-fra", "fr-par"} {
		seen[dc] = map[[32]byte]bool{}
		w.start(dc, net.host(), func(c *sfu.Config) {
			c.RecordPayload = func(d [sha256.Size]byte) {
				mu.Lock()
				seen[dc][d] = true
				mu.Unlock()
			}
		})
	}
	key := make([]byte, 32)
	rand.Read(key)
	const kid = 7
	tx, err := sframe.NewSender(sframe.DefaultSuite, kid, key)
	if err != nil {
		t.Fatal(err)
	}
	var rx sframe.Receiver
	if err := rx.AddKey(sframe.DefaultSuite, kid, key); err != nil {
		t.Fatal(err)
	}
	var sentMu sync.Mutex
	plaintexts := map[[32]byte]bool{}
	sent := map[[32]byte]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	var decMu sync.Mutex
	decrypted, failures := 0, 0
	a.onPayload = func(from, kind string, payload []byte) {
		prefix := []byte(from + ":")
		pt, err := rx.Decrypt(nil, prefix, payload[len(prefix):])
		decMu.Lock()
		defer decMu.Unlock()
		if err != nil || !bytes.HasPrefix(pt, []byte("secret frame")) {
			failures++
			return
		}
		decrypted++
	}
	f := w.join(felix, "fr-par", []string{"fr-par"}, nil)
	var txMu sync.Mutex
	f.publishWith(ctx, func(kind string, n uint16) []byte {
		pt := fmt.Appendf(nil, "secret frame %s %d of felix, with some padding to look like media", kind, n)
		prefix := []byte("felix:")
		txMu.Lock()
		ct, err := tx.Encrypt(nil, prefix, pt)
		txMu.Unlock()
		if err != nil {
			t.Error(err)
		}
		payload := append(prefix, ct...)
		sentMu.Lock()
		plaintexts[sha256.Sum256(pt)] = true
		plaintexts[sha256.Sum256(append([]byte("felix:"), pt...))] = true
		sent[sha256.Sum256(payload)] = true
		sentMu.Unlock()
		return payload
	})
	eventually(t, "anna decrypting felix's frames", 15*time.Second, func() bool {
		decMu.Lock()
		defer decMu.Unlock()
		return decrypted > 40
	})
	cancel()
	decMu.Lock()
	if failures != 0 {
		t.Errorf("%d frames did not decrypt at anna's end", failures)
	}
	decMu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	sentMu.Lock()
	defer sentMu.Unlock()
	for dc, digests := range seen {
		forwarded := 0
		for d := range digests {
			if plaintexts[d] {
				t.Errorf("media server %s handled a plaintext frame", dc)
			}
			if sent[d] {
				forwarded++
			}
		}
		if forwarded < 40 {
			t.Errorf("media server %s handled %d of felix's payloads unchanged, want them all (> 40)", dc, forwarded)
		}
	}
}
