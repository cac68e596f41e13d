package e2ee_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

const meeting = "m-42"

// seededKey returns a fixed private key of suite, so that failures reproduce.
func seededKey(t testing.TB, s keywrap.Suite, seed byte) keywrap.PrivateKey {
	t.Helper()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = seed ^ byte(i*31)
	}
	k, err := keywrap.ParsePrivateKey(s.String() + "-private:" + base64.RawURLEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	return k
}

// people returns private keys for ids, using suites[i % len(suites)] for the i-th id.
func people(t testing.TB, ids []string, suites ...keywrap.Suite) map[string]keywrap.PrivateKey {
	t.Helper()
	out := make(map[string]keywrap.PrivateKey, len(ids))
	for i, id := range ids {
		out[id] = seededKey(t, suites[i%len(suites)], byte(i+1))
	}
	return out
}

func rosterOf(privs map[string]keywrap.PrivateKey) map[string]keywrap.PublicKey {
	out := make(map[string]keywrap.PublicKey, len(privs))
	for id, k := range privs {
		out[id] = k.PublicKey()
	}
	return out
}

func newLeader(t testing.TB, privs map[string]keywrap.PrivateKey) *e2ee.Leader {
	t.Helper()
	l, err := e2ee.NewLeader(meeting, rosterOf(privs))
	if err != nil {
		t.Fatalf("NewLeader: %v", err)
	}
	return l
}

func envelopeIDs(envs []e2ee.Envelope) []string {
	ids := make([]string, len(envs))
	for i, e := range envs {
		ids[i] = e.Participant
	}
	return ids
}

func TestLeaderDistributes(t *testing.T) {
	tests := []struct {
		name   string
		suites []keywrap.Suite
	}{
		{"x25519", []keywrap.Suite{keywrap.X25519}},
		{"hybrid", []keywrap.Suite{keywrap.MLKEM768X25519}},
		{"mixed", []keywrap.Suite{keywrap.X25519, keywrap.MLKEM768X25519}},
	}
	ids := []string{"carol", "alice", "bob", "dave"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			privs := people(t, ids, tt.suites...)
			l := newLeader(t, privs)
			if got := l.Key().Epoch(); got != e2ee.FirstEpoch {
				t.Errorf("first epoch = %d, want %d", got, e2ee.FirstEpoch)
			}
			envs, err := l.Envelopes()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := envelopeIDs(envs), []string{"alice", "bob", "carol", "dave"}; !slices.Equal(got, want) {
				t.Fatalf("envelopes for %v, want %v (sorted)", got, want)
			}
			for _, e := range envs {
				p, err := e2ee.NewParticipant(meeting, e.Participant, privs[e.Participant])
				if err != nil {
					t.Fatal(err)
				}
				k, err := p.Receive(e)
				if err != nil {
					t.Fatalf("%s: Receive: %v", e.Participant, err)
				}
				if !k.Equal(l.Key()) || !p.Key().Equal(l.Key()) {
					t.Errorf("%s: got %v, want the leader's %v", e.Participant, k, l.Key())
				}
			}
		})
	}
}

// TestLeaderRemoveRotates checks the rotation of DESIGN.md section 8: after a participant
// leaves, the others get a new key in a new epoch, and nothing the departed participant holds
// or can see opens it.
func TestLeaderRemoveRotates(t *testing.T) {
	privs := people(t, []string{"alice", "bob", "carol"}, keywrap.X25519, keywrap.MLKEM768X25519)
	l := newLeader(t, privs)
	old := l.Key()

	envs, err := l.Remove("carol")
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	cur := l.Key()
	if got, want := cur.Epoch(), old.Epoch()+1; got != want {
		t.Errorf("epoch after Remove = %d, want %d", got, want)
	}
	if string(cur.Bytes()) == string(old.Bytes()) {
		t.Errorf("key after Remove is the old key")
	}
	if got, want := envelopeIDs(envs), []string{"alice", "bob"}; !slices.Equal(got, want) {
		t.Errorf("envelopes after Remove for %v, want %v", got, want)
	}
	if _, ok := l.Roster()["carol"]; ok {
		t.Errorf("carol still in Roster()")
	}
	for _, e := range envs {
		if e.Epoch != cur.Epoch() {
			t.Errorf("envelope for %s has epoch %d, want %d", e.Participant, e.Epoch, cur.Epoch())
		}
		k, err := e2ee.Unwrap(privs[e.Participant], meeting, e.Participant, e)
		if err != nil || !k.Equal(cur) {
			t.Errorf("%s: Unwrap = %v, %v; want %v", e.Participant, k, err, cur)
		}
		// Carol sees the relayed envelopes. Neither as addressed nor readdressed to her does
		// one open with her key.
		if k, err := e2ee.Unwrap(privs["carol"], meeting, e.Participant, e); err == nil {
			t.Errorf("carol opened %s's envelope: %v", e.Participant, k)
		}
		forged := e
		forged.Participant = "carol"
		if k, err := e2ee.Unwrap(privs["carol"], meeting, "carol", forged); !errors.Is(err, keywrap.ErrUnwrap) && !errors.Is(err, keywrap.ErrSuiteMismatch) {
			t.Errorf("carol opened %s's envelope readdressed to her: %v, %v; want an unwrap error", e.Participant, k, err)
		}
	}
}

func TestLeaderAdd(t *testing.T) {
	privs := people(t, []string{"alice", "bob"}, keywrap.X25519)
	l := newLeader(t, privs)
	dave := seededKey(t, keywrap.MLKEM768X25519, 99)

	e, err := l.Add("dave", dave.PublicKey())
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if got, want := e.Epoch, l.Key().Epoch(); got != want {
		t.Errorf("Add: envelope epoch %d, want the current %d", got, want)
	}
	if k, err := e2ee.Unwrap(dave, meeting, "dave", e); err != nil || !k.Equal(l.Key()) {
		t.Errorf("dave: Unwrap = %v, %v; want %v", k, err, l.Key())
	}
	envs, err := l.Envelopes()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := envelopeIDs(envs), []string{"alice", "bob", "dave"}; !slices.Equal(got, want) {
		t.Errorf("Envelopes after Add for %v, want %v", got, want)
	}

	tests := []struct {
		name string
		id   string
		pub  keywrap.PublicKey
		want error
	}{
		{"already there", "bob", dave.PublicKey(), e2ee.ErrDuplicateParticipant},
		{"zero public key", "erin", keywrap.PublicKey{}, e2ee.ErrNoKey},
		{"empty id", "", dave.PublicKey(), e2ee.ErrInvalidID},
		{"id too long", strings.Repeat("x", keywrap.MaxIDLen+1), dave.PublicKey(), e2ee.ErrInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.Key()
			if _, err := l.Add(tt.id, tt.pub); !errors.Is(err, tt.want) {
				t.Fatalf("Add error = %v, want %v", err, tt.want)
			}
			if got := len(l.Roster()); got != 3 {
				t.Errorf("roster size after failed Add = %d, want 3", got)
			}
			if !l.Key().Equal(before) {
				t.Errorf("key changed after failed Add")
			}
		})
	}
}

func TestLeaderRotate(t *testing.T) {
	l := newLeader(t, people(t, []string{"alice"}, keywrap.X25519))
	seen := map[string]bool{string(l.Key().Bytes()): true}
	for i := range 5 {
		envs, err := l.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := l.Key().Epoch(), uint64(e2ee.FirstEpoch+i+1); got != want {
			t.Errorf("epoch after rotation %d = %d, want %d", i+1, got, want)
		}
		if len(envs) != 1 || envs[0].Epoch != l.Key().Epoch() {
			t.Errorf("rotation %d: envelopes %+v, want one at epoch %d", i+1, envs, l.Key().Epoch())
		}
		if seen[string(l.Key().Bytes())] {
			t.Errorf("rotation %d reused a key", i+1)
		}
		seen[string(l.Key().Bytes())] = true
	}
}

func TestLeaderErrors(t *testing.T) {
	alice := seededKey(t, keywrap.X25519, 1).PublicKey()
	tests := []struct {
		name    string
		meeting string
		roster  map[string]keywrap.PublicKey
		want    error
	}{
		{"empty meeting", "", nil, e2ee.ErrInvalidID},
		{"meeting too long", strings.Repeat("m", keywrap.MaxIDLen+1), nil, e2ee.ErrInvalidID},
		{"empty participant", meeting, map[string]keywrap.PublicKey{"": alice}, e2ee.ErrInvalidID},
		{"zero public key", meeting, map[string]keywrap.PublicKey{"alice": {}}, e2ee.ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e2ee.NewLeader(tt.meeting, tt.roster); !errors.Is(err, tt.want) {
				t.Errorf("NewLeader error = %v, want %v", err, tt.want)
			}
		})
	}

	l, err := e2ee.NewLeader(meeting, nil)
	if err != nil {
		t.Fatalf("NewLeader with no roster: %v", err)
	}
	if envs, err := l.Envelopes(); err != nil || len(envs) != 0 {
		t.Errorf("Envelopes of an empty roster = %v, %v; want none", envs, err)
	}
	if _, err := l.Remove("nobody"); !errors.Is(err, e2ee.ErrUnknownParticipant) {
		t.Errorf("Remove of unknown participant: error = %v, want ErrUnknownParticipant", err)
	}
	if got := l.Key().Epoch(); got != e2ee.FirstEpoch {
		t.Errorf("epoch after failed Remove = %d, want %d", got, e2ee.FirstEpoch)
	}
	if _, err := e2ee.WrapAll(meeting, e2ee.EpochKey{}, nil); !errors.Is(err, e2ee.ErrNoKey) {
		t.Errorf("WrapAll of zero key: error = %v, want ErrNoKey", err)
	}
}

func TestEnvelopeJSON(t *testing.T) {
	privs := people(t, []string{"alice"}, keywrap.X25519)
	l := newLeader(t, privs)
	envs, err := l.Envelopes()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(envs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"meeting":"m-42","epoch":1,"participant":"alice","wrapped":"x25519-wrapped:`) {
		t.Errorf("json.Marshal = %s, want meeting, epoch, participant and the wrapped key as a string", b)
	}
	var e e2ee.Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if k, err := e2ee.Unwrap(privs["alice"], meeting, "alice", e); err != nil || !k.Equal(l.Key()) {
		t.Errorf("Unwrap after JSON round trip = %v, %v; want %v", k, err, l.Key())
	}
}

func TestParticipantReceive(t *testing.T) {
	alice := seededKey(t, keywrap.X25519, 1)
	roster := map[string]keywrap.PublicKey{"alice": alice.PublicKey(), "bob": seededKey(t, keywrap.X25519, 2).PublicKey()}
	l, err := e2ee.NewLeader(meeting, roster)
	if err != nil {
		t.Fatal(err)
	}
	// Alice is in another meeting too, with the same key pair.
	other, err := e2ee.NewLeader("m-other", roster)
	if err != nil {
		t.Fatal(err)
	}
	envs1, err := l.Envelopes() // epoch 1
	if err != nil {
		t.Fatal(err)
	}
	envs2, err := l.Rotate() // epoch 2
	if err != nil {
		t.Fatal(err)
	}
	otherEnvs, err := other.Envelopes()
	if err != nil {
		t.Fatal(err)
	}
	forAlice := func(envs []e2ee.Envelope) e2ee.Envelope { return envs[0] }
	forBob := func(envs []e2ee.Envelope) e2ee.Envelope { return envs[1] }
	edit := func(e e2ee.Envelope, f func(*e2ee.Envelope)) e2ee.Envelope { f(&e); return e }

	tests := []struct {
		name    string
		holding *e2ee.Envelope // received first, successfully
		in      e2ee.Envelope
		want    error
	}{
		{"first key", nil, forAlice(envs1), nil},
		{"newer epoch", ptr(forAlice(envs1)), forAlice(envs2), nil},
		{"skipped epoch", nil, forAlice(envs2), nil},
		{"same epoch again", ptr(forAlice(envs2)), forAlice(envs2), e2ee.ErrStaleEpoch},
		{"older epoch replayed", ptr(forAlice(envs2)), forAlice(envs1), e2ee.ErrStaleEpoch},
		{"addressed to bob", nil, forBob(envs2), e2ee.ErrNotForRecipient},
		{"from another meeting", nil, forAlice(otherEnvs), e2ee.ErrNotForRecipient},
		{"bob's, readdressed to alice", nil,
			edit(forBob(envs2), func(e *e2ee.Envelope) { e.Participant = "alice" }), keywrap.ErrUnwrap},
		{"another meeting's, readdressed to this one", nil,
			edit(forAlice(otherEnvs), func(e *e2ee.Envelope) { e.Meeting = meeting }), keywrap.ErrUnwrap},
		{"epoch rewritten forward", ptr(forAlice(envs1)),
			edit(forAlice(envs1), func(e *e2ee.Envelope) { e.Epoch = 7 }), keywrap.ErrUnwrap},
		{"no wrapped key", nil,
			edit(forAlice(envs1), func(e *e2ee.Envelope) { e.Wrapped = keywrap.Wrapped{} }), keywrap.ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e2ee.NewParticipant(meeting, "alice", alice)
			if err != nil {
				t.Fatal(err)
			}
			if tt.holding != nil {
				if _, err := p.Receive(*tt.holding); err != nil {
					t.Fatalf("Receive of the held envelope: %v", err)
				}
			}
			before := p.Key()
			k, err := p.Receive(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Receive error = %v, want %v", err, tt.want)
			}
			if err != nil {
				if !k.IsZero() || !p.Key().Equal(before) {
					t.Errorf("after error: returned %v, holding %v; want zero, still %v", k, p.Key(), before)
				}
				return
			}
			if got, want := k.Epoch(), tt.in.Epoch; got != want {
				t.Errorf("epoch = %d, want %d", got, want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestNewParticipantErrors(t *testing.T) {
	priv := seededKey(t, keywrap.X25519, 1)
	tests := []struct {
		name        string
		meeting, id string
		priv        keywrap.PrivateKey
		want        error
	}{
		{"empty meeting", "", "alice", priv, e2ee.ErrInvalidID},
		{"empty id", meeting, "", priv, e2ee.ErrInvalidID},
		{"zero private key", meeting, "alice", keywrap.PrivateKey{}, e2ee.ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e2ee.NewParticipant(tt.meeting, tt.id, tt.priv); !errors.Is(err, tt.want) {
				t.Errorf("NewParticipant error = %v, want %v", err, tt.want)
			}
		})
	}
}
