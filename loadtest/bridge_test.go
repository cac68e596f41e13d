package loadtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/etcdtest"
	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/sfu"
)

// TestRunAcrossABridge: the meeting's home (us-sjc) takes one participant, so the directory
// places the publishers at us-den, whose media server bridges to the home: the subscriber at
// the home receives and decrypts both publishers' media across the bridge. The stack keeps
// its state on etcd, so that every key server hands out the same key (DESIGN.md section 9).
func TestRunAcrossABridge(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	cluster := etcdtest.Start(t, 1)
	leaktest.Check(t)
	st := startStackOf(t, homeOfOne(t), cluster.Endpoints())
	rep, err := Run(context.Background(), Config{
		Directory: st.URL, Dial: SFUDialer(sfu.Network{Loopback: true}, nil),
		Publishers: 2, Subscribers: 1,
		Video:    VideoConfig{Bitrate: 300_000, FPS: 15, KeyInterval: time.Second},
		Duration: time.Second, Warmup: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteText(&b)
	t.Logf("report:\n%s", b.String())
	if rep.Datacenters["us-sjc"] != 1 || rep.Datacenters["us-den"] != 2 {
		t.Fatalf("datacenters %v, want the subscriber at us-sjc and the publishers at us-den", rep.Datacenters)
	}
	if rep.TracksReceived != rep.TracksExpected || rep.TracksExpected != 4 {
		t.Errorf("got %d of %d tracks, want 4 of 4", rep.TracksReceived, rep.TracksExpected)
	}
	if rep.Video.Frames == 0 || rep.DecryptFailures != 0 {
		t.Errorf("got %d frames and %d decrypt failures, want frames and no failure", rep.Video.Frames, rep.DecryptFailures)
	}
	for epoch, byKMS := range rep.KeyServers {
		digests := map[string]bool{}
		for k := range byKMS {
			digests[k[strings.IndexByte(k, '/')+1:]] = true
		}
		if len(digests) != 1 {
			t.Errorf("epoch %d: %d different keys (%v), want one", epoch, len(digests), byKMS)
		}
	}
}
