package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
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
	contact  time.Time // when etcd last answered the watch (an event, a progress note, a load)
	dirty    bool      // changed since the state file was written
	meetings map[string]directory.MeetingRecord
	accounts map[string]directory.AccountRecord
	advanced chan struct{} // closed, and replaced, each time rev grows
}

// waitLimit bounds how long a writer waits for the watch to deliver its write.
const waitLimit = 2 * time.Second

// CacheConfig configures NewCached; the zero value of each field is its default.
type CacheConfig struct {
	// Prefix is the deployment's key prefix; "" means DefaultPrefix.
	Prefix string
	// StateFile, when set, is where the copy is persisted (written atomically, at most once a
	// second when it changed) and read back at start when etcd cannot be reached, so that a
	// directory restarted during an outage still serves the meetings it knew.
	StateFile string
	// LoadTimeout bounds the first read of the state from etcd before StateFile is used;
	// zero means 5 s.
	LoadTimeout time.Duration
	// Logger receives the store's warnings; nil means none.
	Logger *slog.Logger
}

// NewCached returns a store on cli that serves reads from a copy kept by a watch, until ctx
// is done. It returns once the copy is loaded, from etcd, or from cfg.StateFile when etcd does
// not answer within cfg.LoadTimeout (it then keeps trying). Reads may lag other directories'
// writes by the watch's delay (milliseconds on a healthy cluster): a join that acts on a stale
// home loses its compare-and-swap and starts again, and tickets carry the record's revision
// so that later layers can tell a stale one.
func NewCached(ctx context.Context, cli *clientv3.Client, cfg CacheConfig) (*Store, error) {
	s := New(cli, cfg.Prefix)
	if cfg.Logger != nil {
		s.log = cfg.Logger
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = 5 * time.Second
	}
	s.cache = &cache{advanced: make(chan struct{})}
	lctx, cancel := context.WithTimeout(ctx, cfg.LoadTimeout)
	rev, err := s.load(lctx)
	cancel()
	if err != nil {
		if cfg.StateFile == "" {
			return nil, err
		}
		var ferr error
		if rev, ferr = s.loadFile(cfg.StateFile); ferr != nil {
			return nil, fmt.Errorf("etcd store: etcd unreachable (%w) and no usable state file (%w)", err, ferr)
		}
		s.log.Warn("etcd store: etcd unreachable; serving the state persisted at revision", "revision", rev, "file", cfg.StateFile, "err", err)
		rev = 0 // load everything again once etcd answers
	}
	go s.watch(ctx, rev)
	if cfg.StateFile != "" {
		go s.persist(ctx, cfg.StateFile)
	}
	return s, nil
}

// state is the persisted form of the copy.
type state struct {
	Revision int64                     `json:"revision"`
	Meetings []directory.MeetingRecord `json:"meetings"`
	Accounts []directory.AccountRecord `json:"accounts"`
	// Revisions of the records, which their JSON omits.
	MeetingRevs []int64 `json:"meeting_revisions"`
	AccountRevs []int64 `json:"account_revisions"`
}

func (s *Store) loadFile(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || len(st.MeetingRevs) != len(st.Meetings) || len(st.AccountRevs) != len(st.Accounts) {
		return 0, fmt.Errorf("state file %s is damaged", path)
	}
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.meetings, c.accounts = map[string]directory.MeetingRecord{}, map[string]directory.AccountRecord{}
	for i, m := range st.Meetings {
		m.Revision = st.MeetingRevs[i]
		c.meetings[m.ID] = m
	}
	for i, a := range st.Accounts {
		a.Revision = st.AccountRevs[i]
		c.accounts[a.ID] = a
	}
	c.synced = true
	c.advance(st.Revision)
	return st.Revision, nil
}

// persist writes the copy to path, atomically, at most once a second when it changed.
func (s *Store) persist(ctx context.Context, path string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c := s.cache
		c.mu.Lock()
		if !c.dirty {
			c.mu.Unlock()
			continue
		}
		st := state{Revision: c.rev}
		for _, m := range c.meetings {
			st.Meetings, st.MeetingRevs = append(st.Meetings, m), append(st.MeetingRevs, m.Revision)
		}
		for _, a := range c.accounts {
			st.Accounts, st.AccountRevs = append(st.Accounts, a), append(st.AccountRevs, a.Revision)
		}
		c.dirty = false
		c.mu.Unlock()
		if err := writeAtomic(path, st); err != nil {
			s.log.Error("etcd store: persist state", "file", path, "err", err)
		}
	}
}

func writeAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Staleness is how long ago etcd last answered this store's watch: a few seconds at most on
// a healthy cluster (progress notifications), growing while it is unreachable. Zero for an
// uncached store.
func (s *Store) Staleness(now time.Time) time.Duration {
	if s.cache == nil {
		return 0
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	if s.cache.contact.IsZero() {
		return 0
	}
	return now.Sub(s.cache.contact)
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
	c.contact, c.dirty = time.Now(), true
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

// watch applies every change under the prefix after rev, until ctx is done. rev 0 (or a
// compaction, or a broken watch) means: load everything again once etcd answers; until then
// reads are served from the last copy. Once a second it asks etcd for a progress note, so
// that Staleness measures contact with etcd even when nothing changes.
func (s *Store) watch(ctx context.Context, rev int64) {
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				s.cli.RequestProgress(rctx)
				cancel()
			}
		}
	}()
	for ctx.Err() == nil {
		if rev == 0 {
			r, err := s.load(ctx)
			if err != nil {
				s.log.Warn("etcd store: cannot reload; serving the last known state", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
				continue
			}
			rev = r
		}
		wc := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
		for resp := range wc {
			if resp.CompactRevision != 0 || resp.Canceled || resp.Err() != nil {
				break
			}
			s.apply(resp.Events, resp.Header.Revision) // a progress note has no events
			rev = max(rev, resp.Header.Revision)
		}
		rev = 0
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
	c.contact = time.Now()
	if len(events) > 0 {
		c.dirty = true
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

// cached reads one record from the copy with get; ok is false when there is no copy yet.
func cached[R any](s *Store, get func(c *cache) (R, bool)) (rec R, found, ok bool) {
	if s.cache == nil {
		return rec, false, false
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	if !s.cache.synced {
		return rec, false, false
	}
	rec, found = get(s.cache)
	return rec, found, true
}

func (s *Store) cachedMeeting(id string) (directory.MeetingRecord, bool, bool) {
	return cached(s, func(c *cache) (directory.MeetingRecord, bool) { r, ok := c.meetings[id]; return r, ok })
}

func (s *Store) cachedAccount(id string) (directory.AccountRecord, bool, bool) {
	return cached(s, func(c *cache) (directory.AccountRecord, bool) { r, ok := c.accounts[id]; return r, ok })
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
