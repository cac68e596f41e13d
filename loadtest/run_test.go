package loadtest

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/devstack/devstacktest"

	"github.com/geofence/geofence/examples"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/internal/leaktest"
)

// startStack runs the whole system of the example world in process on loopback (directory,
// agents, key servers).
func startStack(t *testing.T) *devstack.Stack { return startStackOf(t, examples.World, nil) }

// startStackOf runs the whole system of the config world in process on loopback, keeping its
// state on the etcd cluster at etcd when there is one, and stops it when the test ends.
func startStackOf(t *testing.T, world []byte, etcd []string) *devstack.Stack {
	t.Helper()
	m := devstacktest.Model(t, world)
	st := devstacktest.Start(t, devstack.Config{Model: m, Etcd: etcd})
	// Every DC up at once, rather than at its agent's first report.
	for _, dc := range m.DCs {
		st.Core.ReportLoad(dc.ID, 0, true)
	}
	return st
}

// homeOfOne is the example world with us-sjc's capacity one participant: a meeting's second
// participant there goes to another DC, which bridges to the home.
func homeOfOne(t *testing.T) []byte {
	t.Helper()
	world := regexp.MustCompile(`(?m)(^  us-sjc:\n(?:    .*\n)*?    capacity: )\d+`).ReplaceAll(examples.World, []byte("${1}1"))
	if string(world) == string(examples.World) {
		t.Fatal("the example world's us-sjc has no capacity line to edit")
	}
	return world
}

// TestRunAgainstFakeSFU: publishers and subscribers join through a real directory and key
// servers, and their media crosses real PeerConnections on 127.0.0.1 through a payload-blind
// forwarder: every track arrives, every frame decrypts, and the report adds up.
func TestRunAgainstFakeSFU(t *testing.T) {
	leaktest.Check(t)
	st := startStack(t)
	sfu := newFakeSFU(t)
	rep, err := Run(context.Background(), Config{
		Directory: st.URL, Dial: sfu.Dial,
		Publishers: 2, Subscribers: 2, Audio: true,
		Video:    VideoConfig{Bitrate: 300_000, FPS: 15, KeyInterval: time.Second},
		Duration: 1500 * time.Millisecond, Warmup: 300 * time.Millisecond,
		From:   []string{"8.8.8.8"},
		Logger: slog.New(slog.NewTextHandler(&tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each subscriber gets both publishers' two tracks, each publisher the other's.
	if rep.TracksExpected != 12 || rep.TracksReceived != 12 {
		t.Errorf("got %d of %d tracks, want 12 of 12", rep.TracksReceived, rep.TracksExpected)
	}
	if rep.Video.Tracks != 6 || rep.Audio == nil || rep.Audio.Tracks != 6 {
		t.Errorf("got %d video and %v audio tracks recorded, want 6 and 6", rep.Video.Tracks, rep.Audio)
	}
	if rep.Video.Frames == 0 || rep.Audio.Frames == 0 || rep.Latency.Count != rep.Video.Frames+rep.Audio.Frames {
		t.Errorf("frames: video %d audio %d, latencies %d", rep.Video.Frames, rep.Audio.Frames, rep.Latency.Count)
	}
	if rep.DecryptFailures != 0 {
		t.Errorf("got %d decrypt failures, want 0", rep.DecryptFailures)
	}
	if rep.PacketBytes == 0 || rep.ForwardedMbps <= 0 {
		t.Errorf("got %d bytes, %.3f Mbit/s forwarded", rep.PacketBytes, rep.ForwardedMbps)
	}
	n := 0
	for _, c := range rep.Datacenters {
		n += c
	}
	if n != 4 {
		t.Errorf("datacenters %v: %d participants, want 4", rep.Datacenters, n)
	}
	for _, ph := range []string{PhaseJoin, PhaseKey, PhaseSignalling, PhaseICE, PhaseDTLS} {
		if rep.Setup[ph].Count != 4 {
			t.Errorf("phase %s: %d participants, want 4", ph, rep.Setup[ph].Count)
		}
	}
	if rep.Setup[PhaseFirstFrame].Count != 4 {
		t.Errorf("first frame: %d participants, want 4", rep.Setup[PhaseFirstFrame].Count)
	}
	sfu.mu.Lock()
	pairs := sfu.pairs
	sfu.mu.Unlock()
	if len(pairs) == 0 {
		t.Error("no selected candidate pair seen")
	}
	for _, p := range pairs {
		if p != "127.0.0.1 127.0.0.1" {
			t.Errorf("selected candidate pair %q, want 127.0.0.1 on both sides", p)
		}
	}
	if len(rep.CandidatePairs) != 1 || rep.CandidatePairs["127.0.0.1 -> 127.0.0.1"] == 0 {
		t.Errorf("reported candidate pairs %v, want 127.0.0.1 -> 127.0.0.1 only", rep.CandidatePairs)
	}
	var b strings.Builder
	rep.WriteText(&b)
	for _, want := range []string{"2 publishers, 2 subscribers", "tracks: 12 of 12 arrived", "video", "audio"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRunConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"no directory", Config{Dial: newFakeSFU(t).Dial, Publishers: 1}},
		{"no dialer", Config{Directory: "http://127.0.0.1:1", Publishers: 1}},
		{"no publisher", Config{Directory: "http://127.0.0.1:1", Dial: newFakeSFU(t).Dial}},
		{"negative subscribers", Config{Directory: "http://127.0.0.1:1", Dial: newFakeSFU(t).Dial, Publishers: 1, Subscribers: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.cfg); err == nil {
				t.Error("got no error")
			}
		})
	}
}

// TestRunRefused: a meeting the directory does not know is a setup failure naming it.
func TestRunRefused(t *testing.T) {
	leaktest.Check(t)
	st := startStack(t)
	rep, err := Run(context.Background(), Config{Directory: st.URL, Dial: newFakeSFU(t).Dial, Meeting: "m-none", Publishers: 1, Subscribers: 1,
		SetupTimeout: 5 * time.Second})
	if !errors.Is(err, ErrSetup) || rep == nil || len(rep.SetupErrors) != 2 {
		t.Fatalf("got %v, %+v; want ErrSetup with 2 setup errors", err, rep)
	}
}

type tlog struct{ t testing.TB }

func (w *tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// TestRunWithheld: a track the media server withholds is reported with its rule, and the
// run does not wait for it.
func TestRunWithheld(t *testing.T) {
	leaktest.Check(t)
	st := startStack(t)
	sfu := newFakeSFU(t)
	sfu.withholdAudio = true
	rep, err := Run(context.Background(), Config{
		Directory: st.URL, Dial: sfu.Dial, Publishers: 1, Subscribers: 1, Audio: true,
		Video:    VideoConfig{Bitrate: 200_000, FPS: 10},
		Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond, SetupTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TracksExpected != 2 || rep.TracksReceived != 1 || len(rep.Withheld) != 1 {
		t.Fatalf("got %d of %d tracks and %d withheld, want 1 of 2 and 1", rep.TracksReceived, rep.TracksExpected, len(rep.Withheld))
	}
	if w := rep.Withheld[0]; w.Track.Kind != "audio" || w.Rule != "residency.test" || w.Code != "residency_conflict" {
		t.Errorf("withheld %+v", w)
	}
	var b strings.Builder
	rep.WriteText(&b)
	if !strings.Contains(b.String(), "withheld: track") || !strings.Contains(b.String(), "residency.test") {
		t.Errorf("summary does not name the withheld track and its rule:\n%s", b.String())
	}
}
