package kms

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/internal/etcdtest"
	"github.com/geofence/geofence/wire"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

// TestSharedKeys: two key servers of a meeting on one etcd, sharing the KEK, hand out the same
// key for an epoch (the bug of the per-server stores: a participant failing over to the second
// key server could not decrypt the others); a restarted key server hands out the same key
// again; a leave at one rotates the meeting for both, and the leaver's ticket is refused at the
// other.
func TestSharedKeys(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	records := etcdstore.New(cluster.Client(t), "")
	shared := func(c *Config) { c.Shared = records }
	a := newEnv(t, "us-sjc", shared)
	// newEnv's signers are deterministic: both verify the tickets a signs, as two key servers
	// verify one directory's.
	b := newEnv(t, "ca-yyz", func(c *Config) { c.Shared = records; c.Now = a.clk.Now })

	alice, bob := newParty(t, "alice", keywrap.X25519), newParty(t, "bob", keywrap.X25519)
	ta, tb := a.sign(naClaims("m-1", alice)), a.sign(naClaims("m-1", bob))
	ka := a.key("m-1", wire.KeyRequest{Token: ta})
	kb := b.key("m-1", wire.KeyRequest{Token: tb})
	if ka.status != http.StatusOK || kb.status != http.StatusOK {
		t.Fatalf("keys: %d %s / %d %s", ka.status, ka.body, kb.status, kb.body)
	}
	keyA, keyB := open(t, alice, ka.key), open(t, bob, kb.key)
	if !bytes.Equal(keyA, keyB) || ka.key.Epoch != 1 || kb.key.Epoch != 1 {
		t.Fatalf("us-sjc and ca-yyz gave epoch %d and %d with different keys: the meeting's participants cannot decrypt each other",
			ka.key.Epoch, kb.key.Epoch)
	}

	// A key server restarted with the same KEK hands out the same key.
	a2 := newEnv(t, "us-sjc", func(c *Config) { c.Shared = records; c.Now = a.clk.Now })
	if k := a2.key("m-1", wire.KeyRequest{Token: ta}); k.status != http.StatusOK || !bytes.Equal(open(t, alice, k.key), keyA) {
		t.Fatalf("after a restart: %d, a different key", k.status)
	}

	// Alice leaves at us-sjc: the meeting rotates for ca-yyz too, and ca-yyz refuses her ticket.
	if l := a.leave("m-1", ta); l.status != http.StatusOK {
		t.Fatalf("leave: %d %s", l.status, l.body)
	}
	if k := b.key("m-1", wire.KeyRequest{Token: ta}); k.status != http.StatusForbidden {
		t.Fatalf("the leaver's ticket at the other key server: %d, want 403", k.status)
	}
	k2 := b.key("m-1", wire.KeyRequest{Token: tb})
	if k2.status != http.StatusOK || k2.key.Epoch != 2 || bytes.Equal(open(t, bob, k2.key), keyB) {
		t.Fatalf("after the leave, ca-yyz gave %d epoch %d: want a new key at epoch 2", k2.status, k2.key.Epoch)
	}
}
