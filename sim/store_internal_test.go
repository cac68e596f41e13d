package sim

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/geofence/geofence/directory"
)

func TestMeetingIDs(t *testing.T) {
	for _, c := range []struct {
		slot int32
		gen  uint32
	}{{0, 0}, {7, 1}, {1<<31 - 1, 1<<32 - 1}} {
		id := meetingID(c.slot, c.gen)
		if !directory.ValidID(id) {
			t.Errorf("meetingID(%d, %d) = %q, not a valid id", c.slot, c.gen, id)
		}
		s, g, ok := parseMeetingID(id)
		if !ok || s != c.slot || g != c.gen {
			t.Errorf("parseMeetingID(%q) = %d, %d, %v; want %d, %d", id, s, g, ok, c.slot, c.gen)
		}
		if mid, pid := joinIDs(c.slot, c.gen, 42); mid != id || pid != "p42" {
			t.Errorf("joinIDs(%d, %d, 42) = %q, %q; want %q, \"p42\"", c.slot, c.gen, mid, pid, id)
		}
	}
	for _, id := range []string{"", "m", "m1", "m1-", "m-1", "x1-1", "m1-1-1", "m1-a", "ma-1", "m2147483648-1", "m1-4294967296", "m99999999999999999999-1"} {
		if s, g, ok := parseMeetingID(id); ok {
			t.Errorf("parseMeetingID(%q) = %d, %d, ok; want refused", id, s, g)
		}
	}
}

// The simulator's meeting store keeps the Store contract the core relies on.
func TestMeetingTable(t *testing.T) {
	ctx := context.Background()
	tb := newMeetingTable(time.Date(2020, 4, 1, 0, 0, 0, 0, time.UTC))
	now := time.Date(2020, 4, 1, 0, 0, 0, 0, time.UTC)
	rec := directory.MeetingRecord{ID: meetingID(3, 1), HostAccount: "acme", Region: "eu", Mode: "e2ee", Store: "s1",
		Created: now.Add(-time.Minute), Expires: now.Add(time.Hour)}
	if _, err := tb.CreateMeeting(ctx, directory.MeetingRecord{ID: "zzz", HostAccount: "acme"}, 0); err == nil {
		t.Error("a foreign id was stored")
	}
	if _, err := tb.CreateMeeting(ctx, rec, 0); err == nil {
		t.Error("a meeting of a generation the simulator has not set was created")
	}
	// The simulator sets a slot's generation before it creates the slot's meeting.
	tb.meeting(3).gen = 1
	tb.meeting(4).gen = 1
	for _, at := range []time.Time{now.In(time.FixedZone("X", 3600)), now.AddDate(300, 0, 0)} {
		bad := rec
		bad.Created = at
		if _, err := tb.CreateMeeting(ctx, bad, 0); err == nil {
			t.Errorf("a record created at %v, which the store cannot give back, was stored", at)
		}
	}
	got, err := tb.CreateMeeting(ctx, rec, 0)
	if err != nil || got.Revision == 0 {
		t.Fatalf("create = %+v, %v", got, err)
	}
	if _, err := tb.CreateMeeting(ctx, rec, 0); !errors.Is(err, directory.ErrExists) {
		t.Errorf("second create of the slot: %v, want ErrExists", err)
	}
	if _, err := tb.CreateMeeting(ctx, directory.MeetingRecord{ID: meetingID(4, 1), HostAccount: "acme"}, 10); err == nil {
		t.Error("a per-host bound was accepted; the store does not keep one")
	}
	if _, err := tb.Meeting(ctx, meetingID(3, 2)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("another generation of the slot: %v, want ErrNotFound", err)
	}
	read, err := tb.Meeting(ctx, rec.ID)
	if err != nil || read != got {
		t.Fatalf("read = %+v, %v; want %+v", read, err, got)
	}
	if read.Created != rec.Created || read.Expires != rec.Expires || read.Mode != "e2ee" || read.Store != "s1" {
		t.Errorf("read %+v, want the record written, %+v", read, rec)
	}
	read.Home = "dc-1"
	upd, err := tb.UpdateMeeting(ctx, read)
	if err != nil || upd.Revision <= got.Revision || upd.Home != "dc-1" {
		t.Fatalf("update = %+v, %v", upd, err)
	}
	if _, err := tb.UpdateMeeting(ctx, read); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("update at an old revision: %v, want ErrConflict", err)
	}
	if err := tb.DeleteMeeting(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := tb.DeleteMeeting(ctx, rec.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := tb.CreateMeeting(ctx, directory.MeetingRecord{ID: meetingID(4, 1), HostAccount: "acme", Expires: now.Add(-time.Second)}, 0); err != nil {
		t.Errorf("create in another slot: %v", err)
	}
	tb.meeting(3).gen = 2
	if _, err := tb.CreateMeeting(ctx, directory.MeetingRecord{ID: meetingID(3, 2), HostAccount: "globex", Expires: now.Add(time.Hour)}, 0); err != nil {
		t.Errorf("reuse of a freed slot: %v", err)
	}
	if n, err := tb.ExpireMeetings(ctx, now); n != 1 || err != nil {
		t.Errorf("expire = %d, %v; want 1", n, err)
	}
	if _, err := tb.Meeting(ctx, meetingID(4, 1)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("expired meeting: %v, want ErrNotFound", err)
	}
	if _, err := tb.Meeting(ctx, meetingID(3, 2)); err != nil {
		t.Errorf("open meeting after the expiry: %v", err)
	}
}

// A slot is one cache line: what makes a join's meeting one miss.
func TestSlotIsACacheLine(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n != 64 {
		t.Errorf("a slot is %d bytes, want 64", n)
	}
	if n := unsafe.Sizeof(participant{}); n != 32 {
		t.Errorf("a participant is %d bytes, want 32", n)
	}
}
