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
