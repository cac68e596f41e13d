package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
)

// Config is a config an auditor checks entries against: the model of the file whose
// Digest entries name, and what verify said of it.
type Config struct {
	File   string
	Digest string
	Model  *policy.Model // nil when no model could be built
	Report *verify.Report
}

// LoadConfig reads and verifies a config file as an auditor's reference.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	rep, m, err := verify.File(path, verify.Options{})
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return &Config{File: path, Digest: Digest(b), Model: m, Report: rep}, nil
}

// VerifyOptions is what Verify checks a log against. Source and VKeys are required.
type VerifyOptions struct {
	Source Source
	// VKeys are the signed-note verifier keys the checkpoint must be signed by (one of them,
	// named like the log's origin).
	VKeys []string
	// Since is an earlier signed checkpoint of the same log: the current tree must extend it.
	Since []byte
	// Configs are the configs entries may name, by digest. An entry naming another is a
	// failure: it cannot be re-checked. Nil: entries are parsed but not re-checked (the
	// signature and the tree still are), for a report made without the configs.
	Configs map[string]*Config
}

// Failure is one thing wrong with a log. Entry is the index of the entry at fault, or -1
// for the log as a whole (signature, tree, consistency).
type Failure struct {
	Entry   int64  `json:"entry"`
	Kind    string `json:"kind,omitempty"`
	Message string `json:"message"`
}

func (f Failure) String() string {
	if f.Entry < 0 {
		return f.Message
	}
	return fmt.Sprintf("entry %d (%s): %s", f.Entry, f.Kind, f.Message)
}

// Result is what Verify found.
type Result struct {
	Log        string      `json:"log"`
	Origin     string      `json:"origin"`
	Region     string      `json:"region"`
	Size       uint64      `json:"size"`
	Root       string      `json:"root"`
	Checkpoint *Checkpoint `json:"-"`
	// Entries are the log's entries in order (nil for one that does not parse).
	Entries []*Entry       `json:"-"`
	Kinds   map[string]int `json:"kinds"`
	// Checked says the entries were re-checked against configs (VerifyOptions.Configs).
	Checked  bool      `json:"checked"`
	Failures []Failure `json:"failures"`
	// Notes are what is worth saying but not wrong (a log being written as it was read).
	Notes []string `json:"notes,omitempty"`
	OK    bool     `json:"ok"`
}

// maxFailures bounds the failures reported of one log: past that, the log is broken anyway.
const maxFailures = 1000

// Verify checks a log: the checkpoint's signature, the tree recomputed from the entry
// bundles and compared with the checkpoint's root and with every hash tile, consistency with
// an earlier checkpoint, and every entry parsed and re-checked against the config it names
// (the DCs and key servers it lists must be allowed for its party by that config's rules,
// the code that decided: policy.Model.Admit). An error is returned only when the log cannot
// be read at all; everything wrong with it is a Failure.
func Verify(ctx context.Context, o VerifyOptions) (*Result, error) {
	res := &Result{Log: o.Source.String(), Kinds: map[string]int{}, Failures: []Failure{}, Checked: o.Configs != nil}
	fail := func(entry int64, kind, format string, args ...any) {
		if len(res.Failures) < maxFailures {
			res.Failures = append(res.Failures, Failure{Entry: entry, Kind: kind, Message: fmt.Sprintf(format, args...)})
		}
	}
	raw, err := o.Source.Fetch(ctx, "checkpoint")
	if err != nil {
		return nil, fmt.Errorf("verify %s: read checkpoint: %w", o.Source, err)
	}
	cp, err := OpenCheckpoint(raw, o.VKeys)
	if err != nil {
		fail(-1, "", "%v", err)
		return res, nil
	}
	res.Checkpoint, res.Origin, res.Size = &cp, cp.Origin, cp.Size
	res.Region = cp.Origin[strings.LastIndex(cp.Origin, "/")+1:]
	res.Root = fmt.Sprintf("%x", cp.Hash)

	lv, err := readLeaves(ctx, o.Source, cp.Size)
	if err != nil {
		fail(-1, "", "%v", err)
		return res, nil
	}
	if got := rootOf(lv.Hashes); got != cp.Hash {
		fail(-1, "", "the root recomputed from the %d entries, %x, is not the checkpoint's %x: an entry was changed, removed, added or reordered", cp.Size, got, cp.Hash)
	}
	if err := checkTiles(ctx, o.Source, lv.Hashes); err != nil {
		fail(-1, "", "%v", err)
	}
	if o.Since != nil {
		checkSince(res, o, cp, lv, fail)
	}
	if d, ok := o.Source.(Dir); ok {
		if p, mod := pastCheckpoint(d, cp.Size); p != "" {
			// A log being written runs up to a checkpoint interval ahead of its checkpoint.
			if age := time.Since(mod); age < liveWindow {
				res.Notes = append(res.Notes, fmt.Sprintf("the log is being written: %s, past the checkpoint, is %s old", p, age.Round(time.Millisecond)))
			} else {
				fail(-1, "", "the log holds entries past its checkpoint of size %d (%s, written %s ago): the checkpoint was rolled back to an older one", cp.Size, p, age.Round(time.Second))
			}
		}
	}
	res.Entries = make([]*Entry, len(lv.Data))
	for i, d := range lv.Data {
		e, err := Parse(d)
		if err != nil {
			fail(int64(i), "?", "%v", err)
			continue
		}
		res.Entries[i] = e
		res.Kinds[e.Kind]++
		if o.Configs == nil {
			continue
		}
		for _, msg := range Check(e, res.Region, o.Configs) {
			fail(int64(i), e.Kind, "%s", msg)
		}
	}
	res.OK = len(res.Failures) == 0
	return res, nil
}

// pastCheckpoint names the oldest entry bundle of a log in a folder holding entries past
// size, and when it was written, or returns "". Tessera signs a checkpoint within a second of integrating entries, so at rest
// a checkpoint covers every bundle; an older, validly signed checkpoint put back in place
// does not.
func pastCheckpoint(d Dir, size uint64) (string, time.Time) {
	last, w := size/TileWidth, int(size%TileWidth)
	var (
		path   string
		oldest time.Time
	)
	check := func(p string) {
		fi, err := os.Stat(filepath.Join(string(d), filepath.FromSlash(p)))
		if err == nil && (path == "" || fi.ModTime().Before(oldest)) {
			path, oldest = p, fi.ModTime()
		}
	}
	for x := w + 1; x <= TileWidth; x++ {
		check(TilePath(-1, last, x))
	}
	for x := 1; x <= TileWidth; x++ {
		check(TilePath(-1, last+1, x))
	}
	return path, oldest
}

// liveWindow is how recent a bundle past the checkpoint may be and still be a log being
// written (tessera signs a checkpoint at most a second after integrating; the margin covers
// a loaded disk). An older one means the checkpoint was put back.
const liveWindow = 10 * time.Second

// checkSince checks that the tree of cp extends the earlier checkpoint o.Since: signed by
// the same log, no larger, and its root the root of the first entries of this tree. Two
// checkpoints of one size with different roots are a fork.
func checkSince(res *Result, o VerifyOptions, cp Checkpoint, lv *Leaves, fail func(int64, string, string, ...any)) {
	old, err := OpenCheckpoint(o.Since, o.VKeys)
	if err != nil {
		fail(-1, "", "earlier checkpoint: %v", err)
		return
	}
	switch {
	case old.Origin != cp.Origin:
		fail(-1, "", "the earlier checkpoint is of log %q, not %q", old.Origin, cp.Origin)
	case old.Size > cp.Size:
		fail(-1, "", "the log shrank: the earlier checkpoint commits to %d entries, the current one to %d", old.Size, cp.Size)
	case old.Size == cp.Size && old.Hash != cp.Hash:
		fail(-1, "", "fork: two signed checkpoints of size %d with different roots (%x and %x)", cp.Size, old.Hash, cp.Hash)
	default:
		if got := rootOf(lv.Hashes[:old.Size]); got != old.Hash {
			fail(-1, "", "inconsistent with the earlier checkpoint: the first %d entries now hash to %x, the earlier checkpoint signed %x (history was rewritten)", old.Size, got, old.Hash)
		}
	}
}

// Check re-checks one entry of the log of region against the configs it may name, and
// returns what is wrong with it.
func Check(e *Entry, region string, configs map[string]*Config) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if e.Region != region {
		bad("the entry is of region %q but sits in the log of region %q", e.Region, region)
	}
	c := configs[e.Config]
	if c == nil {
		bad("names config %s, which none of the given configs has (pass it with --config)", e.Config)
		return out
	}
	if c.Model == nil {
		bad("names config %s (%s), which does not build a model", e.Config, c.File)
		return out
	}
	m := c.Model
	if _, ok := m.Region(e.Region); !ok {
		bad("region %q is not in config %s", e.Region, c.File)
	}
	switch e.Kind {
	case KindConfigChange:
		if e.Verify == nil {
			bad("a config change without its verify result")
			break
		}
		if e.Verify.OK != c.Report.OK {
			bad("records verify ok=%t for %s, but verify says ok=%t", e.Verify.OK, c.File, c.Report.OK)
		}
		if !c.Report.OK {
			bad("config %s came into force although it does not verify (%d errors; served with --allow-unverified)", c.File, countErrors(c.Report))
			n := 0
			for _, f := range c.Report.Findings {
				if f.Severity == verify.Error && n < 10 {
					bad("in force although verify says %s", f.String())
					n++
				}
			}
		}
	case KindTicketIssued:
		if e.Party == nil || e.Home == nil || len(e.Primary)+len(e.Secondary) == 0 {
			bad("a ticket without its party, home or datacenters")
			break
		}
		if e.Party.MeetingRegion != e.Region {
			bad("a ticket of a meeting of region %q in the log of %q", e.Party.MeetingRegion, e.Region)
		}
		checkDCs(m, e.Party, "home", []DC{*e.Home}, "", bad)
		checkDCs(m, e.Party, "primary", e.Primary, "media", bad)
		checkDCs(m, e.Party, "secondary", e.Secondary, "media", bad)
		checkDCs(m, e.Party, "kms", e.KMS, "kms", bad)
	case KindKeyIssued:
		if e.Party == nil || e.Server == nil {
			bad("a key issuance without its party or key server")
			break
		}
		checkDCs(m, e.Party, "key server", []DC{*e.Server}, "kms", bad)
	case KindJoinRefused, KindKeyRefused:
		if e.Code == "" {
			bad("a refusal without its code")
		}
		for _, r := range e.Rules {
			if !hasRule(m, r) {
				bad("names rule %q, which config %s does not have", r, c.File)
			}
		}
	}
	if e.Party != nil && e.Kind != KindConfigChange {
		if k, ok := geo.LookupCountry(e.Party.Country); ok && e.Party.Country != "" {
			if got := m.Regions[m.RegionOf(k)].ID; got != e.Party.Region {
				bad("puts a participant from %s in region %s; config %s puts %s in %s", e.Party.Country, e.Party.Region, c.File, e.Party.Country, got)
			}
		}
	}
	return out
}

// checkDCs checks that every DC of a list exists in m with the country the entry gives,
// runs the service the list needs, and is allowed for the party (I1, I3: policy.Model.Admit,
// the check every run-time layer makes).
func checkDCs(m *policy.Model, p *Party, list string, dcs []DC, service string, bad func(string, ...any)) {
	party := policy.Party{ParticipantCountry: p.Country, ParticipantRegion: p.Region, ParticipantPlan: p.Plan,
		MeetingRegion: p.MeetingRegion, HostPlan: p.HostPlan, HostDataRegions: p.HostDataRegions}
	for _, x := range dcs {
		d, ok := m.DC(x.ID)
		if !ok {
			bad("%s %s is not a datacenter of the config", list, x.ID)
			continue
		}
		dc := &m.DCs[d]
		if got := dc.Country.Code(); got != x.Country {
			bad("%s %s is given as in %s, but the config has it in %s", list, x.ID, x.Country, got)
		}
		if service == "media" && !dc.Media || service == "kms" && !dc.KMS {
			bad("%s %s does not run %s", list, x.ID, service)
		}
		if err := m.Admit(party, d); err != nil {
			var ref *policy.Refusal
			if errors.As(err, &ref) && ref.Rule != "" {
				bad("%s %s (%s) is forbidden by rule %s: %v", list, x.ID, x.Country, ref.Rule, err)
			} else {
				bad("%s %s (%s) is not allowed: %v", list, x.ID, x.Country, err)
			}
		}
	}
}

func hasRule(m *policy.Model, id string) bool {
	for _, r := range m.Rules {
		if r.ID == id {
			return true
		}
	}
	return false
}

func countErrors(r *verify.Report) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == verify.Error {
			n++
		}
	}
	return n
}
