package ticket

import (
	"testing"
	"time"

	"github.com/geofence/geofence/wire"
)

// TestPeersVerify: two directories' signers, each publishing the other's public keys, give
// key sets that verify each other's tickets; removing a peer stops that.
func TestPeersVerify(t *testing.T) {
	a, err := NewSigner("geofence", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSigner("geofence", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := wire.Claims{Meeting: "m", Participant: "p", Account: "acme", Mode: wire.ModeE2EE, Region: "na", Home: "us-sjc",
		Primary: []wire.DC{{ID: "us-sjc", Country: "US"}},
		Context: wire.Context{ParticipantRegion: "na", ParticipantPlan: "basic", MeetingRegion: "na", HostAccount: "acme", HostPlan: "basic"}}
	tokB, err := b.Sign(c, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	verifyWith := func(s *Signer) error {
		v, err := NewVerifier(s.JWKS(), "geofence", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(tokB)
		return err
	}
	if err := verifyWith(a); err == nil {
		t.Fatal("a's key set verified b's ticket before knowing b's keys")
	}
	if err := a.SetPeers(b.PublicKeys()); err != nil {
		t.Fatal(err)
	}
	if err := verifyWith(a); err != nil {
		t.Fatalf("a's key set with b's keys: %v", err)
	}
	for _, k := range a.JWKS().Keys {
		if _, private := k.Key.(interface{ Seed() []byte }); private {
			t.Fatal("a key set carries a private key")
		}
	}
	if err := a.SetPeers(nil); err != nil {
		t.Fatal(err)
	}
	if err := verifyWith(a); err == nil {
		t.Fatal("a's key set still verifies b's ticket after b's keys were removed")
	}
	if err := a.SetPeers([]PublicKey{{KID: "bad", Public: []byte{1, 2}}}); err == nil {
		t.Error("a malformed peer key was accepted")
	}
}
