package e2ee_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

func mustPub(t testing.TB, s string) keywrap.PublicKey {
	t.Helper()
	k, err := keywrap.ParsePublicKey(s)
	if err != nil {
		t.Fatalf("ParsePublicKey(%q): %v", s, err)
	}
	return k
}

func securityCode(t testing.TB, k e2ee.EpochKey, roster []keywrap.PublicKey) string {
	t.Helper()
	c, err := e2ee.SecurityCode(k, roster)
	if err != nil {
		t.Fatalf("SecurityCode: %v", err)
	}
	return c
}

// TestSecurityCodeGolden pins the derivation documented on SecurityCode, which other clients
// (the browser's) must reproduce. The expected value was computed independently from that
// description with Python's hmac and hashlib (HKDF by hand, RFC 5869).
func TestSecurityCodeGolden(t *testing.T) {
	k := mustEpochKey(t, 1, fixedKey(0)) // 00 01 02 ... 1f
	roster := []keywrap.PublicKey{
		// The X25519 public keys of RFC 7748 section 6.1 (Alice, then Bob).
		mustPub(t, "x25519:hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"),
		mustPub(t, "x25519:3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08"),
	}
	if got, want := securityCode(t, k, roster), "11710 15328 14686 92757 96598 63804"; got != want {
		t.Errorf("SecurityCode = %q, want %q", got, want)
	}
}

var codeFormat = regexp.MustCompile(`^[0-9]{5}( [0-9]{5}){5}$`)

func testRoster(t testing.TB, n int) []keywrap.PublicKey {
	t.Helper()
	out := make([]keywrap.PublicKey, n)
	for i := range out {
		s := keywrap.X25519
		if i%3 == 2 {
			s = keywrap.MLKEM768X25519
		}
		out[i] = seededKey(t, s, byte(10+i)).PublicKey()
	}
	return out
}

// permutations calls f with every ordering of xs (Heap's algorithm).
func permutations[T any](xs []T, f func([]T)) {
	var gen func(n int)
	gen = func(n int) {
		if n <= 1 {
			f(xs)
			return
		}
		for i := range n - 1 {
			gen(n - 1)
			if n%2 == 0 {
				xs[i], xs[n-1] = xs[n-1], xs[i]
			} else {
				xs[0], xs[n-1] = xs[n-1], xs[0]
			}
		}
		gen(n - 1)
	}
	gen(len(xs))
}

func TestSecurityCodeOrderIndependent(t *testing.T) {
	k := mustEpochKey(t, 5, fixedKey(7))
	roster := testRoster(t, 5)
	want := securityCode(t, k, roster)
	if !codeFormat.MatchString(want) {
		t.Fatalf("SecurityCode = %q, want 6 groups of 5 digits", want)
	}
	n := 0
	permutations(roster, func(order []keywrap.PublicKey) {
		n++
		if got := securityCode(t, k, order); got != want {
			t.Errorf("order %d: SecurityCode = %q, want %q", n, got, want)
		}
	})
	if n != 120 {
		t.Errorf("tried %d orders, want 120", n)
	}
}

func TestSecurityCodeChanges(t *testing.T) {
	roster := testRoster(t, 4)
	key := fixedKey(7)
	base := mustEpochKey(t, 5, key)
	replaced := append([]keywrap.PublicKey(nil), roster...)
	replaced[1] = seededKey(t, keywrap.X25519, 200).PublicKey()
	// The same key material under the other suite is another roster.
	otherSuite := append([]keywrap.PublicKey{seededKey(t, keywrap.MLKEM768X25519, 10).PublicKey()}, roster[1:]...)
	if !roster[0].Equal(seededKey(t, keywrap.X25519, 10).PublicKey()) {
		t.Fatalf("test setup: roster[0] is not the x25519 key of seed 10")
	}

	tests := []struct {
		name   string
		k      e2ee.EpochKey
		roster []keywrap.PublicKey
	}{
		{"base", base, roster},
		{"next epoch, same key", mustEpochKey(t, 6, key), roster},
		{"epoch zero, same key", mustEpochKey(t, 0, key), roster},
		{"other key, same epoch", mustEpochKey(t, 5, fixedKey(8)), roster},
		{"key differs in last bit", mustEpochKey(t, 5, append(append([]byte(nil), key[:31]...), key[31]^1)), roster},
		{"one participant fewer", base, roster[:3]},
		{"one participant more", base, append(append([]keywrap.PublicKey(nil), roster...), seededKey(t, keywrap.X25519, 201).PublicKey())},
		{"one public key replaced", base, replaced},
		{"one key in the other suite", base, otherSuite},
		{"single participant", base, roster[:1]},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := securityCode(t, tt.k, tt.roster)
			if !codeFormat.MatchString(got) {
				t.Errorf("SecurityCode = %q, want 6 groups of 5 digits", got)
			}
			if prev, ok := seen[got]; ok {
				t.Errorf("SecurityCode = %q, the same as for %q; want a different code", got, prev)
			}
			seen[got] = tt.name
		})
	}
}

func TestSecurityCodeErrors(t *testing.T) {
	k := mustEpochKey(t, 1, fixedKey(0))
	roster := testRoster(t, 2)
	tests := []struct {
		name   string
		k      e2ee.EpochKey
		roster []keywrap.PublicKey
		want   error
	}{
		{"zero key", e2ee.EpochKey{}, roster, e2ee.ErrNoKey},
		{"nil roster", k, nil, e2ee.ErrInvalidRoster},
		{"zero public key", k, []keywrap.PublicKey{roster[0], {}}, e2ee.ErrInvalidRoster},
		{"same key twice", k, []keywrap.PublicKey{roster[0], roster[1], roster[0]}, e2ee.ErrInvalidRoster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e2ee.SecurityCode(tt.k, tt.roster)
			if !errors.Is(err, tt.want) {
				t.Errorf("SecurityCode = %q, %v; want error %v", c, err, tt.want)
			}
		})
	}
}

// TestSecurityCodeEveryoneAgrees runs the whole flow: the leader distributes, each participant
// unwraps, and all of them, each listing the roster in its own order, show the same code.
func TestSecurityCodeEveryoneAgrees(t *testing.T) {
	leaderKey := seededKey(t, keywrap.X25519, 50)
	privs := people(t, []string{"bob", "carol", "dave"}, keywrap.X25519, keywrap.MLKEM768X25519)
	l := newLeader(t, privs)
	envs, err := l.Envelopes()
	if err != nil {
		t.Fatal(err)
	}
	everyone := []keywrap.PublicKey{leaderKey.PublicKey()}
	for _, pub := range l.Roster() {
		everyone = append(everyone, pub)
	}
	want := securityCode(t, l.Key(), everyone)
	for i, e := range envs {
		k, err := e2ee.Unwrap(privs[e.Participant], meeting, e.Participant, e)
		if err != nil {
			t.Fatal(err)
		}
		// Each participant lists the roster rotated differently.
		view := append(append([]keywrap.PublicKey(nil), everyone[i+1:]...), everyone[:i+1]...)
		if got := securityCode(t, k, view); got != want {
			t.Errorf("%s: SecurityCode = %q, want the leader's %q", e.Participant, got, want)
		}
	}
	// After a rotation the code changes.
	if _, err := l.Remove("dave"); err != nil {
		t.Fatal(err)
	}
	if got := securityCode(t, l.Key(), everyone); got == want {
		t.Errorf("SecurityCode after rotation = %q, unchanged; want a new code", got)
	}
}
