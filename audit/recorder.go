package audit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/kms"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
	"github.com/geofence/geofence/wire"
)

// Recorder turns the decisions of the directory core and the key servers into entries of
// the evidence log. It is their Decisions hook (directory.Config.Decisions,
// kms.Config.Decisions), so every decision is recorded where it is made, once.
type Recorder struct {
	logs *Logs
	hash *Hasher

	mu      sync.Mutex
	digests map[*policy.Model]string // the digest of each model's config, set by ConfigChanged
	current string
}

var (
	_ directory.Decisions = (*Recorder)(nil)
	_ kms.Decisions       = (*Recorder)(nil)
)

// NewRecorder returns a Recorder writing to logs, hashing ids with h.
func NewRecorder(logs *Logs, h *Hasher) *Recorder {
	return &Recorder{logs: logs, hash: h, digests: map[*policy.Model]string{}}
}

// ConfigChanged records that the config of model m, whose file has digest, came into force
// with verify's report rep: an entry in every region's log, naming the config it replaced.
// Decisions made on m name digest from then on; call it before m serves.
func (r *Recorder) ConfigChanged(ctx context.Context, m *policy.Model, digest string, rep *verify.Report, now time.Time) error {
	prev := r.setConfig(m, digest)
	v := &VerifyResult{OK: rep.OK}
	for _, f := range rep.Findings {
		switch f.Severity {
		case verify.Error:
			v.Errors++
			if len(v.Findings) < MaxFindings {
				v.Findings = append(v.Findings, f.String())
			}
		case verify.Warning:
			v.Warnings++
		}
	}
	var errs []error
	for _, region := range r.logs.Regions() {
		e := &Entry{Kind: KindConfigChange, Time: FormatTime(now), Region: region, Config: digest, Previous: prev, Verify: v}
		errs = append(errs, r.logs.Append(ctx, e))
	}
	return errors.Join(errs...)
}

func (r *Recorder) setConfig(m *policy.Model, digest string) (prev string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, r.current = r.current, digest
	r.digests[m] = digest
	return prev
}

// digestOf is the digest of the config m was built from ("" when ConfigChanged never saw m:
// such an entry fails `audit verify`, as it should).
func (r *Recorder) digestOf(m *policy.Model) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.digests[m]
}

// joinEntry is an entry of a join with its parts in one allocation: one per decision.
type joinEntry struct {
	e     Entry
	party Party
	home  DC
}

// JoinDecided records a join: ticket_issued or join_refused, in the log of the meeting's
// region.
func (r *Recorder) JoinDecided(ctx context.Context, d *directory.JoinDecision) error {
	j := &joinEntry{}
	j.party = partyOf(d.Account, d.Context)
	e := &j.e
	*e = Entry{
		Time: FormatTime(d.Time), Region: d.Context.MeetingRegion, Config: r.digestOf(d.Model), Meeting: d.Meeting,
		Participant: r.hash.Participant(d.Account, d.Participant), Addr: r.hash.Addr(d.Where.Addr),
		Party: &j.party,
	}
	if c := d.Claims; c != nil {
		e.Kind = KindTicketIssued
		j.home = DC{ID: c.Home, Country: c.HomeCountry}
		e.Home = &j.home
		// One array for the three lists.
		all := make([]DC, 0, len(c.Primary)+len(c.Secondary)+len(c.KMS))
		e.Primary, all = wireDCs(all, c.Primary)
		e.Secondary, all = wireDCs(all, c.Secondary)
		e.KMS, _ = wireDCs(all, c.KMS)
		e.Rev = c.Revision
	} else {
		e.Kind = KindJoinRefused
		e.Code = d.Refusal.Code
		e.Rules = d.Refusal.Rules
		if len(e.Rules) == 0 {
			e.Rules = nil
		}
	}
	e.countries()
	return r.logs.Append(ctx, e)
}

// wireDCs appends in to all and returns the part appended (nil when none) and all.
func wireDCs(all []DC, in []wire.DC) ([]DC, []DC) {
	if len(in) == 0 {
		return nil, all
	}
	start := len(all)
	for _, d := range in {
		all = append(all, DC{ID: d.ID, Country: d.Country})
	}
	return all[start:len(all):len(all)], all
}

// KeyDecided records a key server's decision: key_issued or key_refused, in the log of the
// meeting's region.
func (r *Recorder) KeyDecided(ctx context.Context, d *kms.KeyDecision) error {
	c := d.Claims
	e := &Entry{
		Kind: KindKeyIssued, Time: FormatTime(d.Time), Region: c.Region, Config: r.digestOf(d.Model), Meeting: c.Meeting,
		Participant: r.hash.Participant(c.Account, c.Participant), Party: new(partyOf(c.Account, c.Context)),
		Epoch: d.Epoch, Server: &DC{ID: d.DC},
	}
	if m := d.Model; m != nil {
		if id, ok := m.DC(d.DC); ok {
			e.Server.Country = m.DCs[id].Country.Code()
		}
	}
	if d.Refusal != nil {
		e.Kind, e.Code = KindKeyRefused, d.Refusal.Code
		if d.Refusal.Rule != "" {
			e.Rules = []string{d.Refusal.Rule}
		}
	}
	e.countries()
	return r.logs.Append(ctx, e)
}

func partyOf(account string, c wire.Context) Party {
	return Party{Account: account, Country: c.ParticipantCountry, Region: c.ParticipantRegion, Plan: c.ParticipantPlan,
		MeetingRegion: c.MeetingRegion, HostAccount: c.HostAccount, HostPlan: c.HostPlan, HostDataRegions: c.HostDataRegions}
}

// RegionsOf is the region ids of m: the logs a process of m writes.
func RegionsOf(m *policy.Model) []string {
	out := make([]string, len(m.Regions))
	for i, r := range m.Regions {
		out[i] = r.ID
	}
	return out
}
