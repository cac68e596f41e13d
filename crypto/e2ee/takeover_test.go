package e2ee_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

// When the leader leaves, the next one takes over above every epoch it holds: the others,
// who hold the old leader's newest epoch, accept its keys; the one who left gets none.
func TestTakeOverContinuesTheEpochs(t *testing.T) {
	privs := people(t, []string{"alice", "bob", "carol", "dave"}, keywrap.X25519, keywrap.MLKEM768X25519)
	parts := map[string]*e2ee.Participant{}
	for id, priv := range privs {
		p, err := e2ee.NewParticipant(meeting, id, priv)
		if err != nil {
			t.Fatal(err)
		}
		parts[id] = p
	}
	others := rosterOf(privs)
	delete(others, "alice")
	l, err := e2ee.NewLeader(meeting, others)
	if err != nil {
		t.Fatal(err)
	}
	// Two rotations, so the epochs are not the first.
	if _, err := l.Rotate(); err != nil {
		t.Fatal(err)
	}
	envs, err := l.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		if _, err := parts[e.Participant].Receive(e); err != nil {
			t.Fatalf("%s receives epoch %d: %v", e.Participant, e.Epoch, err)
		}
	}
	held := l.Key().Epoch()

	// alice leaves; bob takes over for carol and dave.
	roster := rosterOf(privs)
	delete(roster, "alice")
	before := maps.Clone(roster)
	nl, envs, err := parts["bob"].TakeOver(roster, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(roster, before, func(a, b keywrap.PublicKey) bool { return a.String() == b.String() }) {
		t.Error("TakeOver changed the caller's roster")
	}
	if got, want := nl.Key().Epoch(), held+1; got != want {
		t.Errorf("new leader's epoch = %d, want %d", got, want)
	}
	if !parts["bob"].Key().Equal(nl.Key()) {
		t.Error("the new leader does not hold its own key as a participant")
	}
	if got, want := envelopeIDs(envs), []string{"carol", "dave"}; !slices.Equal(got, want) {
		t.Errorf("envelopes to %v, want %v (the leader itself gets none)", got, want)
	}
	for _, e := range envs {
		k, err := parts[e.Participant].Receive(e)
		if err != nil {
			t.Fatalf("%s refuses the new leader's epoch %d: %v", e.Participant, e.Epoch, err)
		}
		if !k.Equal(nl.Key()) {
			t.Errorf("%s holds another key than the new leader", e.Participant)
		}
	}
	// alice, who left, holds only the old epoch and can open none of them.
	for _, e := range envs {
		if _, err := e2ee.Unwrap(privs["alice"], meeting, "alice", e); err == nil {
			t.Errorf("alice opened %s's envelope", e.Participant)
		}
	}

	// A relay that says it saw a higher epoch than bob holds lifts the next takeover above it.
	nl2, _, err := parts["carol"].TakeOver(map[string]keywrap.PublicKey{"dave": roster["dave"]}, 40)
	if err != nil {
		t.Fatal(err)
	}
	if got := nl2.Key().Epoch(); got != 41 {
		t.Errorf("takeover above 40: epoch %d, want 41", got)
	}
	// A participant with no key yet starts at FirstEpoch.
	fresh, err := e2ee.NewParticipant(meeting, "erin", seededKey(t, keywrap.X25519, 99))
	if err != nil {
		t.Fatal(err)
	}
	nl3, envs, err := fresh.TakeOver(nil, 0)
	if err != nil || nl3.Key().Epoch() != e2ee.FirstEpoch || len(envs) != 0 {
		t.Errorf("first takeover = epoch %d, %d envelopes, %v; want epoch %d, none", nl3.Key().Epoch(), len(envs), err, e2ee.FirstEpoch)
	}
}

func TestTakeOverErrors(t *testing.T) {
	p, err := e2ee.NewParticipant(meeting, "bob", seededKey(t, keywrap.X25519, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.TakeOver(map[string]keywrap.PublicKey{"carol": {}}, 0); !errors.Is(err, e2ee.ErrNoKey) {
		t.Errorf("zero public key: %v, want ErrNoKey", err)
	}
	if _, _, err := p.TakeOver(nil, ^uint64(0)); err == nil {
		t.Error("takeover above the last epoch succeeded")
	}
	if !p.Key().IsZero() {
		t.Error("a failed takeover changed the participant's key")
	}
}

// Leaves that come together cost one rotation; a RemoveAll naming a stranger changes nothing.
func TestRemoveAllRotatesOnce(t *testing.T) {
	privs := people(t, []string{"alice", "bob", "carol", "dave"}, keywrap.X25519)
	l := newLeader(t, privs)
	if _, err := l.RemoveAll("bob", "erin"); !errors.Is(err, e2ee.ErrUnknownParticipant) {
		t.Fatalf("RemoveAll with a stranger: %v, want ErrUnknownParticipant", err)
	}
	if l.Key().Epoch() != e2ee.FirstEpoch || len(l.Roster()) != 4 {
		t.Fatalf("a failed RemoveAll changed the leader: epoch %d, roster %d", l.Key().Epoch(), len(l.Roster()))
	}
	envs, err := l.RemoveAll("bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := envelopeIDs(envs), []string{"alice", "dave"}; !slices.Equal(got, want) {
		t.Errorf("envelopes to %v, want %v", got, want)
	}
	if got := l.Key().Epoch(); got != e2ee.FirstEpoch+1 {
		t.Errorf("epoch %d after two leaves at once, want %d", got, e2ee.FirstEpoch+1)
	}
}
