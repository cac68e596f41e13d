package devstack_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/devstack/devstacktest"

	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/wire"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TestMediaThroughTheStack: two participants join a meeting through the directory; one
// connects its media to the meeting's home, the other to another datacenter of its ticket,
// which bridges it to the home. Each receives the other's video, the agents count one
// session each, and the load reports carry the media.
func TestMediaThroughTheStack(t *testing.T) {
	leaktest.Check(t)
	st := devstacktest.Start(t, devstack.Config{})
	ctx := t.Context()
	waitReady(t, st.URL)
	var mt wire.Meeting
	if code := post(t, st.URL+"/v1/meetings", map[string]string{"host_account": "acme"}, &mt); code != http.StatusCreated {
		t.Fatalf("create meeting: %d", code)
	}
	join := func(who string) wire.JoinResponse {
		// The first joins wait for the agents' first load reports.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var tk wire.JoinResponse
			code := post(t, st.URL+"/v1/meetings/"+mt.ID+"/join", map[string]string{"account": "acme", "participant": who}, &tk)
			if code == http.StatusOK {
				return tk
			}
			if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("join %s: %d", who, code)
			}
		}
	}
	alice, bob := join("alice"), join("bob")
	var other wire.DC
	for _, dc := range append(bob.Primary, bob.Secondary...) {
		if dc.ID != bob.Home && dc.Endpoint != "" {
			other = dc
			break
		}
	}
	if other.ID == "" {
		t.Fatalf("bob's ticket lists no datacenter but the home %s: %+v", bob.Home, bob)
	}
	var got atomic.Int64
	dial := func(tk wire.JoinResponse, dc string, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver, wire.Track)) *sfuclient.Conn {
		t.Helper()
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		conn, err := sfuclient.Dial(dctx, sfuclient.Config{URL: st.AgentURLs[dc], Ticket: tk.Token, Network: sfu.Network{Loopback: true}, OnTrack: onTrack})
		if err != nil {
			t.Fatalf("media at %s: %v", dc, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	a := dial(alice, alice.Home, func(r *webrtc.TrackRemote, _ *webrtc.RTPReceiver, info wire.Track) {
		for {
			p, _, err := r.ReadRTP()
			if err != nil {
				return
			}
			if strings.HasPrefix(string(p.Payload), "bob:") {
				got.Add(1)
			}
		}
	})
	b := dial(bob, other.ID, nil)
	if !b.Joined().Bridged || a.Joined().Bridged {
		t.Errorf("alice bridged %v at %s, bob bridged %v at %s; want only bob", a.Joined().Bridged, alice.Home, b.Joined().Bridged, other.ID)
	}
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, video); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for n := uint16(0); got.Load() < 20; n++ {
		if time.Now().After(deadline) {
			t.Fatalf("alice received %d of bob's packets through the bridge %s -> %s", got.Load(), other.ID, alice.Home)
		}
		video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: n, Timestamp: uint32(n) * 3000}, Payload: []byte("bob:frame")})
		time.Sleep(20 * time.Millisecond)
	}
	if n := st.Agents[other.ID].Participants(); n != 1 {
		t.Errorf("%s holds %d sessions, want bob's one", other.ID, n)
	}
	if l := st.Media[other.ID].Load(); len(l.Bridges) != 1 || l.Bridges[0].Datacenter != alice.Home {
		t.Errorf("%s bridges = %+v, want one to %s", other.ID, l.Bridges, alice.Home)
	}
}
