package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/geofence/geofence/directory"
)

// meetingTable is the directory core's store in a simulation: accounts in a MemoryStore,
// meetings in a slice indexed by the simulator's meeting slot. A day at full scale holds
// millions of open meetings; a map keyed by random ids made every join a few cache misses
// into a table of gigabytes, this makes it one: a slot is one cache line, the simulator's
// view of the meeting and the record side by side.
//
// The simulator names its meetings (directory.CreateMeeting.ID) "m<slot>-<generation>", the
// generation counting the slot's reuses, so an id is never given twice in a run and the
// record of an id is found by parsing it. Any other id is not found. A record is kept in
// small numbers: its strings as indexes into a table of the distinct values seen (account,
// region, mode and DC ids, a few hundred in a run), its times as offsets from the table's
// epoch; reads give back exactly what was written, and a time the offsets cannot hold is
// refused. The simulator's core bounds no account's meetings, and this store refuses to
// (maxPerHost > 0). It is not safe for concurrent use: only the directory side's goroutine
// calls the core.
type meetingTable struct {
	*directory.MemoryStore // the accounts (its meeting methods are shadowed below)

	epoch time.Time
	rev   int64
	slots []slot
	words words
}

// slot is one meeting slot, 64 bytes: the simulator's view of the meeting, then the record
// of the open meeting.
type slot struct {
	sim meeting // written by the simulator only (meetingTable.meeting)
	// The record: its times as offsets from the epoch, its strings as words.
	created, expires, rev                int64
	account, region, mode, home, storeID uint16
	open                                 bool
	_                                    [5]byte
}

// meeting is the simulator's view of slot i. The pointer holds until the table grows: the
// simulator takes slot i here before it creates the slot's meeting, so no call of the core
// for that meeting grows the table under it.
func (t *meetingTable) meeting(i int32) *meeting {
	t.grow(i)
	return &t.slots[i].sim
}

func (t *meetingTable) grow(i int32) {
	for int(i) >= len(t.slots) {
		t.slots = append(t.slots, slot{})
	}
}

var _ directory.InMemory = (*meetingTable)(nil)

// newMeetingTable is a table whose times are kept as offsets from epoch.
func newMeetingTable(epoch time.Time) *meetingTable {
	return &meetingTable{MemoryStore: directory.NewMemoryStore(), epoch: epoch, words: words{index: map[string]uint16{}}}
}

// words are the distinct strings of the records, by index.
type words struct {
	index map[string]uint16
	all   []string
}

// of is the index of s; cur, an index the caller holds, is tried first (a record's strings
// seldom change).
func (w *words) of(s string, cur uint16) (uint16, error) {
	if int(cur) < len(w.all) && w.all[cur] == s {
		return cur, nil
	}
	if i, ok := w.index[s]; ok {
		return i, nil
	}
	if len(w.all) > math.MaxUint16 {
		return 0, errors.New("the simulator's store holds at most 65536 distinct ids")
	}
	i := uint16(len(w.all))
	w.index[s] = i
	w.all = append(w.all, s)
	return i, nil
}

// noTime is the offset of the zero time.
const noTime = math.MinInt64

func (t *meetingTable) offset(at time.Time) (int64, error) {
	if at.IsZero() {
		return noTime, nil
	}
	d := at.Sub(t.epoch)
	if d == math.MinInt64 || d == math.MaxInt64 || t.epoch.Add(d) != at {
		return 0, fmt.Errorf("the simulator's store keeps times within 290 years of %s in its location, not %s", t.epoch, at)
	}
	return int64(d), nil
}

func (t *meetingTable) time(off int64) time.Time {
	if off == noTime {
		return time.Time{}
	}
	return t.epoch.Add(time.Duration(off))
}

// put writes rec into x.
func (t *meetingTable) put(x *slot, rec *directory.MeetingRecord) error {
	var err error
	y := *x
	if y.created, err = t.offset(rec.Created); err != nil {
		return err
	}
	if y.expires, err = t.offset(rec.Expires); err != nil {
		return err
	}
	for _, w := range [...]struct {
		to *uint16
		s  string
	}{{&y.account, rec.HostAccount}, {&y.region, rec.Region}, {&y.mode, rec.Mode}, {&y.home, rec.Home}, {&y.storeID, rec.Store}} {
		if *w.to, err = t.words.of(w.s, *w.to); err != nil {
			return err
		}
	}
	y.rev, y.open = rec.Revision, true
	*x = y
	return nil
}

// record is the record in x, whose id is id.
func (t *meetingTable) record(x *slot, id string) directory.MeetingRecord {
	w := t.words.all
	return directory.MeetingRecord{ID: id, HostAccount: w[x.account], Region: w[x.region], Mode: w[x.mode], Home: w[x.home],
		Store: w[x.storeID], Created: t.time(x.created), Expires: t.time(x.expires), Revision: x.rev}
}

// meetingID is the id of the meeting in slot with generation gen.
func meetingID(slot int32, gen uint32) string {
	var b [24]byte
	return string(appendMeetingID(b[:0], slot, gen))
}

func appendMeetingID(b []byte, slot int32, gen uint32) []byte {
	b = append(b, 'm')
	b = strconv.AppendInt(b, int64(slot), 10)
	b = append(b, '-')
	return strconv.AppendUint(b, uint64(gen), 10)
}

// joinIDs are meetingID(slot, gen) and the id of participant pi ("p<pi>"), made in one
// allocation: a join needs both.
func joinIDs(slot int32, gen uint32, pi int32) (mid, pid string) {
	var b [40]byte
	out := appendMeetingID(b[:0], slot, gen)
	n := len(out)
	out = append(out, 'p')
	out = strconv.AppendInt(out, int64(pi), 10)
	both := string(out)
	return both[:n], both[n:]
}

// parseMeetingID is the slot and generation of an id meetingID made.
func parseMeetingID(id string) (slot int32, gen uint32, ok bool) {
	if len(id) < 4 || id[0] != 'm' {
		return 0, 0, false
	}
	var s, g uint64
	i := 1
	for ; i < len(id) && id[i] != '-'; i++ {
		c := id[i]
		if c < '0' || c > '9' || s > 1<<31 {
			return 0, 0, false
		}
		s = s*10 + uint64(c-'0')
	}
	if i == 1 || i >= len(id)-1 || s >= 1<<31 {
		return 0, 0, false
	}
	for i++; i < len(id); i++ {
		c := id[i]
		if c < '0' || c > '9' || g > 1<<32 {
			return 0, 0, false
		}
		g = g*10 + uint64(c-'0')
	}
	if g >= 1<<32 {
		return 0, 0, false
	}
	return int32(s), uint32(g), true
}

// find is the slot of the open meeting id names, or nil.
func (t *meetingTable) find(id string) *slot {
	s, g, ok := parseMeetingID(id)
	if !ok || int(s) >= len(t.slots) {
		return nil
	}
	if x := &t.slots[s]; x.open && x.sim.gen == g {
		return x
	}
	return nil
}

// CreateMeeting implements directory.Store. The slot's generation is the simulator's, set
// before it creates the meeting; an id of another generation is refused.
func (t *meetingTable) CreateMeeting(_ context.Context, rec directory.MeetingRecord, maxPerHost int) (directory.MeetingRecord, error) {
	s, g, ok := parseMeetingID(rec.ID)
	if !ok {
		return directory.MeetingRecord{}, fmt.Errorf("create meeting %q: the simulator's store takes only its own ids", rec.ID)
	}
	t.grow(s)
	x := &t.slots[s]
	switch {
	case x.open:
		return directory.MeetingRecord{}, fmt.Errorf("create meeting %s: slot %d holds generation %d: %w", rec.ID, s, x.sim.gen, directory.ErrExists)
	case x.sim.gen != g:
		return directory.MeetingRecord{}, fmt.Errorf("create meeting %s: slot %d is at generation %d", rec.ID, s, x.sim.gen)
	case maxPerHost > 0:
		return directory.MeetingRecord{}, fmt.Errorf("create meeting %s: the simulator's store does not bound meetings per account", rec.ID)
	}
	return t.write(x, rec, "create")
}

// Meeting implements directory.Store.
func (t *meetingTable) Meeting(_ context.Context, id string) (directory.MeetingRecord, error) {
	x := t.find(id)
	if x == nil {
		return directory.MeetingRecord{}, fmt.Errorf("meeting %s: %w", id, directory.ErrNotFound)
	}
	return t.record(x, id), nil
}

// UpdateMeeting implements directory.Store.
func (t *meetingTable) UpdateMeeting(_ context.Context, rec directory.MeetingRecord) (directory.MeetingRecord, error) {
	x := t.find(rec.ID)
	switch {
	case x == nil:
		return directory.MeetingRecord{}, fmt.Errorf("update meeting %s: %w", rec.ID, directory.ErrNotFound)
	case x.rev != rec.Revision:
		return directory.MeetingRecord{}, fmt.Errorf("update meeting %s at revision %d (stored %d): %w", rec.ID, rec.Revision, x.rev, directory.ErrConflict)
	case t.words.all[x.account] != rec.HostAccount:
		return directory.MeetingRecord{}, fmt.Errorf("update meeting %s: the host account cannot change", rec.ID)
	}
	return t.write(x, rec, "update")
}

// write stores rec in x at the table's next revision; op names the call in errors.
func (t *meetingTable) write(x *slot, rec directory.MeetingRecord, op string) (directory.MeetingRecord, error) {
	t.rev++
	rec.Revision = t.rev
	if err := t.put(x, &rec); err != nil {
		return directory.MeetingRecord{}, fmt.Errorf("%s meeting %s: %w", op, rec.ID, err)
	}
	return rec, nil
}

// DeleteMeeting implements directory.Store.
func (t *meetingTable) DeleteMeeting(_ context.Context, id string) error {
	x := t.find(id)
	if x == nil {
		return fmt.Errorf("delete meeting %s: %w", id, directory.ErrNotFound)
	}
	x.open = false
	return nil
}

// ExpireMeetings implements directory.Store.
func (t *meetingTable) ExpireMeetings(_ context.Context, now time.Time) (int, error) {
	n := 0
	for i := range t.slots {
		if x := &t.slots[i]; x.open && t.time(x.expires).Before(now) {
			x.open = false
			n++
		}
	}
	return n, nil
}
