package sim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/geofence/geofence/directory"
)

// meetingTable is the directory core's store in a simulation: accounts in a MemoryStore,
// meetings in a slice indexed by the simulator's meeting slot. A day at full scale holds
// millions of open meetings; a map keyed by random ids made every join a few cache misses
// into a table of gigabytes, this makes it one.
//
// The simulator names its meetings (directory.CreateMeeting.ID) "m<slot>-<generation>", the
// generation counting the slot's reuses, so an id is never given twice in a run and the
// record of an id is found by parsing it. Any other id is not found. The simulator's core
// bounds no account's meetings, and this store refuses to (maxPerHost > 0). It is not safe for
// concurrent use: only the directory side's goroutine calls the core.
type meetingTable struct {
	*directory.MemoryStore // the accounts (its meeting methods are shadowed below)

	rev   int64
	slots []slot
}

// slot is one meeting slot: the simulator's view of the meeting, then the record with what
// says whether it is open, side by side so that a join reads one place for both.
type slot struct {
	sim  meeting // written by the simulator only (meetingTable.meeting)
	gen  uint32  // the generation of the open meeting
	open bool
	rec  directory.MeetingRecord
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

func newMeetingTable() *meetingTable {
	return &meetingTable{MemoryStore: directory.NewMemoryStore()}
}

// meetingID is the id of the meeting in slot with generation gen.
func meetingID(slot int32, gen uint32) string {
	var b [24]byte
	out := append(b[:0], 'm')
	out = strconv.AppendInt(out, int64(slot), 10)
	out = append(out, '-')
	out = strconv.AppendUint(out, uint64(gen), 10)
	return string(out)
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
	if x := &t.slots[s]; x.open && x.gen == g {
		return x
	}
	return nil
}

// CreateMeeting implements directory.Store.
func (t *meetingTable) CreateMeeting(_ context.Context, rec directory.MeetingRecord, maxPerHost int) (directory.MeetingRecord, error) {
	s, g, ok := parseMeetingID(rec.ID)
	if !ok {
		return directory.MeetingRecord{}, fmt.Errorf("create meeting %q: the simulator's store takes only its own ids", rec.ID)
	}
	t.grow(s)
	x := &t.slots[s]
	if x.open {
		return directory.MeetingRecord{}, fmt.Errorf("create meeting %s: slot %d holds %s: %w", rec.ID, s, x.rec.ID, directory.ErrExists)
	}
	if maxPerHost > 0 {
		return directory.MeetingRecord{}, fmt.Errorf("create meeting %s: the simulator's store does not bound meetings per account", rec.ID)
	}
	t.rev++
	rec.Revision = t.rev
	x.gen, x.open, x.rec = g, true, rec
	return rec, nil
}

// Meeting implements directory.Store.
func (t *meetingTable) Meeting(_ context.Context, id string) (directory.MeetingRecord, error) {
	x := t.find(id)
	if x == nil {
		return directory.MeetingRecord{}, fmt.Errorf("meeting %s: %w", id, directory.ErrNotFound)
	}
	return x.rec, nil
}

// UpdateMeeting implements directory.Store.
func (t *meetingTable) UpdateMeeting(_ context.Context, rec directory.MeetingRecord) (directory.MeetingRecord, error) {
	x := t.find(rec.ID)
	switch {
	case x == nil:
		return directory.MeetingRecord{}, fmt.Errorf("update meeting %s: %w", rec.ID, directory.ErrNotFound)
	case x.rec.Revision != rec.Revision:
		return directory.MeetingRecord{}, fmt.Errorf("update meeting %s at revision %d (stored %d): %w", rec.ID, rec.Revision, x.rec.Revision, directory.ErrConflict)
	case x.rec.HostAccount != rec.HostAccount:
		return directory.MeetingRecord{}, fmt.Errorf("update meeting %s: the host account cannot change", rec.ID)
	}
	t.rev++
	rec.Revision = t.rev
	x.rec = rec
	return rec, nil
}

// DeleteMeeting implements directory.Store.
func (t *meetingTable) DeleteMeeting(_ context.Context, id string) error {
	x := t.find(id)
	if x == nil {
		return fmt.Errorf("delete meeting %s: %w", id, directory.ErrNotFound)
	}
	t.remove(x)
	return nil
}

func (t *meetingTable) remove(x *slot) { x.open, x.rec = false, directory.MeetingRecord{} }

// ExpireMeetings implements directory.Store.
func (t *meetingTable) ExpireMeetings(_ context.Context, now time.Time) (int, error) {
	n := 0
	for i := range t.slots {
		if x := &t.slots[i]; x.open && x.rec.Expires.Before(now) {
			t.remove(x)
			n++
		}
	}
	return n, nil
}
