package kms

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"

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
	t.Run("etcd", func(t *testing.T) {
		cluster := etcdtest.Start(t, 1)
		testSharedKeys(t, etcdstore.New(cluster.Client(t), ""))
	})
	t.Run("memory", func(t *testing.T) { testSharedKeys(t, &MemoryRecords{}) })
}

func testSharedKeys(t *testing.T, records Records) {
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

// TestKeyHoldersPerPublisher is I1 per publisher for keys: a meeting's key is never given to a
// participant whose rules forbid a key server that already holds it, and a key server never
// takes up a key given to a participant whose rules forbid it.
func TestKeyHoldersPerPublisher(t *testing.T) {
	src, err := os.ReadFile("../examples/april-2020.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Canadian pro participants may only use Canada (a rule of the participant's side only:
	// the meeting's host is on enterprise).
	edited := strings.Replace(string(src), "\nresidency:\n", "\nresidency:\n  canada-only:\n    applies_to: [na]\n    plans: [pro]\n    allow: [CA]\n", 1)
	c, errs := config.Parse("april.yaml", []byte(edited))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	cluster := etcdtest.Start(t, 1)
	records := etcdstore.New(cluster.Client(t), "")
	sjc := newEnv(t, "us-sjc", func(c *Config) { c.Shared = records; c.Model = m })
	yyz := newEnv(t, "ca-yyz", func(c *Config) { c.Shared = records; c.Model = m })

	alice := newParty(t, "alice", keywrap.X25519) // basic, from the US
	claude := newParty(t, "claude", keywrap.X25519)
	canadian := func(meeting string) wire.Claims {
		c := naClaims(meeting, claude)
		c.Account = "canuck"
		c.Context.ParticipantCountry, c.Context.ParticipantPlan = "CA", "pro"
		return c
	}

	// m-1: alice's key comes from us-sjc; claude, who may not use the US, is refused the key
	// at ca-yyz: it is held in the US already.
	if k := sjc.key("m-1", wire.KeyRequest{Token: sjc.sign(naClaims("m-1", alice))}); k.status != http.StatusOK {
		t.Fatalf("alice at us-sjc: %d %s", k.status, k.body)
	}
	if k := yyz.key("m-1", wire.KeyRequest{Token: sjc.sign(canadian("m-1"))}); k.status != http.StatusForbidden || k.err.Error != wire.CodeResidencyConflict {
		t.Fatalf("claude at ca-yyz for a key us-sjc holds: %d %s, want 403 residency_conflict", k.status, k.body)
	}

	// m-2: claude first, at ca-yyz; then us-sjc may not take the key up for alice.
	if k := yyz.key("m-2", wire.KeyRequest{Token: sjc.sign(canadian("m-2"))}); k.status != http.StatusOK {
		t.Fatalf("claude at ca-yyz: %d %s", k.status, k.body)
	}
	if k := sjc.key("m-2", wire.KeyRequest{Token: sjc.sign(naClaims("m-2", alice))}); k.status != http.StatusForbidden || k.err.Error != wire.CodeResidencyConflict {
		t.Fatalf("us-sjc taking up a key given to claude: %d %s, want 403", k.status, k.body)
	}
	// alice can have it where claude's key already is.
	if k := yyz.key("m-2", wire.KeyRequest{Token: sjc.sign(naClaims("m-2", alice))}); k.status != http.StatusOK {
		t.Fatalf("alice at ca-yyz: %d %s", k.status, k.body)
	}
}
