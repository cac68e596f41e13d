package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/geo"
)

// evidenceFolder writes an evidence folder as `geofence dev` does, with a few joins of the
// world example: a config change, tickets and a refusal in na's log.
func evidenceFolder(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	audit.QuietTessera(slog.New(slog.DiscardHandler))
	cfg, err := audit.LoadConfig("../../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keys, err := audit.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	regions := audit.RegionsOf(cfg.Model)
	if _, err := audit.WriteVKeys(dir, "", regions, keys.Signing.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	logs, err := audit.Open(ctx, audit.Options{Dir: dir, Regions: regions, Key: keys.Signing, CheckpointInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := audit.NewHasher(keys.Hash)
	rec := audit.NewRecorder(logs, h)
	rec.ConfigChanged(ctx, cfg.Model, cfg.Digest, cfg.Report, time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	core, err := directory.New(directory.Config{Model: cfg.Model, Decisions: rec, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, dc := range cfg.Model.DCs {
		core.ReportLoad(dc.ID, 0, true)
	}
	mt, _ := core.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	os.WriteFile(filepath.Join(dir, "meeting"), []byte(mt.ID), 0o644)
	for _, cc := range []string{"US", "CA", "CN"} {
		k, _ := geo.LookupCountry(cc)
		core.Join(ctx, directory.JoinRequest{Meeting: mt.ID, Account: "acme", Participant: "p-" + cc, Where: directory.Where{Country: k, Location: k.Centroid(), Located: true}})
	}
	if err := logs.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAuditCommands(t *testing.T) {
	dir := evidenceFolder(t)
	world := "../../examples/world.yaml"
	ctx := t.Context()

	code, stdout, stderr := runCmd(ctx, runAudit, "verify", "--log", dir, "--config", world)
	if code != ExitOK || strings.Count(stdout, ": ok\n") != 7 {
		t.Fatalf("verify a clean folder: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "pin them with --vkey") {
		t.Errorf("verify without --vkey does not warn: %q", stderr)
	}
	vkeys := filepath.Join(dir, audit.VKeysFile)
	na := filepath.Join(dir, "na")
	code, stdout, stderr = runCmd(ctx, runAudit, "verify", "--log", na, "--config", world, "--vkey", vkeys, "--json")
	var res struct {
		OK   bool
		Logs []struct {
			Size  uint64
			Kinds map[string]int
		}
	}
	if code != ExitOK || json.Unmarshal([]byte(stdout), &res) != nil || !res.OK || len(res.Logs) != 1 || res.Logs[0].Size != 4 || stderr != "" {
		t.Fatalf("verify --json one log: exit %d, %+v\n%s%s", code, res, stdout, stderr)
	}

	// Only the April config: every entry names a config it was not given.
	code, stdout, _ = runCmd(ctx, runAudit, "verify", "--log", na, "--config", "../../examples/april-2020.yaml", "--vkey", vkeys)
	if code != ExitFinding || !strings.Contains(stdout, "entry 0 (config_change): names config sha256:") {
		t.Errorf("verify against another config: exit %d\n%s", code, stdout)
	}

	// An inclusion proof, checked.
	code, stdout, stderr = runCmd(ctx, runAudit, "prove", "--log", na, "--entry", "2", "--vkey", vkeys)
	if code != ExitOK {
		t.Fatalf("prove: exit %d\n%s", code, stderr)
	}
	proof := filepath.Join(t.TempDir(), "proof.json")
	os.WriteFile(proof, []byte(stdout), 0o644)
	if code, stdout, stderr = runCmd(ctx, runAudit, "prove", "--check", proof, "--vkey", vkeys); code != ExitOK || !strings.Contains(stdout, "entry 2 is in") {
		t.Errorf("prove --check: exit %d\n%s%s", code, stdout, stderr)
	}
	var p audit.Proof
	b, _ := os.ReadFile(proof)
	json.Unmarshal(b, &p)
	p.Index = 1
	b, _ = json.Marshal(p)
	os.WriteFile(proof, b, 0o644)
	if code, _, _ = runCmd(ctx, runAudit, "prove", "--check", proof, "--vkey", vkeys); code != ExitFinding {
		t.Errorf("prove --check of a proof moved to another index: exit %d, want 1", code)
	}
	if code, _, stderr = runCmd(ctx, runAudit, "prove", "--log", na, "--entry", "99", "--vkey", vkeys); code != ExitFinding || !strings.Contains(stderr, "commits to 4 entries") {
		t.Errorf("prove past the end: exit %d, %s", code, stderr)
	}

	// A participant's entries, found with the operator's hash key.
	mtID, _ := os.ReadFile(filepath.Join(dir, "meeting"))
	code, stdout, stderr = runCmd(ctx, runAudit, "find", "--log", dir, "--vkey", vkeys, "--meeting", string(mtID), "--account", "acme",
		"--participant", "p-CA", "--hash-key", filepath.Join(dir, audit.HashKeyFile))
	if code != ExitOK || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, "entry 2: ") || !strings.Contains(stdout, "ticket_issued") {
		t.Errorf("find p-CA: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ = runCmd(ctx, runAudit, "find", "--log", dir, "--vkey", vkeys, "--meeting", string(mtID)); code != ExitOK || strings.Count(stdout, "\n") != 3 {
		t.Errorf("find the meeting: exit %d\n%s", code, stdout)
	}

	// The report, both formats.
	code, stdout, _ = runCmd(ctx, runAudit, "report", "--log", dir, "--config", world, "--vkey", vkeys)
	if code != ExitOK || !strings.Contains(stdout, "| 2026-") || !strings.Contains(stdout, "china-stays-in-china") {
		t.Errorf("report: exit %d\n%s", code, stdout)
	}
	out := filepath.Join(t.TempDir(), "report.html")
	if code, _, stderr = runCmd(ctx, runAudit, "report", "--log", dir, "--format", "html", "--out", out, "--vkey", vkeys); code != ExitOK {
		t.Errorf("report html: exit %d %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); !bytes.Contains(b, []byte("<svg")) {
		t.Error("the HTML report has no chart")
	}

	// Tampered: an entry edited.
	bundle := filepath.Join(na, "tile", "entries", "000.p", "4")
	b, _ = os.ReadFile(bundle)
	os.WriteFile(bundle, bytes.Replace(b, []byte(`"US"`), []byte(`"CN"`), 1), 0o644)
	code, stdout, _ = runCmd(ctx, runAudit, "verify", "--log", dir, "--config", world, "--vkey", vkeys)
	if code != ExitFinding || !strings.Contains(stdout, "na: FAILED") {
		t.Errorf("verify an edited log: exit %d\n%s", code, stdout)
	}

	// A region's log removed.
	os.RemoveAll(filepath.Join(dir, "eu"))
	code, stdout, _ = runCmd(ctx, runAudit, "verify", "--log", dir, "--config", world, "--vkey", vkeys)
	if code != ExitFinding || !strings.Contains(stdout, "geofence.example/audit/eu: FAILED: no log found") {
		t.Errorf("verify with a log removed: exit %d\n%s", code, stdout)
	}

	for _, args := range [][]string{{}, {"nonsense"}, {"verify"}, {"verify", "--log", dir}, {"report", "--log", dir, "--format", "pdf"}} {
		if code, _, _ := runCmd(ctx, runAudit, args...); code != ExitUsage {
			t.Errorf("audit %v: exit %d, want %d", args, code, ExitUsage)
		}
	}
}
