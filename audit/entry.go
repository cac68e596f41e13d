package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"
	"time"
)

// Version is the entry schema version, the "v" of every entry.
const Version = 1

// The kinds of entry (DESIGN.md section 11).
const (
	KindTicketIssued = "ticket_issued" // the directory answered a join with a ticket
	KindJoinRefused  = "join_refused"  // the directory refused a join (I4)
	KindKeyIssued    = "key_issued"    // a key server wrapped a meeting key to a participant
	KindKeyRefused   = "key_refused"   // a key server refused a ticket it could verify
	KindConfigChange = "config_change" // a config came into force
)

// TimeFormat is the layout of an entry's "time": UTC, milliseconds, always the same length.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// MaxEntrySize bounds an entry: the C2SP tlog-tiles limit of an entry bundle's 16-bit length.
const MaxEntrySize = 1<<16 - 1

// Entry is one decision in the evidence log. Its JSON is canonical: members in lexicographic
// order (the struct's field order), no insignificant whitespace, no HTML escaping, empty
// optional members left out; Marshal of a parsed entry gives back its bytes, which is what
// Parse checks (RFC 8785 for this schema: strings and integers only).
//
// Participant ids and client addresses appear only as keyed hashes ([Hasher]): the log can
// be published, and whoever holds the key can still find a given participant's entries.
type Entry struct {
	// Addr is the keyed hash of the client's address (joins only).
	Addr string `json:"addr,omitempty"`
	// Code is a refusal's wire error code (join_refused, key_refused).
	Code string `json:"code,omitempty"`
	// Config is the digest of the config in force ([Digest] of its file), "sha256:<hex>".
	Config string `json:"config"`
	// Countries are every country the decision involves: the participant's and those of the
	// DCs and key servers named, sorted, without repeats.
	Countries []string `json:"countries,omitempty"`
	// Epoch is the key epoch (key_issued, key_refused when asked for one).
	Epoch uint64 `json:"epoch,omitempty"`
	// Home is the meeting's home DC (ticket_issued).
	Home *DC `json:"home,omitempty"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// KMS are the key servers a ticket names.
	KMS []DC `json:"kms,omitempty"`
	// Meeting is the meeting's id (random, not personal).
	Meeting string `json:"meeting,omitempty"`
	// Participant is the keyed hash of the participant's account and id.
	Participant string `json:"participant,omitempty"`
	// Party is the rule context the decision was made on (every decision but config_change).
	Party *Party `json:"party,omitempty"`
	// Previous is the digest of the config a config_change replaced; "" at start.
	Previous string `json:"previous,omitempty"`
	// Primary is the DCs a ticket lists first.
	Primary []DC `json:"primary,omitempty"`
	// Region is the region whose log holds the entry: the meeting's data region, or for a
	// config_change every region in turn.
	Region string `json:"region"`
	// Rev is the meeting record's revision a ticket carries (its fencing token).
	Rev int64 `json:"rev,omitempty"`
	// Rules are the rules that fired: the rules that excluded DCs of a refused join, the rule
	// a key server refused on.
	Rules []string `json:"rules,omitempty"`
	// Secondary is the backup DCs a ticket lists.
	Secondary []DC `json:"secondary,omitempty"`
	// Server is the key server that issued or refused a key.
	Server *DC `json:"server,omitempty"`
	// Time is when the decision was made, in TimeFormat.
	Time string `json:"time"`
	// V is Version.
	V int `json:"v"`
	// Verify is the result of verify on the config that came into force (config_change).
	Verify *VerifyResult `json:"verify,omitempty"`
}

// DC is a datacenter an entry names, with its country as the decision saw it.
type DC struct {
	Country string `json:"country"`
	ID      string `json:"id"`
}

// Party is the rule context of a decision, in config ids: the fields of policy.Party and the
// accounts (companies, not people, so in clear).
type Party struct {
	Account string `json:"account"`
	Country string `json:"country"`
	// HostDataRegions is the host account's narrowing: null for none, [] for no DC allowed.
	HostAccount     string   `json:"host_account"`
	HostDataRegions []string `json:"host_data_regions"`
	HostPlan        string   `json:"host_plan"`
	MeetingRegion   string   `json:"meeting_region"`
	Plan            string   `json:"plan"`
	Region          string   `json:"region"`
}

// VerifyResult is what `geofence verify` said of a config.
type VerifyResult struct {
	Errors int `json:"errors"`
	// Findings are the errors, as `geofence verify` prints them (file:line:col and the
	// listing at fault), the first MaxFindings of them.
	Findings []string `json:"findings,omitempty"`
	OK       bool     `json:"ok"`
	Warnings int      `json:"warnings"`
}

// MaxFindings bounds the findings a config_change entry records.
const MaxFindings = 32

// ErrNotCanonical is what Parse returns for JSON that is a valid entry but not in the
// canonical form Marshal writes (reordered members, whitespace, escapes).
var ErrNotCanonical = errors.New("entry is not canonical JSON")

// Marshal encodes e canonically.
func Marshal(e *Entry) ([]byte, error) {
	out := appendEntry(make([]byte, 0, 768), e)
	if len(out) > MaxEntrySize {
		return nil, fmt.Errorf("marshal entry: %d bytes, more than the %d an entry may have", len(out), MaxEntrySize)
	}
	return out, nil
}

// Parse decodes an entry and checks that it is canonical and well formed: unknown members,
// a schema version other than Version, an unknown kind or a malformed time are errors.
func Parse(b []byte) (*Entry, error) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("parse entry: %w", err)
	}
	if dec.More() {
		return nil, errors.New("parse entry: data after the entry")
	}
	if e.V != Version {
		return nil, fmt.Errorf("parse entry: schema version %d, want %d", e.V, Version)
	}
	switch e.Kind {
	case KindTicketIssued, KindJoinRefused, KindKeyIssued, KindKeyRefused, KindConfigChange:
	default:
		return nil, fmt.Errorf("parse entry: unknown kind %q", e.Kind)
	}
	if _, err := time.Parse(TimeFormat, e.Time); err != nil {
		return nil, fmt.Errorf("parse entry: time %q: want %s", e.Time, TimeFormat)
	}
	again, err := Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("parse entry: %w", err)
	}
	if !bytes.Equal(again, b) {
		return nil, ErrNotCanonical
	}
	return &e, nil
}

// When is the entry's time.
func (e *Entry) When() time.Time {
	t, _ := time.Parse(TimeFormat, e.Time)
	return t
}

// FormatTime is t as an entry's time.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// countries fills e.Countries from its party and the DCs it names: sorted, no repeats.
func (e *Entry) countries() {
	var buf [16]string
	cs := buf[:0]
	add := func(c string) {
		if c == "" {
			return
		}
		// Insertion into a short sorted list: a decision names a handful of countries.
		i, found := slices.BinarySearch(cs, c)
		if !found {
			cs = slices.Insert(cs, i, c)
		}
	}
	if e.Party != nil {
		add(e.Party.Country)
	}
	for _, d := range [][]DC{e.Primary, e.Secondary, e.KMS} {
		for _, x := range d {
			add(x.Country)
		}
	}
	for _, d := range []*DC{e.Home, e.Server} {
		if d != nil {
			add(d.Country)
		}
	}
	if len(cs) > 0 {
		e.Countries = slices.Clone(cs)
	}
}

// Digest is the digest of a config file's bytes as entries name it: "sha256:" and the
// SHA-256 in hex. It is the file's, not the model's: an auditor hashes the file it is given.
func Digest(file []byte) string {
	s := sha256.Sum256(file)
	return "sha256:" + hex.EncodeToString(s[:])
}

// HashKeySize is the size of a Hasher's key.
const HashKeySize = 32

// Hasher makes the keyed hashes that stand for participant ids and addresses in entries:
// HMAC-SHA-256 under the operator's key, with a domain per kind of value, truncated to 128
// bits. Without the key a hash reveals nothing and cannot be tested against guesses; with
// it, the operator (or an auditor it trusts) finds a participant's entries.
type Hasher struct {
	key []byte
	// macs are HMAC states keyed once and Reset for each hash: a hash is made per decision.
	macs sync.Pool
}

// NewHasher returns a Hasher with key, which must be HashKeySize bytes.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) != HashKeySize {
		return nil, fmt.Errorf("new hasher: key of %d bytes, want %d", len(key), HashKeySize)
	}
	h := &Hasher{key: slices.Clone(key)}
	h.macs.New = func() any { return hmac.New(sha256.New, h.key) }
	return h, nil
}

func (h *Hasher) sum(domain string, parts ...string) string {
	m := h.macs.Get().(hash.Hash)
	defer h.macs.Put(m)
	m.Reset()
	m.Write([]byte(domain))
	for _, p := range parts {
		// Length-prefixed, so that no two lists of parts hash alike.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	var out [5 + 32]byte
	copy(out[:], "hmac:")
	hex.Encode(out[5:], m.Sum(sum[:0])[:16])
	return string(out[:])
}

// Participant is the hash of a participant id (ids are per account).
func (h *Hasher) Participant(account, participant string) string {
	return h.sum("geofence/audit/participant", account, participant)
}

// Addr is the hash of a client address in its text form; "" for "".
func (h *Hasher) Addr(addr string) string {
	if addr == "" {
		return ""
	}
	return h.sum("geofence/audit/addr", addr)
}
