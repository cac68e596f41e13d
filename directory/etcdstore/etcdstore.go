// Package etcdstore is directory.Store on etcd (DESIGN.md section 9): the shared state of
// replicated directories. A meeting is created with a create-if-absent transaction, its home is
// moved with a compare-and-swap on the record's revision (etcd's ModRevision, which tickets
// carry as a fencing token), and the per-account bound on open meetings is a counter updated in
// the same transactions, so that it holds across directories.
//
// Layout under the store's prefix (default "/geofence/"): meetings/<id> and accounts/<id> hold
// the records as JSON (directory.MeetingRecord, directory.AccountRecord); hosts/<account> holds
// the number of open meetings the account hosts.
//
// New's store asks etcd on every call; NewCached's serves reads from a copy kept by a watch,
// as a directory does.
package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/geofence/geofence/directory"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultPrefix is where a Store keeps its keys unless told otherwise.
const DefaultPrefix = "/geofence/"

// maxAttempts bounds the retries of a transaction that lost a race on the per-account counter.
const maxAttempts = 16

// Store is a directory.Store on an etcd cluster.
type Store struct {
	cli    *clientv3.Client
	prefix string
	cache  *cache // nil: every read asks etcd (see NewCached)
	log    *slog.Logger
}

var _ directory.Store = (*Store)(nil)

// New returns a store on cli under prefix ("" means DefaultPrefix). It does not close cli.
func New(cli *clientv3.Client, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{cli: cli, prefix: prefix, log: slog.New(slog.DiscardHandler)}
}

func (s *Store) meetingKey(id string) string { return s.prefix + "meetings/" + id }
func (s *Store) hostKey(acct string) string  { return s.prefix + "hosts/" + acct }
func (s *Store) accountKey(id string) string { return s.prefix + "accounts/" + id }

// counter reads the per-account meeting counter: its value and its ModRevision (0 when absent).
func (s *Store) counter(ctx context.Context, acct string) (int, int64, error) {
	resp, err := s.cli.Get(ctx, s.hostKey(acct))
	if err != nil {
		return 0, 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, 0, nil
	}
	n, err := strconv.Atoi(string(resp.Kvs[0].Value))
	if err != nil {
		return 0, 0, fmt.Errorf("counter of %s: %w", acct, err)
	}
	return n, resp.Kvs[0].ModRevision, nil
}

// CreateMeeting implements directory.Store.
func (s *Store) CreateMeeting(ctx context.Context, rec directory.MeetingRecord, maxPerHost int) (directory.MeetingRecord, error) {
	val, err := json.Marshal(rec)
	if err != nil {
		return directory.MeetingRecord{}, fmt.Errorf("etcd store: create meeting %s: %w", rec.ID, err)
	}
	mk, hk := s.meetingKey(rec.ID), s.hostKey(rec.HostAccount)
	for range maxAttempts {
		n, crev, err := s.counter(ctx, rec.HostAccount)
		if err != nil {
			return directory.MeetingRecord{}, fmt.Errorf("etcd store: create meeting %s: %w", rec.ID, err)
		}
		if maxPerHost > 0 && n >= maxPerHost {
			return directory.MeetingRecord{}, fmt.Errorf("etcd store: create meeting: account %s has %d open meetings: %w", rec.HostAccount, n, directory.ErrLimit)
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(mk), "=", 0), clientv3.Compare(clientv3.ModRevision(hk), "=", crev)).
			Then(clientv3.OpPut(mk, string(val)), clientv3.OpPut(hk, strconv.Itoa(n+1))).
			Else(clientv3.OpGet(mk, clientv3.WithCountOnly())).
			Commit()
		if err != nil {
			return directory.MeetingRecord{}, fmt.Errorf("etcd store: create meeting %s: %w", rec.ID, err)
		}
		if resp.Succeeded {
			rec.Revision = resp.Header.Revision
			s.waitFor(ctx, rec.Revision)
			return rec, nil
		}
		if resp.Responses[0].GetResponseRange().Count > 0 {
			return directory.MeetingRecord{}, fmt.Errorf("etcd store: create meeting %s: %w", rec.ID, directory.ErrExists)
		}
		// Another directory changed the account's counter first: read it again.
	}
	return directory.MeetingRecord{}, fmt.Errorf("etcd store: create meeting %s: the account's counter kept changing", rec.ID)
}

// Meeting implements directory.Store.
func (s *Store) Meeting(ctx context.Context, id string) (directory.MeetingRecord, error) {
	// A miss asks etcd: the meeting may be one another directory created a moment ago, which
	// the watch has not delivered yet.
	if rec, found, _ := s.cachedMeeting(id); found {
		return rec, nil
	}
	return s.readMeeting(ctx, id)
}

// readMeeting reads a meeting from etcd itself, bypassing the copy.
func (s *Store) readMeeting(ctx context.Context, id string) (directory.MeetingRecord, error) {
	resp, err := s.cli.Get(ctx, s.meetingKey(id))
	if err != nil {
		return directory.MeetingRecord{}, fmt.Errorf("etcd store: read meeting %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return directory.MeetingRecord{}, fmt.Errorf("etcd store: meeting %s: %w", id, directory.ErrNotFound)
	}
	return decodeMeeting(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

func decodeMeeting(b []byte, rev int64) (directory.MeetingRecord, error) {
	var rec directory.MeetingRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return directory.MeetingRecord{}, fmt.Errorf("etcd store: decode meeting: %w", err)
	}
	rec.Revision = rev
	return rec, nil
}

// UpdateMeeting implements directory.Store: a compare-and-swap on the record's ModRevision.
func (s *Store) UpdateMeeting(ctx context.Context, rec directory.MeetingRecord) (directory.MeetingRecord, error) {
	val, err := json.Marshal(rec)
	if err != nil {
		return directory.MeetingRecord{}, fmt.Errorf("etcd store: update meeting %s: %w", rec.ID, err)
	}
	mk := s.meetingKey(rec.ID)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(mk), "=", rec.Revision)).
		Then(clientv3.OpPut(mk, string(val))).
		Else(clientv3.OpGet(mk, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return directory.MeetingRecord{}, fmt.Errorf("etcd store: update meeting %s: %w", rec.ID, err)
	}
	if !resp.Succeeded {
		// The copy was stale: let it catch up with what etcd has, so that the caller's next
		// read sees the record that won.
		s.waitFor(ctx, resp.Header.Revision)
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return directory.MeetingRecord{}, fmt.Errorf("etcd store: update meeting %s: %w", rec.ID, directory.ErrNotFound)
		}
		return directory.MeetingRecord{}, fmt.Errorf("etcd store: update meeting %s at revision %d: %w", rec.ID, rec.Revision, directory.ErrConflict)
	}
	rec.Revision = resp.Header.Revision
	s.waitFor(ctx, rec.Revision)
	return rec, nil
}

// DeleteMeeting implements directory.Store.
func (s *Store) DeleteMeeting(ctx context.Context, id string) error {
	for range maxAttempts {
		rec, err := s.readMeeting(ctx, id)
		if err != nil {
			return err
		}
		done, err := s.deleteAt(ctx, rec)
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("etcd store: delete meeting %s: it kept changing", id)
}

// deleteAt deletes rec if it is still at its revision, decrementing its host's counter in the
// same transaction; done is false when something changed first (the caller reads again).
func (s *Store) deleteAt(ctx context.Context, rec directory.MeetingRecord) (bool, error) {
	n, crev, err := s.counter(ctx, rec.HostAccount)
	if err != nil {
		return false, fmt.Errorf("etcd store: delete meeting %s: %w", rec.ID, err)
	}
	mk, hk := s.meetingKey(rec.ID), s.hostKey(rec.HostAccount)
	count := clientv3.OpPut(hk, strconv.Itoa(n-1))
	if n <= 1 {
		count = clientv3.OpDelete(hk)
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(mk), "=", rec.Revision), clientv3.Compare(clientv3.ModRevision(hk), "=", crev)).
		Then(clientv3.OpDelete(mk), count).
		Commit()
	if err != nil {
		return false, fmt.Errorf("etcd store: delete meeting %s: %w", rec.ID, err)
	}
	s.waitFor(ctx, resp.Header.Revision)
	return resp.Succeeded, nil
}

// ExpireMeetings implements directory.Store. Each expired meeting is deleted at the revision it
// was read at, so a join that pushed its deadline forward meanwhile wins.
func (s *Store) ExpireMeetings(ctx context.Context, now time.Time) (int, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"meetings/", clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("etcd store: list meetings: %w", err)
	}
	n := 0
	for _, kv := range resp.Kvs {
		rec, err := decodeMeeting(kv.Value, kv.ModRevision)
		if err != nil {
			return n, err
		}
		if !rec.Expires.Before(now) {
			continue
		}
		done, err := s.deleteAt(ctx, rec)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// PutAccount implements directory.Store.
func (s *Store) PutAccount(ctx context.Context, rec directory.AccountRecord) (directory.AccountRecord, bool, error) {
	val, err := json.Marshal(rec)
	if err != nil {
		return directory.AccountRecord{}, false, fmt.Errorf("etcd store: put account %s: %w", rec.ID, err)
	}
	resp, err := s.cli.Put(ctx, s.accountKey(rec.ID), string(val), clientv3.WithPrevKV())
	if err != nil {
		return directory.AccountRecord{}, false, fmt.Errorf("etcd store: put account %s: %w", rec.ID, err)
	}
	rec.Revision = resp.Header.Revision
	s.waitFor(ctx, rec.Revision)
	return rec, resp.PrevKv == nil, nil
}

// Account implements directory.Store.
func (s *Store) Account(ctx context.Context, id string) (directory.AccountRecord, error) {
	if rec, found, _ := s.cachedAccount(id); found {
		return rec, nil // a miss asks etcd, as for meetings
	}
	resp, err := s.cli.Get(ctx, s.accountKey(id))
	if err != nil {
		return directory.AccountRecord{}, fmt.Errorf("etcd store: read account %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return directory.AccountRecord{}, fmt.Errorf("etcd store: account %s: %w", id, directory.ErrNotFound)
	}
	return decodeAccount(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

func decodeAccount(b []byte, rev int64) (directory.AccountRecord, error) {
	var rec directory.AccountRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return directory.AccountRecord{}, fmt.Errorf("etcd store: decode account: %w", err)
	}
	rec.Revision = rev
	return rec, nil
}

// Accounts implements directory.Store; etcd returns a prefix in key order, which is id order.
func (s *Store) Accounts(ctx context.Context) ([]directory.AccountRecord, error) {
	if recs, ok := s.cachedAccounts(); ok {
		return recs, nil
	}
	resp, err := s.cli.Get(ctx, s.prefix+"accounts/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd store: list accounts: %w", err)
	}
	out := make([]directory.AccountRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		rec, err := decodeAccount(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// DeleteAccount implements directory.Store.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	resp, err := s.cli.Delete(ctx, s.accountKey(id))
	if err != nil {
		return fmt.Errorf("etcd store: delete account %s: %w", id, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("etcd store: delete account %s: %w", id, directory.ErrNotFound)
	}
	s.waitFor(ctx, resp.Header.Revision)
	return nil
}
