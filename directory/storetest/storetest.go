// Package storetest is the conformance test of directory.Store: every implementation (the
// memory store, the etcd store) runs the same cases, so that the directory core behaves the
// same on each. It is for tests only.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/wire"
)

// Run runs every case against stores made by newStore, each case on a new, empty store.
func Run(t *testing.T, newStore func(t *testing.T) directory.Store) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s directory.Store)
	}{
		{"CreateIfAbsent", createIfAbsent},
		{"CompareAndSwap", compareAndSwap},
		{"RacingSwapsOneWins", racingSwaps},
		{"DeleteAndExpire", deleteAndExpire},
		{"PerHostBound", perHostBound},
		{"Accounts", accounts},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func meeting(id, host string) directory.MeetingRecord {
	return directory.MeetingRecord{ID: id, HostAccount: host, Region: "na", Mode: wire.ModeManaged, Created: t0, Expires: t0.Add(time.Hour)}
}

func createIfAbsent(t *testing.T, s directory.Store) {
	ctx := context.Background()
	rec, err := s.CreateMeeting(ctx, meeting("m1", "acme"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Revision == 0 {
		t.Error("created record has no revision")
	}
	if _, err := s.CreateMeeting(ctx, meeting("m1", "globex"), 0); !errors.Is(err, directory.ErrExists) {
		t.Fatalf("second create of m1: %v, want ErrExists", err)
	}
	got, err := s.Meeting(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if got.HostAccount != "acme" || got.Revision != rec.Revision || !got.Expires.Equal(rec.Expires) || got.Region != "na" {
		t.Errorf("read %+v, want the first create %+v", got, rec)
	}
	if _, err := s.Meeting(ctx, "nope"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown meeting: %v, want ErrNotFound", err)
	}
}

func compareAndSwap(t *testing.T, s directory.Store) {
	ctx := context.Background()
	rec, err := s.CreateMeeting(ctx, meeting("m1", "acme"), 0)
	if err != nil {
		t.Fatal(err)
	}
	stale := rec
	rec.Home = "us-den"
	moved, err := s.UpdateMeeting(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if moved.Revision <= rec.Revision || moved.Home != "us-den" {
		t.Fatalf("updated %+v: want a later revision and the new home", moved)
	}
	stale.Home = "eu-fra"
	if _, err := s.UpdateMeeting(ctx, stale); !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("update at a stale revision: %v, want ErrConflict", err)
	}
	if got, _ := s.Meeting(ctx, "m1"); got.Home != "us-den" {
		t.Errorf("home %q after the stale update, want us-den", got.Home)
	}
	gone := meeting("gone", "acme")
	gone.Revision = moved.Revision
	if _, err := s.UpdateMeeting(ctx, gone); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("update of a missing meeting: %v, want ErrNotFound", err)
	}
}

// racingSwaps: n writers read the same revision and each tries to set its own home; exactly
// one succeeds and the others see a conflict (a meeting never has two homes).
func racingSwaps(t *testing.T, s directory.Store) {
	ctx := context.Background()
	for round := range 5 {
		id := fmt.Sprintf("m%d", round)
		rec, err := s.CreateMeeting(ctx, meeting(id, "acme"), 0)
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []string
		)
		for i := range n {
			wg.Go(func() {
				r := rec
				r.Home = fmt.Sprintf("dc-%d", i)
				_, err := s.UpdateMeeting(ctx, r)
				switch {
				case err == nil:
					mu.Lock()
					wins = append(wins, r.Home)
					mu.Unlock()
				case !errors.Is(err, directory.ErrConflict):
					t.Errorf("update: %v", err)
				}
			})
		}
		wg.Wait()
		got, err := s.Meeting(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(wins) != 1 || got.Home != wins[0] {
			t.Fatalf("round %d: winners %v, stored home %q: want exactly one, stored", round, wins, got.Home)
		}
	}
}

func deleteAndExpire(t *testing.T, s directory.Store) {
	ctx := context.Background()
	for i, exp := range []time.Duration{time.Minute, 2 * time.Minute, time.Hour} {
		m := meeting(fmt.Sprintf("m%d", i), "acme")
		m.Expires = t0.Add(exp)
		if _, err := s.CreateMeeting(ctx, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMeeting(ctx, "m2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMeeting(ctx, "m2"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	n, err := s.ExpireMeetings(ctx, t0.Add(90*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("expire at +90s: %d %v, want 1", n, err)
	}
	if _, err := s.Meeting(ctx, "m0"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("expired m0 still there: %v", err)
	}
	if _, err := s.Meeting(ctx, "m1"); err != nil {
		t.Errorf("m1 (expires at +2m) gone early: %v", err)
	}
}

func perHostBound(t *testing.T, s directory.Store) {
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.CreateMeeting(ctx, meeting(fmt.Sprintf("a%d", i), "acme"), 3); err != nil {
			t.Fatalf("meeting %d: %v", i, err)
		}
	}
	if _, err := s.CreateMeeting(ctx, meeting("a3", "acme"), 3); !errors.Is(err, directory.ErrLimit) {
		t.Fatalf("fourth meeting: %v, want ErrLimit", err)
	}
	if _, err := s.CreateMeeting(ctx, meeting("g0", "globex"), 3); err != nil {
		t.Fatalf("another host: %v", err)
	}
	if err := s.DeleteMeeting(ctx, "a0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMeeting(ctx, meeting("a3", "acme"), 3); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	if _, err := s.ExpireMeetings(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.CreateMeeting(ctx, meeting(fmt.Sprintf("b%d", i), "acme"), 3); err != nil {
			t.Fatalf("after expiry, meeting %d: %v", i, err)
		}
	}
}

func accounts(t *testing.T, s directory.Store) {
	ctx := context.Background()
	a := directory.AccountRecord{ID: "hooli", Plan: "pro", HomeRegion: "eu", DataRegions: []string{}, Keys: []wire.AccountKey{{KID: "k1", X: "x"}}}
	stored, created, err := s.PutAccount(ctx, a)
	if err != nil || !created || stored.Revision == 0 {
		t.Fatalf("create: %+v %v %v", stored, created, err)
	}
	b := directory.AccountRecord{ID: "acme2", Plan: "basic"} // nil data regions: no narrowing
	if _, _, err := s.PutAccount(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s.Account(ctx, "hooli")
	if err != nil {
		t.Fatal(err)
	}
	// Empty and absent data_regions differ: no DC at all against no narrowing.
	if got.DataRegions == nil || len(got.DataRegions) != 0 || len(got.Keys) != 1 || got.Plan != "pro" {
		t.Errorf("read %+v, want an empty (not nil) narrowing and the key", got)
	}
	if got, _ := s.Account(ctx, "acme2"); got.DataRegions != nil {
		t.Errorf("acme2 data regions %#v, want nil", got.DataRegions)
	}
	a.Plan = "enterprise"
	again, created, err := s.PutAccount(ctx, a)
	if err != nil || created || again.Revision <= stored.Revision {
		t.Fatalf("replace: %+v created %v %v, want a later revision, not created", again, created, err)
	}
	all, err := s.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range all {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"acme2", "hooli"}) {
		t.Errorf("accounts %v, want [acme2 hooli] by id", ids)
	}
	if err := s.DeleteAccount(ctx, "hooli"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(ctx, "hooli"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("deleted account: %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, "hooli"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}
