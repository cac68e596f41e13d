package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a Store in this process's memory: the embedded default (`geofence dev`, a
// single directory, tests; the simulator has a store of its own). It loses everything when
// the process ends. The zero value is not usable; call NewMemoryStore.
type MemoryStore struct {
	mu       sync.RWMutex
	rev      int64                     // the store's revision: every write takes the next one
	meetings map[string]*MeetingRecord // by pointer: a map of millions stays compact to probe; records are replaced, never changed
	perHost  map[string]int            // open meetings per host account
	accounts map[string]AccountRecord
}

var _ InMemory = (*MemoryStore)(nil)

// InMemory marks MemoryStore as a store whose calls never wait.
func (*MemoryStore) InMemory() {}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{meetings: map[string]*MeetingRecord{}, perHost: map[string]int{}, accounts: map[string]AccountRecord{}}
}

func (s *MemoryStore) next() int64 { s.rev++; return s.rev }

// CreateMeeting implements Store.
func (s *MemoryStore) CreateMeeting(_ context.Context, rec MeetingRecord, maxPerHost int) (MeetingRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.meetings[rec.ID]; ok {
		return MeetingRecord{}, fmt.Errorf("create meeting %s: %w", rec.ID, ErrExists)
	}
	if maxPerHost > 0 && s.perHost[rec.HostAccount] >= maxPerHost {
		return MeetingRecord{}, fmt.Errorf("create meeting: account %s has %d open meetings: %w", rec.HostAccount, maxPerHost, ErrLimit)
	}
	rec.Revision = s.next()
	s.meetings[rec.ID] = &rec
	s.perHost[rec.HostAccount]++
	return rec, nil
}

// Meeting implements Store.
func (s *MemoryStore) Meeting(_ context.Context, id string) (MeetingRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.meetings[id]
	if !ok {
		return MeetingRecord{}, fmt.Errorf("meeting %s: %w", id, ErrNotFound)
	}
	return *rec, nil
}

// UpdateMeeting implements Store.
func (s *MemoryStore) UpdateMeeting(_ context.Context, rec MeetingRecord) (MeetingRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.meetings[rec.ID]
	switch {
	case !ok:
		return MeetingRecord{}, fmt.Errorf("update meeting %s: %w", rec.ID, ErrNotFound)
	case old.Revision != rec.Revision:
		return MeetingRecord{}, fmt.Errorf("update meeting %s at revision %d (stored %d): %w", rec.ID, rec.Revision, old.Revision, ErrConflict)
	case old.HostAccount != rec.HostAccount:
		return MeetingRecord{}, fmt.Errorf("update meeting %s: the host account cannot change", rec.ID)
	}
	rec.Revision = s.next()
	s.meetings[rec.ID] = &rec
	return rec, nil
}

// DeleteMeeting implements Store.
func (s *MemoryStore) DeleteMeeting(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.deleteLocked(id) {
		return fmt.Errorf("delete meeting %s: %w", id, ErrNotFound)
	}
	return nil
}

func (s *MemoryStore) deleteLocked(id string) bool {
	rec, ok := s.meetings[id]
	if !ok {
		return false
	}
	delete(s.meetings, id)
	if s.perHost[rec.HostAccount]--; s.perHost[rec.HostAccount] <= 0 {
		delete(s.perHost, rec.HostAccount)
	}
	s.next()
	return true
}

// ExpireMeetings implements Store.
func (s *MemoryStore) ExpireMeetings(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, rec := range s.meetings {
		if rec.Expires.Before(now) && s.deleteLocked(id) {
			n++
		}
	}
	return n, nil
}

// Len is the number of meetings stored.
func (s *MemoryStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.meetings)
}

// PutAccount implements Store.
func (s *MemoryStore) PutAccount(_ context.Context, rec AccountRecord) (AccountRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, existed := s.accounts[rec.ID]
	rec.Revision = s.next()
	rec.DataRegions = cloneKeepNil(rec.DataRegions)
	rec.Keys = slices.Clone(rec.Keys)
	s.accounts[rec.ID] = rec
	return rec, !existed, nil
}

// Account implements Store.
func (s *MemoryStore) Account(_ context.Context, id string) (AccountRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.accounts[id]
	if !ok {
		return AccountRecord{}, fmt.Errorf("account %s: %w", id, ErrNotFound)
	}
	return rec, nil
}

// Accounts implements Store.
func (s *MemoryStore) Accounts(context.Context) ([]AccountRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]AccountRecord, 0, len(s.accounts))
	for _, rec := range s.accounts {
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b AccountRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteAccount implements Store.
func (s *MemoryStore) DeleteAccount(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		return fmt.Errorf("delete account %s: %w", id, ErrNotFound)
	}
	delete(s.accounts, id)
	s.next()
	return nil
}

// cloneKeepNil copies s, keeping the difference between nil and empty (for data_regions it is
// the difference between no narrowing and no DC allowed).
func cloneKeepNil(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}
