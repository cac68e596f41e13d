package etcdstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/geofence/geofence/ticket"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// KeyLifetime is how long a published ticket key outlives its directory's last refresh: a
// ticket lives at most ticket.MaxTTL, so a key of a directory that died stays published until
// every ticket it signed has expired.
const KeyLifetime = ticket.MaxTTL + time.Hour

// keyRecord is a directory's ticket-verifying public key as stored under ticket-keys/<kid>.
type keyRecord struct {
	KID string `json:"kid"`
	X   string `json:"x"` // base64url Ed25519 public key
	By  string `json:"by"`
}

func (s *Store) keyPrefix() string { return s.prefix + "ticket-keys/" }

// PublishKeys stores a directory's public ticket keys on one lease of KeyLifetime; calling it
// again (on rotation, and periodically) refreshes them. Keys the directory no longer holds
// stay until their lease ends.
func (s *Store) PublishKeys(ctx context.Context, by string, keys []ticket.PublicKey) error {
	lease, err := s.cli.Grant(ctx, int64(KeyLifetime/time.Second))
	if err != nil {
		return fmt.Errorf("etcd store: publish ticket keys: %w", err)
	}
	ops := make([]clientv3.Op, 0, len(keys))
	for _, k := range keys {
		val, _ := json.Marshal(keyRecord{KID: k.KID, X: base64.RawURLEncoding.EncodeToString(k.Public), By: by})
		ops = append(ops, clientv3.OpPut(s.keyPrefix()+k.KID, string(val), clientv3.WithLease(lease.ID)))
	}
	if _, err := s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("etcd store: publish ticket keys: %w", err)
	}
	return nil
}

// WatchKeys calls fn with every published ticket key, now and after each change, until ctx
// is done.
func (s *Store) WatchKeys(ctx context.Context, fn func([]ticket.PublicKey)) {
	for ctx.Err() == nil {
		resp, err := s.cli.Get(ctx, s.keyPrefix(), clientv3.WithPrefix())
		if err == nil {
			fn(decodeKeys(resp.Kvs))
			wc := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.keyPrefix(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
			changed := false
			for w := range wc {
				if w.CompactRevision != 0 || w.Canceled || w.Err() != nil {
					break
				}
				if len(w.Events) > 0 {
					changed = true
					break // read the whole set again
				}
			}
			if changed {
				continue
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func decodeKeys(kvs []*mvccpb.KeyValue) []ticket.PublicKey {
	var out []ticket.PublicKey
	for _, kv := range kvs {
		var rec keyRecord
		if json.Unmarshal(kv.Value, &rec) != nil || !strings.HasSuffix(string(kv.Key), "/"+rec.KID) {
			continue
		}
		pub, err := base64.RawURLEncoding.DecodeString(rec.X)
		if err != nil || len(pub) != 32 {
			continue
		}
		out = append(out, ticket.PublicKey{KID: rec.KID, Public: pub})
	}
	return out
}
