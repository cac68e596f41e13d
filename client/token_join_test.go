package client

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/wire"
)

// TestJoinWithToken: the token goes to the directory as a bearer credential, the body's
// account and participant are the token's, and a ticket naming anyone else is refused.
func TestJoinWithToken(t *testing.T) {
	leaktest.Check(t)
	_, priv, _ := ed25519.GenerateKey(nil)
	tok, err := MintJoinToken(priv, "k1", "globex", "alice", JoinTokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, slices.Concat(naPrimary, naSecondary)...)
	w.dir.set(naPrimary, naSecondary)
	c := w.client(t, Config{Stagger: time.Hour, AttemptTimeout: time.Hour})
	res, err := c.JoinWithToken(t.Context(), "m-1", tok, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(t.Context(), res)
	if res.Claims.Account != "globex" || res.Claims.Participant != "alice" {
		t.Errorf("ticket for %s/%s, want globex/alice", res.Claims.Account, res.Claims.Participant)
	}
	if got := w.dir.auth[len(w.dir.auth)-1]; got != "Bearer "+tok {
		t.Errorf("Authorization %q, want the token", got)
	}

	// A directory that answers for someone else is not believed.
	w.dir.editClaims = func(c *wire.Claims) { c.Participant = "mallory" }
	if _, err := c.JoinWithToken(t.Context(), "m-1", tok, ""); !errors.Is(err, ErrUntrustedTicket) {
		t.Errorf("ticket for mallory: %v, want ErrUntrustedTicket", err)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + strings.Repeat("A", 8) + ".c"} {
		if _, err := c.JoinWithToken(t.Context(), "m-1", bad, ""); err == nil {
			t.Errorf("token %q: joined, want an error", bad)
		}
	}
}

// TestPinnedHome: the home DC carries every participant's media through a bridge, so a home
// in a pinned country refuses the join before any datacenter is contacted.
func TestPinnedHome(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t, slices.Concat(naPrimary, naSecondary)...)
	w.dir.set(naPrimary, naSecondary)
	w.dir.editClaims = func(c *wire.Claims) { c.Home, c.HomeCountry = "eu-ams", "NL" }
	c := w.client(t, Config{Stagger: time.Hour, AttemptTimeout: time.Hour, PinDeny: []string{"NL"}})
	res, err := c.Join(t.Context(), "m-1", "globex", "alice", "")
	if !errors.Is(err, ErrNoDatacenter) || !strings.Contains(err.Error(), "eu-ams") {
		t.Fatalf("got %v, want ErrNoDatacenter naming the home", err)
	}
	if res.Session != "" || len(w.participants()) != 0 {
		t.Errorf("connected to %q with participants %v, want none", res.Datacenter, w.participants())
	}
}
