package etcdstore

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geofence/geofence/directory"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// cache is a Store's copy of its meetings and accounts, kept by one watch of the store's
// prefix: joins read a meeting's record from it instead of asking etcd, and while etcd is
// unreachable the directory keeps answering from the last state it saw (static stability,
// DESIGN.md section 9). It changes only through the watch, which delivers changes in revision
// order; a writer waits until the watch has applied its own write before it returns, so a
// directory reads its own writes.
type cache struct {
	mu       sync.RWMutex
	rev      int64 // the store revision the copy reflects
	synced   bool
	meetings map[string]directory.MeetingRecord
	accounts map[string]directory.AccountRecord
	advanced chan struct{} // closed, and replaced, each time rev grows
}

// waitLimit bounds how long a writer waits for the watch to deliver its write.
const waitLimit = 2 * time.Second

// NewCached returns a store on cli under prefix that serves reads from a copy kept by a
// watch, until ctx is done. It returns once the copy is loaded. Reads may lag other
// directories' writes by the watch's delay (milliseconds on a healthy cluster): a join that
// acts on a stale home loses its compare-and-swap and starts again, and tickets carry the
// record's revision so that later layers can tell a stale one.
func NewCached(ctx context.Context, cli *clientv3.Client, prefix string, log *slog.Logger) (*Store, error) {
	s := New(cli, prefix)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.cache = &cache{advanced: make(chan struct{})}
	s.log = log
	rev, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	go s.watch(ctx, rev)
	return s, nil
}

// load reads everything under the prefix at one revision into the cache.
func (s *Store) load(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	meetings := map[string]directory.MeetingRecord{}
	accounts := map[string]directory.AccountRecord{}
	for _, kv := range resp.Kvs {
		s.decodeInto(meetings, accounts, kv)
	}
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.meetings, c.accounts, c.synced = meetings, accounts, true
	c.advance(resp.Header.Revision)
	return resp.Header.Revision, nil
}

// decodeInto puts a stored record into the maps; other keys (counters) are not cached.
func (s *Store) decodeInto(meetings map[string]directory.MeetingRecord, accounts map[string]directory.AccountRecord, kv *mvccpb.KeyValue) {
	key := strings.TrimPrefix(string(kv.Key), s.prefix)
	switch {
	case strings.HasPrefix(key, "meetings/"):
		if rec, err := decodeMeeting(kv.Value, kv.ModRevision); err == nil {
			meetings[rec.ID] = rec
		} else {
			s.log.Error("etcd store: undecodable meeting record", "key", string(kv.Key), "err", err)
		}
	case strings.HasPrefix(key, "accounts/"):
		if rec, err := decodeAccount(kv.Value, kv.ModRevision); err == nil {
			accounts[rec.ID] = rec
		} else {
			s.log.Error("etcd store: undecodable account record", "key", string(kv.Key), "err", err)
		}
	}
}

// watch applies every change under the prefix after rev, until ctx is done; after a
// compaction or a broken watch it loads everything again.
func (s *Store) watch(ctx context.Context, rev int64) {
	for ctx.Err() == nil {
		wc := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
		for resp := range wc {
			if resp.CompactRevision != 0 || resp.Canceled || resp.Err() != nil {
				break
			}
			s.apply(resp.Events, resp.Header.Revision)
			rev = max(rev, resp.Header.Revision)
		}
		if ctx.Err() != nil {
			return
		}
		// The watch ended: compacted past rev, or the member lost its leader. Start over from
		// a full read once etcd answers; until then reads are served from the last copy.
		for ctx.Err() == nil {
			r, err := s.load(ctx)
			if err == nil {
				rev = r
				break
			}
			s.log.Warn("etcd store: cannot reload; serving the last known state", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Store) apply(events []*clientv3.Event, rev int64) {
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		key := strings.TrimPrefix(string(ev.Kv.Key), s.prefix)
		if ev.Type == clientv3.EventTypeDelete {
			switch {
			case strings.HasPrefix(key, "meetings/"):
				delete(c.meetings, strings.TrimPrefix(key, "meetings/"))
			case strings.HasPrefix(key, "accounts/"):
				delete(c.accounts, strings.TrimPrefix(key, "accounts/"))
			}
			continue
		}
		s.decodeInto(c.meetings, c.accounts, ev.Kv)
	}
	c.advance(rev)
}

// advance records that the copy reflects rev; callers hold mu.
func (c *cache) advance(rev int64) {
	if rev > c.rev {
		c.rev = rev
		close(c.advanced)
		c.advanced = make(chan struct{})
	}
}

// waitFor waits until the copy reflects rev (a write's revision), at most waitLimit.
func (s *Store) waitFor(ctx context.Context, rev int64) {
	if s.cache == nil {
		return
	}
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		s.cache.mu.RLock()
		done, ch := s.cache.rev >= rev, s.cache.advanced
		s.cache.mu.RUnlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.log.Warn("etcd store: the watch lags behind a write", "revision", rev)
			return
		case <-ctx.Done():
			return
		}
	}
}

// cachedMeeting reads a meeting from the copy; ok is false when there is no copy yet.
func (s *Store) cachedMeeting(id string) (rec directory.MeetingRecord, found, ok bool) {
	if s.cache == nil {
		return rec, false, false
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	if !s.cache.synced {
		return rec, false, false
	}
	rec, found = s.cache.meetings[id]
	return rec, found, true
}

func (s *Store) cachedAccount(id string) (rec directory.AccountRecord, found, ok bool) {
	if s.cache == nil {
		return rec, false, false
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	if !s.cache.synced {
		return rec, false, false
	}
	rec, found = s.cache.accounts[id]
	return rec, found, true
}

func (s *Store) cachedAccounts() ([]directory.AccountRecord, bool) {
	if s.cache == nil {
		return nil, false
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	if !s.cache.synced {
		return nil, false
	}
	out := make([]directory.AccountRecord, 0, len(s.cache.accounts))
	for _, r := range s.cache.accounts {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b directory.AccountRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, true
}

// Revision is the store revision the cached copy reflects (0 for an uncached store).
func (s *Store) Revision() int64 {
	if s.cache == nil {
		return 0
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	return s.cache.rev
}
