package etcdstore

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The key servers' records (kms.Records): each meeting's sealed keys under
// kms/meetings/<meeting>, and the tickets used to leave under kms/left/<ticket>, on a lease
// until the ticket expires. The sealed keys are useless without the key servers' KEK.

func (s *Store) kmsKey(meeting string) string { return s.prefix + "kms/meetings/" + meeting }
func (s *Store) leftKey(ticket string) string { return s.prefix + "kms/left/" + ticket }

// GetKeys implements kms.Records.
func (s *Store) GetKeys(ctx context.Context, meeting string) ([]byte, int64, error) {
	resp, err := s.cli.Get(ctx, s.kmsKey(meeting))
	if err != nil {
		return nil, 0, fmt.Errorf("etcd store: read keys of %s: %w", meeting, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// PutKeys implements kms.Records: a compare-and-swap on the record's revision.
func (s *Store) PutKeys(ctx context.Context, meeting string, data []byte, prev int64) (bool, error) {
	k := s.kmsKey(meeting)
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", prev)).Then(clientv3.OpPut(k, string(data))).Commit()
	if err != nil {
		return false, fmt.Errorf("etcd store: write keys of %s: %w", meeting, err)
	}
	return resp.Succeeded, nil
}

// MarkLeft implements kms.Records.
func (s *Store) MarkLeft(ctx context.Context, ticket string, until time.Time) error {
	// At least ten minutes: a marker that outlives its ticket is harmless, one that expired
	// early (clock skew between the key server and etcd) would let the ticket fetch keys again.
	ttl := int64(time.Until(until)/time.Second) + 1
	lease, err := s.cli.Grant(ctx, max(ttl, 600))
	if err != nil {
		return fmt.Errorf("etcd store: retire ticket: %w", err)
	}
	if _, err := s.cli.Put(ctx, s.leftKey(ticket), "", clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("etcd store: retire ticket: %w", err)
	}
	return nil
}

// HasLeft implements kms.Records.
func (s *Store) HasLeft(ctx context.Context, ticket string) (bool, error) {
	resp, err := s.cli.Get(ctx, s.leftKey(ticket), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("etcd store: read retired ticket: %w", err)
	}
	return resp.Count > 0, nil
}
