package loadtest

import (
	"context"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/wire"
)

// TestRunE2EEMeeting: in an end-to-end encrypted meeting no key server is asked; the first
// participant leads, the others get its key in envelopes relayed by the media servers, and
// every frame decrypts under that one key.
func TestRunE2EEMeeting(t *testing.T) {
	leaktest.Check(t)
	st := startStack(t)
	rep, err := Run(context.Background(), Config{
		Directory: st.URL, Dial: SFUDialer(sfu.Network{Loopback: true}, nil), Mode: wire.ModeE2EE,
		Publishers: 2, Subscribers: 2, Audio: true,
		Video:    VideoConfig{Bitrate: 200_000, FPS: 15, KeyInterval: time.Second},
		Duration: time.Second, Warmup: 300 * time.Millisecond,
		From: []string{"8.8.8.8"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TracksExpected != 12 || rep.TracksReceived != 12 {
		t.Errorf("got %d of %d tracks, want 12 of 12", rep.TracksReceived, rep.TracksExpected)
	}
	if rep.Video.Frames == 0 || rep.Audio == nil || rep.Audio.Frames == 0 || rep.DecryptFailures != 0 {
		t.Errorf("frames: video %d, audio %+v, decrypt failures %d; want frames and no failures", rep.Video.Frames, rep.Audio, rep.DecryptFailures)
	}
	// One key for everyone, from the leader.
	if len(rep.KeyServers) != 1 || len(rep.KeyServers[1]) != 1 {
		t.Errorf("keys = %v, want one digest at epoch 1", rep.KeyServers)
	}
	for k, n := range rep.KeyServers[1] {
		if n != 4 || k[:len("leader/")] != "leader/" {
			t.Errorf("key %s held by %d participants, want the leader's by all 4", k, n)
		}
	}
	if rep.Setup[PhaseKey].Count != 4 {
		t.Errorf("phase key: %d participants, want 4", rep.Setup[PhaseKey].Count)
	}
	if rep.KeyRotations != 0 {
		t.Errorf("%d key rotations, want none (nobody left)", rep.KeyRotations)
	}
}

// TestRunE2EEAcrossABridge: as TestRunAcrossABridge, the subscriber at the home (us-sjc,
// capacity 1) and the publishers at us-den, bridged to it, now in an e2ee meeting: the
// subscriber, first in, leads, and its envelopes cross the bridge to the publishers, whose
// media it decrypts under its own key. No key server, so no shared store is needed.
func TestRunE2EEAcrossABridge(t *testing.T) {
	leaktest.Check(t)
	st := startStackOf(t, homeOfOne(t), nil)
	rep, err := Run(context.Background(), Config{
		Directory: st.URL, Dial: SFUDialer(sfu.Network{Loopback: true}, nil), Mode: wire.ModeE2EE,
		Publishers: 2, Subscribers: 1,
		Video:    VideoConfig{Bitrate: 300_000, FPS: 15, KeyInterval: time.Second},
		Duration: time.Second, Warmup: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Datacenters["us-sjc"] != 1 || rep.Datacenters["us-den"] != 2 {
		t.Fatalf("datacenters %v, want the subscriber at us-sjc and the publishers at us-den", rep.Datacenters)
	}
	if rep.TracksReceived != rep.TracksExpected || rep.TracksExpected != 4 || rep.Video.Frames == 0 || rep.DecryptFailures != 0 {
		t.Errorf("got %d of %d tracks, %d frames, %d decrypt failures; want 4 of 4, frames, no failure",
			rep.TracksReceived, rep.TracksExpected, rep.Video.Frames, rep.DecryptFailures)
	}
	if len(rep.KeyServers) != 1 || len(rep.KeyServers[1]) != 1 {
		t.Errorf("keys = %v, want the leader's one key at epoch 1", rep.KeyServers)
	}
}
