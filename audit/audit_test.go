package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/kms"
	"golang.org/x/mod/sumdb/note"
)

// world is a log written by a directory core on examples/world.yaml: a config change, joins
// answered and refused, keys issued.
type world struct {
	dir    string
	key    ed25519.PrivateKey
	vkeys  []string
	cfg    *audit.Config
	config map[string]*audit.Config
}

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func openLogs(t testing.TB, dir string, key ed25519.PrivateKey, regions []string, strict bool) *audit.Logs {
	t.Helper()
	logs, err := audit.Open(context.Background(), audit.Options{Dir: dir, Regions: regions, Key: key, Strict: strict,
		BatchAge: 5 * time.Millisecond, CheckpointInterval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vkeysOf(t testing.TB, key ed25519.PrivateKey, regions []string) []string {
	var out []string
	for _, r := range regions {
		v, err := audit.VerifierKey(audit.DefaultOrigin+"/"+r, key.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func hasher(t testing.TB) *audit.Hasher {
	h, err := audit.NewHasher(bytes.Repeat([]byte{7}, audit.HashKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// writeWorld runs joins through a directory core whose Decisions is a Recorder.
func writeWorld(t *testing.T, configPath string) *world {
	t.Helper()
	ctx := context.Background()
	cfg, err := audit.LoadConfig(configPath)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{dir: t.TempDir(), key: newKey(t), cfg: cfg, config: map[string]*audit.Config{cfg.Digest: cfg}}
	regions := audit.RegionsOf(cfg.Model)
	w.vkeys = vkeysOf(t, w.key, regions)
	logs := openLogs(t, w.dir, w.key, regions, true)
	rec := audit.NewRecorder(logs, hasher(t))
	if err := rec.ConfigChanged(ctx, cfg.Model, cfg.Digest, cfg.Report, testNow); err != nil {
		t.Fatal(err)
	}
	core, err := directory.New(directory.Config{Model: cfg.Model, Decisions: rec, Now: func() time.Time { return testNow },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, dc := range cfg.Model.DCs {
		if err := core.ReportLoad(dc.ID, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	mt, err := core.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for i, cc := range []string{"US", "CA", "DE", "CN", "US", "IN"} {
		k, _ := geo.LookupCountry(cc)
		res, err := core.Join(ctx, directory.JoinRequest{Meeting: mt.ID, Account: "acme", Participant: fmt.Sprintf("p%d", i),
			Where: directory.Where{Country: k, Location: k.Centroid(), Located: true, Addr: "192.0.2.1"}})
		var e *directory.Error
		if err != nil && !errors.As(err, &e) {
			t.Fatal(err)
		}
		if err == nil && len(res.Claims.KMS) > 0 {
			c := res.Claims
			if err := rec.KeyDecided(ctx, &kms.KeyDecision{Time: testNow, DC: c.KMS[0].ID, Model: cfg.Model, Claims: &c, Epoch: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := logs.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) verify(t *testing.T, dir string, since []byte) *audit.Result {
	t.Helper()
	res, err := audit.Verify(context.Background(), audit.VerifyOptions{Source: audit.Dir(dir), VKeys: w.vkeys, Since: since, Configs: w.config})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCleanLogVerifies(t *testing.T) {
	w := writeWorld(t, "../examples/world.yaml")
	res := w.verify(t, filepath.Join(w.dir, "na"), nil)
	if !res.OK {
		t.Fatalf("a clean log fails: %v", res.Failures)
	}
	if res.Kinds[audit.KindTicketIssued] < 4 || res.Kinds[audit.KindJoinRefused] != 1 || res.Kinds[audit.KindConfigChange] != 1 || res.Kinds[audit.KindKeyIssued] < 4 {
		t.Errorf("got kinds %v, want a config change, at least 4 tickets and keys, 1 refusal", res.Kinds)
	}
	for _, e := range res.Entries {
		if e.Participant != "" && !strings.HasPrefix(e.Participant, "hmac:") || strings.Contains(fmt.Sprint(e), "192.0.2.1") {
			t.Errorf("entry exposes a participant or address: %+v", e)
		}
	}
	// Every other region holds just the config change.
	res = w.verify(t, filepath.Join(w.dir, "eu"), nil)
	if !res.OK || res.Size != 1 {
		t.Errorf("eu: got ok=%t size %d, want a clean log of 1 entry", res.OK, res.Size)
	}
}

// copyLog copies a log's folder, so a test can tamper with it.
func copyLog(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// resource is the path of the resource of a log of size n < 256 at level ("entries", "0").
func resource(dir, level string, n uint64) string {
	return filepath.Join(dir, "tile", level, fmt.Sprintf("000.p/%d", n))
}

// resign writes a checkpoint of size and root signed with key.
func resign(t *testing.T, dir, origin string, key ed25519.PrivateKey, size uint64, root []byte) {
	t.Helper()
	s, err := audit.NoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, b64(root))
	b, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "checkpoint"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTamperingIsCaught(t *testing.T) {
	w := writeWorld(t, "../examples/world.yaml")
	na := filepath.Join(w.dir, "na")
	clean := w.verify(t, na, nil)
	if !clean.OK {
		t.Fatal(clean.Failures)
	}
	cp := clean.Checkpoint
	n := cp.Size
	origin := cp.Origin
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string) (since []byte)
		want   string
	}{
		{"entry edited", func(t *testing.T, dir string) []byte {
			p := resource(dir, "entries", n)
			b, _ := os.ReadFile(p)
			b = bytes.Replace(b, []byte(`"id":"us-`), []byte(`"id":"uz-`), 1)
			os.WriteFile(p, b, 0o644)
			return nil
		}, "is not the checkpoint's"},
		{"entries reordered", func(t *testing.T, dir string) []byte {
			p := resource(dir, "entries", n)
			b, _ := os.ReadFile(p)
			// Swap the first two entries.
			l0 := 2 + (int(b[0])<<8 | int(b[1]))
			l1 := 2 + (int(b[l0])<<8 | int(b[l0+1]))
			out := append(append(append([]byte{}, b[l0:l0+l1]...), b[:l0]...), b[l0+l1:]...)
			os.WriteFile(p, out, 0o644)
			return nil
		}, "reordered"},
		{"hash tile truncated", func(t *testing.T, dir string) []byte {
			p := resource(dir, "0", n)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-32], 0o644)
			return nil
		}, "truncated"},
		{"entry bundle truncated", func(t *testing.T, dir string) []byte {
			p := resource(dir, "entries", n)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-10], 0o644)
			return nil
		}, "truncated"},
		{"checkpoint re-signed with another key", func(t *testing.T, dir string) []byte {
			resign(t, dir, origin, newKey(t), n, cp.Hash[:])
			return nil
		}, "no signature by a pinned key"},
		{"fork: two checkpoints of one size", func(t *testing.T, dir string) []byte {
			old := cp.Raw
			// The log's own key signs another tree of the same size: the last entry replaced.
			p := resource(dir, "entries", n)
			b, _ := os.ReadFile(p)
			b = bytes.Replace(b, []byte(`"epoch":1`), []byte(`"epoch":2`), 1)
			os.WriteFile(p, b, 0o644)
			res := w.verify(t, dir, nil)
			_ = res
			resign(t, dir, origin, w.key, n, rootOfBundle(t, b, n))
			return old
		}, "fork"},
		{"checkpoint rolled back to an older signed one", func(t *testing.T, dir string) []byte {
			// Replace the checkpoint with the first one the log signed: keep only its config change.
			resign(t, dir, origin, w.key, 1, rootOfBundle(t, mustRead(t, resource(dir, "entries", n)), 1))
			// Written a minute ago: not a log being written right now.
			old := time.Now().Add(-time.Minute)
			filepath.Walk(filepath.Join(dir, "tile", "entries"), func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
			return nil
		}, "entries past its checkpoint"},
		{"history rewritten: an entry removed and re-signed", func(t *testing.T, dir string) []byte {
			old := cp.Raw
			p := resource(dir, "entries", n)
			b, _ := os.ReadFile(p)
			l0 := 2 + (int(b[0])<<8 | int(b[1]))
			b = b[l0:] // drop entry 0, the config change
			os.Remove(p)
			os.WriteFile(resource(dir, "entries", n-1), b, 0o644)
			resign(t, dir, origin, w.key, n-1, rootOfBundle(t, b, n-1))
			return old
		}, "shrank"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyLog(t, na)
			since := tc.tamper(t, dir)
			res := w.verify(t, dir, since)
			if res.OK {
				t.Fatalf("tampering not caught")
			}
			var msgs []string
			for _, f := range res.Failures {
				msgs = append(msgs, f.String())
			}
			if got := strings.Join(msgs, "\n"); !strings.Contains(got, tc.want) {
				t.Errorf("got failures\n%s\nwant one containing %q", got, tc.want)
			}
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rootOfBundle is the root of a tree of the n entries of bundle b, computed by hand.
func rootOfBundle(t *testing.T, b []byte, n uint64) []byte {
	t.Helper()
	var hs [][]byte
	for range n {
		l := int(b[0])<<8 | int(b[1])
		hs = append(hs, leaf(b[2:2+l]))
		b = b[2+l:]
	}
	return mth(hs)
}
