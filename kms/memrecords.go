package kms

import (
	"context"
	"sync"
	"time"
)

// MemoryRecords are Records kept in this process: the key servers of one process (the dev
// stack, tests) share a meeting's keys through them as the key servers of a deployment do
// through etcd, so that every key server of a meeting hands out the same key for an epoch.
// Its zero value is ready; it keeps nothing across a restart.
type MemoryRecords struct {
	mu    sync.Mutex
	keys  map[string]memRecord
	left  map[string]time.Time
	rev   int64
	clock func() time.Time
}

type memRecord struct {
	data []byte
	rev  int64
}

var _ Records = (*MemoryRecords)(nil)

func (m *MemoryRecords) now() time.Time {
	if m.clock != nil {
		return m.clock()
	}
	return time.Now()
}

// GetKeys implements Records.
func (m *MemoryRecords) GetKeys(_ context.Context, meeting string) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.keys[meeting]
	if !ok {
		return nil, 0, nil
	}
	return append([]byte(nil), r.data...), r.rev, nil
}

// PutKeys implements Records: a compare-and-swap on the record's revision.
func (m *MemoryRecords) PutKeys(_ context.Context, meeting string, data []byte, prev int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys[meeting].rev != prev {
		return false, nil
	}
	if m.keys == nil {
		m.keys = map[string]memRecord{}
	}
	m.rev++
	m.keys[meeting] = memRecord{append([]byte(nil), data...), m.rev}
	return true, nil
}

// MarkLeft implements Records; markers past their time are dropped as others are added.
func (m *MemoryRecords) MarkLeft(_ context.Context, ticket string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left == nil {
		m.left = map[string]time.Time{}
	}
	now := m.now()
	for t, u := range m.left {
		if now.After(u) {
			delete(m.left, t)
		}
	}
	// At least ten minutes, as on etcd: a marker that outlives its ticket is harmless, one
	// that expired early would let the ticket fetch keys again.
	m.left[ticket] = maxTime(until, now.Add(10*time.Minute))
	return nil
}

// HasLeft implements Records.
func (m *MemoryRecords) HasLeft(_ context.Context, ticket string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.left[ticket]
	return ok && !m.now().After(u), nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
