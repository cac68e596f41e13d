package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/wire"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var _ directory.LoadStore = (*Store)(nil)

// loadRecord is a DC's last load report as stored under dcs/<id>, on a lease of the DC's
// staleness: a DC that stops reporting disappears from the store when it would be stale.
type loadRecord struct {
	Participants int64 `json:"participants"`
	Healthy      bool  `json:"healthy"`
	// Media is the DC's media load, when it runs a media server.
	Media *wire.MediaLoad `json:"media,omitempty"`
	At    time.Time       `json:"at"`
	By    string          `json:"by"` // the directory that received the report
}

func (s *Store) loadKey(dc string) string { return s.prefix + "dcs/" + dc }

// PutLoad implements directory.LoadStore: the report, on a lease of ttl.
func (s *Store) PutLoad(ctx context.Context, r directory.LoadReport, ttl time.Duration) error {
	secs := int64((ttl + time.Second - 1) / time.Second)
	lease, err := s.cli.Grant(ctx, max(secs, 1))
	if err != nil {
		return fmt.Errorf("etcd store: load of %s: %w", r.DC, err)
	}
	val, _ := json.Marshal(loadRecord{Participants: r.Participants, Healthy: r.Healthy, Media: r.Media, At: r.At, By: r.By})
	if _, err := s.cli.Put(ctx, s.loadKey(r.DC), string(val), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("etcd store: load of %s: %w", r.DC, err)
	}
	return nil
}

// WatchLoad implements directory.LoadStore: the reports stored now, then every later one,
// until ctx is done.
func (s *Store) WatchLoad(ctx context.Context, fn func(directory.LoadReport)) {
	prefix := s.prefix + "dcs/"
	for ctx.Err() == nil {
		resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, kv := range resp.Kvs {
			if r, ok := decodeLoad(prefix, kv.Key, kv.Value); ok {
				fn(r)
			}
		}
		wc := s.cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for w := range wc {
			if w.CompactRevision != 0 || w.Canceled || w.Err() != nil {
				break
			}
			for _, ev := range w.Events {
				if ev.Type != clientv3.EventTypePut {
					continue // an expired lease: the DC goes stale by itself
				}
				if r, ok := decodeLoad(prefix, ev.Kv.Key, ev.Kv.Value); ok {
					fn(r)
				}
			}
		}
	}
}

func decodeLoad(prefix string, key, val []byte) (directory.LoadReport, bool) {
	var rec loadRecord
	if json.Unmarshal(val, &rec) != nil {
		return directory.LoadReport{}, false
	}
	return directory.LoadReport{DC: strings.TrimPrefix(string(key), prefix), Participants: rec.Participants,
		Healthy: rec.Healthy, Media: rec.Media, At: rec.At, By: rec.By}, true
}
