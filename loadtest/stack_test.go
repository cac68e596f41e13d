package loadtest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/sfu"
)

// TestRunAgainstStack is the load test against the whole system in process: the directory,
// the key servers and the media servers of internal/devstack, WebRTC on 127.0.0.1 only.
func TestRunAgainstStack(t *testing.T) {
	leaktest.Check(t)
	st := startStack(t)
	rep, err := Run(context.Background(), Config{
		Directory: st.URL, Dial: SFUDialer(sfu.Network{Loopback: true}, nil),
		Publishers: 2, Subscribers: 2, Audio: true,
		Video:    VideoConfig{Bitrate: 300_000, FPS: 15, KeyInterval: time.Second},
		Duration: 1500 * time.Millisecond, Warmup: 300 * time.Millisecond,
		From: []string{"8.8.8.8"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteText(&b)
	t.Logf("report:\n%s", b.String())
	if rep.TracksExpected != 12 || rep.TracksReceived != 12 {
		t.Errorf("got %d of %d tracks, want 12 of 12", rep.TracksReceived, rep.TracksExpected)
	}
	if rep.Video.Frames == 0 || rep.Audio == nil || rep.Audio.Frames == 0 {
		t.Errorf("frames: video %d, audio %+v", rep.Video.Frames, rep.Audio)
	}
	if rep.DecryptFailures != 0 {
		t.Errorf("got %d decrypt failures, want 0", rep.DecryptFailures)
	}
	// Every phase for everyone: subscribers time their subscriber PeerConnection.
	for _, ph := range []string{PhaseJoin, PhaseKey, PhaseSignalling, PhaseICE, PhaseDTLS, PhaseFirstFrame} {
		if rep.Setup[ph].Count != 4 {
			t.Errorf("phase %s: %d participants, want 4", ph, rep.Setup[ph].Count)
		}
	}
	if len(rep.CandidatePairs) == 0 {
		t.Error("no selected candidate pair")
	}
	for p := range rep.CandidatePairs {
		if !strings.HasPrefix(p, "127.0.0.1 -> 127.0.0.1") {
			t.Errorf("selected candidate pair %q, want 127.0.0.1 on both sides", p)
		}
	}
}

// TestRunWithJoinTokens: participants join with join tokens minted by the account's backend
// (the path a production directory requires), the meeting is created with a host token.
func TestRunWithJoinTokens(t *testing.T) {
	leaktest.Check(t)
	st := startStack(t)
	var hosts, joins atomic.Int32
	rep, err := Run(context.Background(), Config{
		Directory: st.URL, Dial: SFUDialer(sfu.Network{Loopback: true}, nil),
		Account:    st.DevAccount,
		Publishers: 1, Subscribers: 1,
		Video:    VideoConfig{Bitrate: 200_000, FPS: 10},
		Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond,
		Token: func(participant string, host bool) (string, error) {
			if host {
				hosts.Add(1)
			} else {
				joins.Add(1)
			}
			return st.Token(participant, "", host, time.Hour)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if hosts.Load() != 1 || joins.Load() != 2 {
		t.Errorf("minted %d host and %d join tokens, want 1 and 2", hosts.Load(), joins.Load())
	}
	if rep.TracksReceived != 1 || rep.Video.Frames == 0 || rep.DecryptFailures != 0 {
		t.Errorf("got %d tracks, %d frames, %d decrypt failures", rep.TracksReceived, rep.Video.Frames, rep.DecryptFailures)
	}
}
