package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
	"github.com/prometheus/client_golang/prometheus"
)

// Folder describes an evidence folder to open for a process serving a model: Dir and Model
// are required, the zero value of every other field is its default.
type Folder struct {
	// Dir is the folder: a log per region in Dir/<region>, the keys in Dir/keys (made on
	// first use), the verifier keys in Dir/vkeys. Several processes on one machine may share
	// it (tessera's POSIX driver serialises their writes with file locks).
	Dir string
	// Keys, when set, is a folder holding the keys instead of Dir (its keys/checkpoint.key
	// and keys/hash.key, made on first use): a production deployment keeps them off the disk
	// the logs are published from.
	Keys string
	// Model is the model served; Digest is its config file's Digest and Report what verify
	// said of it, recorded as a config change. A nil Report records ok=false.
	Model  *policy.Model
	Digest string
	Report *verify.Report
	// Strict is Options.Strict.
	Strict bool
	// Now is the time of the config change; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default(). Registry receives the metrics; nil registers none.
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// OpenFolder opens the evidence logs of every region of f.Model in f.Dir, publishes their
// verifier keys and records the config in force. The Recorder is the Decisions hook of the
// process's directory core and key servers; Logs.Close ends it.
func OpenFolder(ctx context.Context, f Folder) (*Logs, *Recorder, error) {
	dir, err := filepath.Abs(f.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open evidence folder: %w", err)
	}
	keyDir := dir
	if f.Keys != "" {
		keyDir = f.Keys
	}
	keys, err := LoadOrCreateKeys(keyDir)
	if err != nil {
		return nil, nil, fmt.Errorf("open evidence folder %s: %w", dir, err)
	}
	h, err := NewHasher(keys.Hash)
	if err != nil {
		return nil, nil, fmt.Errorf("open evidence folder %s: %w", dir, err)
	}
	regions := RegionsOf(f.Model)
	if _, err := WriteVKeys(dir, DefaultOrigin, regions, keys.Signing.Public().(ed25519.PublicKey)); err != nil {
		return nil, nil, fmt.Errorf("open evidence folder %s: %w", dir, err)
	}
	var m *Metrics
	if f.Registry != nil {
		if m, err = NewMetrics(f.Registry); err != nil {
			return nil, nil, fmt.Errorf("open evidence folder %s: %w", dir, err)
		}
	}
	logs, err := Open(ctx, Options{Dir: dir, Regions: regions, Key: keys.Signing, Strict: f.Strict, Logger: f.Logger, Metrics: m})
	if err != nil {
		return nil, nil, err
	}
	rec := NewRecorder(logs, h)
	rep := f.Report
	if rep == nil {
		rep = &verify.Report{}
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	if err := rec.ConfigChanged(ctx, f.Model, f.Digest, rep, now()); err != nil {
		logs.Close(ctx)
		return nil, nil, fmt.Errorf("open evidence folder %s: %w", dir, err)
	}
	return logs, rec, nil
}
