package e2ee_test

import (
	"fmt"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

// BenchmarkRemove is the leader's cost of a participant leaving a 10-person meeting: a new key
// wrapped to the 9 who remain (one op = one leave and one join, to keep the roster at 10).
func BenchmarkRemove(b *testing.B) {
	for _, s := range []keywrap.Suite{keywrap.X25519, keywrap.MLKEM768X25519} {
		b.Run(s.String(), func(b *testing.B) {
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = fmt.Sprintf("p%02d", i)
			}
			privs := people(b, ids, s)
			l := newLeader(b, privs)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Remove("p00"); err != nil {
					b.Fatal(err)
				}
				if _, err := l.Add("p00", privs["p00"].PublicKey()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSecurityCode(b *testing.B) {
	for _, n := range []int{2, 10, 100} {
		b.Run(fmt.Sprintf("roster=%d", n), func(b *testing.B) {
			k := mustEpochKey(b, 1, fixedKey(0))
			roster := testRoster(b, n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e2ee.SecurityCode(k, roster); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTakeOver is a new leader's cost when the old one left a 10-person meeting: a new
// key above the held epoch, wrapped to the 8 others.
func BenchmarkTakeOver(b *testing.B) {
	for _, s := range []keywrap.Suite{keywrap.X25519, keywrap.MLKEM768X25519} {
		b.Run(s.String(), func(b *testing.B) {
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = fmt.Sprintf("p%02d", i)
			}
			privs := people(b, ids, s)
			roster := rosterOf(privs)
			delete(roster, "p00") // the leader who left
			p, err := e2ee.NewParticipant(meeting, "p01", privs["p01"])
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.TakeOver(roster, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
