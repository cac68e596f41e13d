package etcdstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ConfigRecord is a config as pushed to the store (`geofence config push`): the file's bytes,
// its name for error positions, and their SHA-256. Every process of the deployment watches it.
type ConfigRecord struct {
	Name   string    `json:"name"`
	YAML   []byte    `json:"yaml"`
	Digest string    `json:"digest"` // hex SHA-256 of YAML
	Pushed time.Time `json:"pushed"`
	// Revision is the store's revision of the record; 0 before it is stored.
	Revision int64 `json:"-"`
}

// Digest is the hex SHA-256 of a config's bytes, the digest a ConfigRecord carries.
func Digest(yaml []byte) string {
	sum := sha256.Sum256(yaml)
	return hex.EncodeToString(sum[:])
}

// ErrNoConfig is Config's answer when nothing was pushed yet.
var ErrNoConfig = errors.New("no config pushed")

// ErrConfigChanged is PushConfig's answer when the stored config is no longer the one the
// pusher compared against.
var ErrConfigChanged = errors.New("the stored config changed meanwhile")

func (s *Store) configKey() string { return s.prefix + "config" }

// Config returns the config pushed last (ErrNoConfig when none was).
func (s *Store) Config(ctx context.Context) (ConfigRecord, error) {
	resp, err := s.cli.Get(ctx, s.configKey())
	if err != nil {
		return ConfigRecord{}, fmt.Errorf("etcd store: read config: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return ConfigRecord{}, ErrNoConfig
	}
	return decodeConfig(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

func decodeConfig(b []byte, rev int64) (ConfigRecord, error) {
	var rec ConfigRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return ConfigRecord{}, fmt.Errorf("etcd store: decode config: %w", err)
	}
	if Digest(rec.YAML) != rec.Digest {
		return ConfigRecord{}, fmt.Errorf("etcd store: the stored config's digest %s does not match its bytes", rec.Digest)
	}
	rec.Revision = rev
	return rec, nil
}

// PushConfig stores rec as the deployment's config if the stored one is still at revision
// prev (0: none stored), so that a push compared against one config never overwrites
// another (ErrConfigChanged). The caller verifies rec first; every process verifies it again
// before serving it.
func (s *Store) PushConfig(ctx context.Context, rec ConfigRecord, prev int64) (ConfigRecord, error) {
	rec.Digest = Digest(rec.YAML)
	val, err := json.Marshal(rec)
	if err != nil {
		return ConfigRecord{}, fmt.Errorf("etcd store: push config: %w", err)
	}
	k := s.configKey()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", prev)).
		Then(clientv3.OpPut(k, string(val))).
		Commit()
	if err != nil {
		return ConfigRecord{}, fmt.Errorf("etcd store: push config: %w", err)
	}
	if !resp.Succeeded {
		return ConfigRecord{}, fmt.Errorf("etcd store: push config: %w", ErrConfigChanged)
	}
	rec.Revision = resp.Header.Revision
	return rec, nil
}

// WatchConfig calls fn with every config pushed after revision after, in order, until ctx is
// done; it resumes from the last revision it saw when the watch breaks and reads the config
// again after a compaction. fn runs on the watching goroutine.
func (s *Store) WatchConfig(ctx context.Context, after int64, fn func(ConfigRecord)) {
	for ctx.Err() == nil {
		wc := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.configKey(), clientv3.WithRev(after+1))
		for resp := range wc {
			if resp.CompactRevision != 0 {
				// History is gone: what counts is the config now.
				if rec, err := s.Config(ctx); err == nil && rec.Revision > after {
					after = rec.Revision
					fn(rec)
				}
				break
			}
			if resp.Canceled || resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut || ev.Kv.ModRevision <= after {
					continue
				}
				after = ev.Kv.ModRevision
				rec, err := decodeConfig(ev.Kv.Value, ev.Kv.ModRevision)
				if err != nil {
					s.log.Error("etcd store: a pushed config cannot be read", "revision", ev.Kv.ModRevision, "err", err)
					continue
				}
				fn(rec)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
