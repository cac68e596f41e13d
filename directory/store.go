package directory

import (
	"context"
	"errors"
	"time"

	"github.com/geofence/geofence/wire"
)

// Store is where the directory keeps its shared state: meetings and the accounts created at
// run time. It is the seam between the directory core and a deployment: [MemoryStore] for one
// process (`geofence dev`, tests, the simulator), a replicated store for a cluster (DESIGN.md
// section 9). Every method is safe for concurrent use.
//
// Records are values: a Store never hands out memory the caller can change under it. Each
// record carries the store's revision of it, which grows with every write; UpdateMeeting
// writes only when the revision is still the one the caller read (compare-and-swap), so two
// directories cannot both move a meeting's home.
type Store interface {
	// CreateMeeting stores a new meeting if no meeting has its id (ErrExists) and its host
	// account holds fewer than maxPerHost open meetings (ErrLimit; maxPerHost <= 0: no bound).
	// It returns the record with its revision.
	CreateMeeting(ctx context.Context, rec MeetingRecord, maxPerHost int) (MeetingRecord, error)
	// Meeting returns the meeting id, or ErrNotFound.
	Meeting(ctx context.Context, id string) (MeetingRecord, error)
	// UpdateMeeting replaces a meeting whose stored revision is rec.Revision (ErrConflict
	// otherwise, ErrNotFound when it is gone) and returns it with its new revision.
	UpdateMeeting(ctx context.Context, rec MeetingRecord) (MeetingRecord, error)
	// DeleteMeeting removes a meeting (ErrNotFound when there is none).
	DeleteMeeting(ctx context.Context, id string) error
	// ExpireMeetings removes every meeting whose Expires is before now and returns how many.
	ExpireMeetings(ctx context.Context, now time.Time) (int, error)

	// PutAccount creates or replaces an account; created says which.
	PutAccount(ctx context.Context, rec AccountRecord) (stored AccountRecord, created bool, err error)
	// Account returns the account id, or ErrNotFound.
	Account(ctx context.Context, id string) (AccountRecord, error)
	// Accounts returns every account, ordered by id.
	Accounts(ctx context.Context) ([]AccountRecord, error)
	// DeleteAccount removes an account (ErrNotFound when there is none).
	DeleteAccount(ctx context.Context, id string) error
}

// InMemory is implemented by a Store whose calls never wait: it holds its data in this
// process's memory (MemoryStore, the simulator's). The core does not bound its calls with
// Config.StoreTimeout, which for millions of calls would cost more than the calls.
type InMemory interface {
	Store
	// InMemory marks the store; it does nothing.
	InMemory()
}

// Errors of a Store, matched with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("revision conflict")
	ErrLimit    = errors.New("limit reached")
)

// MeetingRecord is a meeting as stored. A store that serializes it (etcd) writes it as JSON
// with these member names: the one definition of the stored form.
type MeetingRecord struct {
	ID          string    `json:"id"`
	HostAccount string    `json:"host_account"`
	Region      string    `json:"region"`         // the data region, sticky (DESIGN.md section 2)
	Mode        string    `json:"mode"`           // wire.ModeManaged or wire.ModeE2EE
	Home        string    `json:"home,omitempty"` // the home DC's id; "" until the first join
	Created     time.Time `json:"created"`
	// Store is the config id of the store that holds the record (DESIGN.md section 9); ""
	// when the config declares no stores.
	Store string `json:"store,omitempty"`
	// Expires is when the meeting ends if nobody joins it again (the idle timeout); joins
	// push it forward.
	Expires time.Time `json:"expires"`
	// Revision is the store's revision of the record; tickets carry it as a fencing token.
	// It is the store's to set, never serialized.
	Revision int64 `json:"-"`
}

// Wire is the record as the API shows it.
func (r *MeetingRecord) Wire() wire.Meeting {
	return wire.Meeting{ID: r.ID, Region: r.Region, Mode: r.Mode, HostAccount: r.HostAccount, Home: r.Home, Revision: r.Revision}
}

// AccountRecord is an account created at run time through the operator API. It is kept in
// config terms (ids), and built against each model when used.
type AccountRecord struct {
	ID          string            `json:"id"`
	Plan        string            `json:"plan"`
	HomeRegion  string            `json:"home_region,omitempty"` // "" when the account has none
	DataRegions []string          `json:"data_regions,omitzero"` // nil: no narrowing; empty: no DC allowed
	Keys        []wire.AccountKey `json:"keys,omitempty"`
	Revision    int64             `json:"-"`
}

// Wire is the record as the API shows it.
func (r *AccountRecord) Wire() wire.Account {
	return wire.Account{ID: r.ID, Plan: r.Plan, HomeRegion: r.HomeRegion, DataRegions: r.DataRegions, Keys: r.Keys, Source: "api"}
}

// LoadStore is a Store that shares DC load reports between the directories of a deployment
// (DESIGN.md section 9: DC liveness is a lease per DC renewed by its reports). A DC reports to
// any one directory; that directory stores the report on a lease of the DC's staleness, and
// every directory applies every report it watches. Each directory still counts its own
// placements since the last report, so N directories can overshoot a DC by N bursts at most.
type LoadStore interface {
	// PutLoad stores a report, expiring after ttl without a newer one.
	PutLoad(ctx context.Context, r LoadReport, ttl time.Duration) error
	// WatchLoad calls fn with the reports stored now, then with every later one, until ctx
	// is done.
	WatchLoad(ctx context.Context, fn func(LoadReport))
}

// LoadReport is a DC's load report as the directories share it.
type LoadReport struct {
	DC           string
	Participants int64
	Healthy      bool
	Media        *wire.MediaLoad // what its media server carries; nil without one
	At           time.Time       // when the directory that received it received it
	By           string          // that directory's instance id
}
