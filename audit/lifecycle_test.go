package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/wire"
)

func entryN(region string, i int) *audit.Entry {
	return &audit.Entry{Kind: audit.KindJoinRefused, Time: audit.FormatTime(testNow), Region: region, Config: "sha256:00",
		Meeting: fmt.Sprintf("m%d", i), Code: wire.CodeNoCapacity}
}

func TestRestartResumesTheLog(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	vkeys := vkeysOf(t, key, []string{"na"})
	var first []byte
	for round := range 3 {
		logs := openLogs(t, dir, key, []string{"na"}, true)
		for i := range 5 {
			if err := logs.Append(ctx, entryN("na", round*5+i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := logs.Close(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := audit.Verify(ctx, audit.VerifyOptions{Source: audit.Dir(filepath.Join(dir, "na")), VKeys: vkeys, Since: first})
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Size != uint64(5*(round+1)) {
			t.Fatalf("round %d: got ok=%t size %d (%v), want a clean log of %d", round, res.OK, res.Size, res.Failures, 5*(round+1))
		}
		for i, e := range res.Entries {
			if e.Meeting != fmt.Sprintf("m%d", i) {
				t.Errorf("round %d: entry %d is of meeting %s, want m%d", round, i, e.Meeting, i)
			}
		}
		if first == nil {
			first = res.Checkpoint.Raw
		}
	}
}

// TestCrashLosesNoAcknowledgedEntry kills a process writing in strict mode in the middle of
// its batches (SIGKILL: no Close, no last checkpoint) and checks that every entry it had
// acknowledged is in the log once it is opened again.
func TestCrashLosesNoAcknowledgedEntry(t *testing.T) {
	if dir := os.Getenv("GEOFENCE_AUDIT_CRASH_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	key := newKey(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLosesNoAcknowledgedEntry$")
	cmd.Env = append(os.Environ(), "GEOFENCE_AUDIT_CRASH_DIR="+dir, "GEOFENCE_AUDIT_CRASH_KEY="+base64.StdEncoding.EncodeToString(key.Seed()))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 500 {
		if m, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked[m] = true
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(acked) < 500 {
		t.Fatalf("the writer acknowledged only %d entries before it ended", len(acked))
	}
	// Open again: the log resumes from its integrated state and signs a checkpoint for it.
	logs := openLogs(t, dir, key, []string{"na"}, true)
	if err := logs.Append(context.Background(), entryN("na", -1)); err != nil {
		t.Fatal(err)
	}
	if err := logs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := audit.Verify(context.Background(), audit.VerifyOptions{Source: audit.Dir(filepath.Join(dir, "na")), VKeys: vkeysOf(t, key, []string{"na"})})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("the log after a crash fails: %v", res.Failures)
	}
	for _, e := range res.Entries {
		delete(acked, e.Meeting)
	}
	if len(acked) > 0 {
		t.Errorf("%d acknowledged entries lost in the crash", len(acked))
	}
}

func crashChild(dir string) {
	seed, _ := base64.StdEncoding.DecodeString(os.Getenv("GEOFENCE_AUDIT_CRASH_KEY"))
	logs, err := audit.Open(context.Background(), audit.Options{Dir: dir, Regions: []string{"na"}, Key: ed25519Key(seed), Strict: true,
		BatchAge: time.Millisecond, BatchSize: 16, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e := entryN("na", g*1_000_000+i)
				if err := logs.Append(context.Background(), e); err != nil {
					continue
				}
				mu.Lock()
				fmt.Println("ack", e.Meeting)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestAprilRunIsFlagged: the April 2020 world served with --allow-unverified leaves entries
// that name a config which does not verify; audit verify against the verified config alone
// cannot re-check them, and with both configs names the config change.
func TestAprilRunIsFlagged(t *testing.T) {
	w := writeWorld(t, "../examples/april-2020.yaml")
	if w.cfg.Report.OK {
		t.Fatal("april-2020.yaml verifies; the test needs a config that does not")
	}
	good, err := audit.LoadConfig("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	na := filepath.Join(w.dir, "na")
	verify := func(cfgs ...*audit.Config) *audit.Result {
		m := map[string]*audit.Config{}
		for _, c := range cfgs {
			m[c.Digest] = c
		}
		res, err := audit.Verify(context.Background(), audit.VerifyOptions{Source: audit.Dir(na), VKeys: w.vkeys, Configs: m})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := verify(good)
	if res.OK || len(res.Failures) != int(res.Size) {
		t.Errorf("against the verified config: got %d failures of %d entries, want every entry flagged", len(res.Failures), res.Size)
	}
	res = verify(good, w.cfg)
	if res.OK || res.Failures[0].Entry != 0 || !strings.Contains(res.Failures[0].Message, "does not verify") {
		t.Fatalf("against both configs: got %v, want entry 0, the config change, flagged", res.Failures)
	}
	var all []string
	for _, f := range res.Failures {
		if f.Entry != 0 {
			t.Errorf("got failure %v, want only the config change flagged", f)
		}
		all = append(all, f.Message)
	}
	// The forbidden listings, by line: cn-pek on North America's secondary and kms lists.
	for _, want := range []string{"april-2020.yaml:195:43: error[residency]: routing.regions.na.secondary[3]: datacenter cn-pek", "routing.regions.na.kms[6]: datacenter cn-pek"} {
		if !strings.Contains(strings.Join(all, "\n"), want) {
			t.Errorf("failures lack %q:\n%s", want, strings.Join(all, "\n"))
		}
	}
	if f := res.Entries[0].Verify.Findings; len(f) == 0 || !strings.Contains(f[0], "cn-pek") {
		t.Errorf("the config change records findings %v, want the forbidden listings", f)
	}
}

// TestForbiddenListingIsFlagged: an entry naming a DC the rules forbid (what a directory
// with a bug, or a forged entry, would show) fails re-checking, naming the rule.
func TestForbiddenListingIsFlagged(t *testing.T) {
	cfg, err := audit.LoadConfig("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	party := &audit.Party{Account: "acme", Country: "US", Region: "na", Plan: "enterprise", MeetingRegion: "na", HostAccount: "acme", HostPlan: "enterprise"}
	ok := &audit.Entry{Kind: audit.KindTicketIssued, Region: "na", Config: cfg.Digest, Party: party,
		Home: &audit.DC{ID: "us-sjc", Country: "US"}, Primary: []audit.DC{{ID: "us-sjc", Country: "US"}}, KMS: []audit.DC{{ID: "us-sjc", Country: "US"}}}
	configs := map[string]*audit.Config{cfg.Digest: cfg}
	if got := audit.Check(ok, "na", configs); len(got) != 0 {
		t.Fatalf("a clean ticket fails: %v", got)
	}
	tests := []struct {
		name string
		edit func(e *audit.Entry)
		want string
	}{
		{"secondary in China", func(e *audit.Entry) { e.Secondary = []audit.DC{{ID: "cn-pek", Country: "CN"}} }, "forbidden by rule nothing-else-enters-china"},
		{"key from Beijing", func(e *audit.Entry) {
			e.Kind, e.Home, e.Primary, e.KMS = audit.KindKeyIssued, nil, nil, nil
			e.Server = &audit.DC{ID: "cn-pek", Country: "CN"}
		}, "key server cn-pek (CN) is forbidden"},
		{"country misstated", func(e *audit.Entry) { e.Primary = []audit.DC{{ID: "us-sjc", Country: "CA"}} }, "the config has it in US"},
		{"wrong region's log", func(e *audit.Entry) { e.Region = "eu" }, "sits in the log of region"},
		{"unknown config", func(e *audit.Entry) { e.Config = "sha256:ff" }, "none of the given configs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := *ok
			tc.edit(&e)
			got := strings.Join(audit.Check(&e, "na", configs), "\n")
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want a failure containing %q", got, tc.want)
			}
		})
	}
}

// TestStrictModeRefusesJoins: with the log unavailable, a strict core refuses the join.
func TestStrictModeRefusesJoins(t *testing.T) {
	ctx := context.Background()
	cfg, err := audit.LoadConfig("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	logs := openLogs(t, t.TempDir(), newKey(t), audit.RegionsOf(cfg.Model), true)
	rec := audit.NewRecorder(logs, hasher(t))
	rec.ConfigChanged(ctx, cfg.Model, cfg.Digest, cfg.Report, testNow)
	core, err := directory.New(directory.Config{Model: cfg.Model, Decisions: rec, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, dc := range cfg.Model.DCs {
		core.ReportLoad(dc.ID, 0, true)
	}
	mt, _ := core.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	us, _ := geo.LookupCountry("US")
	join := func() error {
		_, err := core.Join(ctx, directory.JoinRequest{Meeting: mt.ID, Account: "acme", Where: directory.Where{Country: us}})
		return err
	}
	if err := join(); err != nil {
		t.Fatalf("join with the log up: %v", err)
	}
	logs.Close(ctx) // the log is gone
	var e *directory.Error
	if err := join(); !errors.As(err, &e) || e.Code != wire.CodeEvidenceUnavailable {
		t.Errorf("join with the log down: got %v, want %s", err, wire.CodeEvidenceUnavailable)
	}
}

// TestConfigSwapRacesDecisions: config changes recorded while joins are decided, under -race;
// every decision names the digest of the model it was made on.
func TestConfigSwapRacesDecisions(t *testing.T) {
	ctx := context.Background()
	a, err := audit.LoadConfig("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := audit.LoadConfig("../examples/april-2020.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, key := t.TempDir(), newKey(t)
	logs := openLogs(t, dir, key, audit.RegionsOf(a.Model), false)
	rec := audit.NewRecorder(logs, hasher(t))
	rec.ConfigChanged(ctx, a.Model, a.Digest, a.Report, testNow)
	rec.ConfigChanged(ctx, b.Model, b.Digest, b.Report, testNow)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			c := []*audit.Config{a, b}[i%2]
			rec.ConfigChanged(ctx, c.Model, c.Digest, c.Report, testNow)
		}
	})
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				c := []*audit.Config{a, b}[(g+i)%2]
				rec.JoinDecided(ctx, &directory.JoinDecision{Time: testNow, Model: c.Model, Meeting: c.Digest, Account: "acme", Participant: "p",
					Context: wire.Context{MeetingRegion: "na"}, Refusal: &directory.Error{Code: wire.CodeNoCapacity}})
			}
		})
	}
	wg.Wait()
	if err := logs.Close(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := audit.Verify(ctx, audit.VerifyOptions{Source: audit.Dir(filepath.Join(dir, "na")), VKeys: vkeysOf(t, key, []string{"na"})})
	if err != nil || !res.OK {
		t.Fatalf("%v %v", err, res.Failures)
	}
	n := 0
	for _, e := range res.Entries {
		if e.Kind == audit.KindJoinRefused {
			n++
			if e.Config != e.Meeting {
				t.Fatalf("a decision on %s names config %s", e.Meeting, e.Config)
			}
		}
	}
	if n != 400 {
		t.Errorf("got %d decisions, want 400", n)
	}
}

// TestLargeLog: a log past 256*256 entries, so that it has full and partial tiles at three
// levels, verifies, proves an entry, and catches a hash changed in a level-1 tile.
func TestLargeLog(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 66,000 entries")
	}
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	logs := openLogs(t, dir, key, []string{"na"}, false)
	const n = 256*256 + 500
	for i := range n {
		if err := logs.Append(ctx, entryN("na", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := logs.Close(ctx); err != nil {
		t.Fatal(err)
	}
	na := filepath.Join(dir, "na")
	vkeys := vkeysOf(t, key, []string{"na"})
	res, err := audit.Verify(ctx, audit.VerifyOptions{Source: audit.Dir(na), VKeys: vkeys})
	if err != nil || !res.OK || res.Size != n {
		t.Fatalf("got %v, ok=%t, size %d: %v", err, res.OK, res.Size, res.Failures)
	}
	p, err := audit.Prove(ctx, audit.Dir(na), vkeys, 40_000)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.CheckProof(p, vkeys); err != nil || !strings.Contains(p.Entry, `"meeting":"m40000"`) {
		t.Fatalf("proof of entry 40000: %v, entry %s", err, p.Entry)
	}
	tile := filepath.Join(na, "tile", "1", "000")
	b := mustRead(t, tile)
	b[100] ^= 1
	os.WriteFile(tile, b, 0o644)
	res, _ = audit.Verify(ctx, audit.VerifyOptions{Source: audit.Dir(na), VKeys: vkeys})
	if res.OK || !strings.Contains(fmt.Sprint(res.Failures), "hash tile tile/1/000") {
		t.Errorf("a level-1 tile changed: got %v", res.Failures)
	}
}

// TestOpenFolderKeysApart: with Folder.Keys the keys live there, not beside the logs, and a
// second open resumes with the same keys.
func TestOpenFolderKeysApart(t *testing.T) {
	ctx := context.Background()
	cfg, err := audit.LoadConfig("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, keys := t.TempDir(), t.TempDir()
	var vk []byte
	for i := range 2 {
		logs, _, err := audit.OpenFolder(ctx, audit.Folder{Dir: dir, Keys: keys, Model: cfg.Model, Digest: cfg.Digest, Report: cfg.Report,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := logs.Close(ctx); err != nil {
			t.Fatal(err)
		}
		b := mustRead(t, filepath.Join(dir, audit.VKeysFile))
		if i == 1 && !bytes.Equal(b, vk) {
			t.Error("the second open has other keys")
		}
		vk = b
	}
	if _, err := os.Stat(filepath.Join(dir, "keys")); err == nil {
		t.Error("keys written beside the logs")
	}
	if _, err := os.Stat(filepath.Join(keys, audit.SigningKeyFile)); err != nil {
		t.Errorf("no signing key in the keys folder: %v", err)
	}
	res, err := audit.Verify(ctx, audit.VerifyOptions{Source: audit.Dir(filepath.Join(dir, "na")), VKeys: audit.ParseVKeys(vk),
		Configs: map[string]*audit.Config{cfg.Digest: cfg}})
	if err != nil || !res.OK || res.Size != 2 {
		t.Errorf("got %v ok=%t size %d %v, want two config changes that verify", err, res.OK, res.Size, res.Failures)
	}
}
