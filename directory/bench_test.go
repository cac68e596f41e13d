package directory_test

import (
	"context"
	"testing"

	"github.com/geofence/geofence/directory"
)

// BenchmarkCoreJoin is one join through the core, in process: accounts, the meeting's record,
// live state, selection, the home, the placement and the ticket's claims; no HTTP, no signing.
func BenchmarkCoreJoin(b *testing.B) {
	ctx := context.Background()
	c, _ := newCore(b, loadModel(b, world(b)), nil)
	reportAll(b, c, 0, true)
	rec, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "initech"})
	if err != nil {
		b.Fatal(err)
	}
	req := directory.JoinRequest{Meeting: rec.ID, Account: "acme", Participant: "p1", Where: where("US")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Join(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
