package meetingui_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/crypto/mediaprofile"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/wire"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// goPeer is a Go participant: it joins through the directory with the client SDK, fetches the
// managed key from a key server, and connects its media with sfuclient, opening what it
// receives with crypto/mediaprofile.
type goPeer struct {
	conn *sfuclient.Conn
	key  mediaprofileKey
	recv *mediaprofile.Receiver

	mu       sync.Mutex
	vp8      [][]byte // opened VP8 frames, in order, from the first key frame on
	opus     [][]byte // opened Opus frames
	failures int
	lastErr  error
}

type mediaprofileKey = struct {
	epoch uint64
	send  *mediaprofile.Sender
}

func joinGo(t *testing.T, st *devstack.Stack, meeting, who, ip string) *goPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(client.Config{Directory: st.URL, ClientIP: ip})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := keywrap.GenerateKey(keywrap.X25519)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Join(ctx, meeting, "acme", who, priv.PublicKey().String())
	if err != nil {
		t.Fatalf("%s joins: %v", who, err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background(), res) })
	mk, err := c.FetchKey(ctx, res, priv)
	if err != nil {
		t.Fatalf("%s fetches the key: %v", who, err)
	}
	p := &goPeer{recv: mediaprofile.NewReceiver(mediaprofile.Config{})}
	if err := p.recv.AddEpoch(mk.Key); err != nil {
		t.Fatal(err)
	}
	if p.key.send, err = mediaprofile.NewSender(mk.Key, mediaprofile.Config{}); err != nil {
		t.Fatal(err)
	}
	p.key.epoch = mk.Key.Epoch()
	p.conn, err = sfuclient.Dial(ctx, sfuclient.Config{URL: res.Endpoint, Ticket: res.Token, Network: sfu.Network{Loopback: true}, OnTrack: p.onTrack})
	if err != nil {
		t.Fatalf("%s connects its media at %s: %v", who, res.Datacenter, err)
	}
	t.Cleanup(func() { p.conn.Close() })
	return p
}

// onTrack reads a track: Opus frames are one per packet, VP8 frames are reassembled from
// their packets (RFC 7741, Pion's sample builder, which waits for late and retransmitted
// packets), and every frame is opened with the meeting key. Until a VP8 key frame opened, it
// asks for one every second (PLI): one lost packet of the first key frame costs a second.
func (p *goPeer) onTrack(r *webrtc.TrackRemote, _ *webrtc.RTPReceiver, info wire.Track) {
	if r.Kind() != webrtc.RTPCodecTypeVideo {
		seen := map[uint16]bool{} // retransmissions (NACK, no RTX) repeat a sequence number
		for {
			pkt, _, err := r.ReadRTP()
			if err != nil {
				return
			}
			// An empty payload is RTP padding (bandwidth probing), no frame: the media worker
			// drops those too (dropped.empty).
			if len(pkt.Payload) > 0 && !seen[pkt.SequenceNumber] {
				seen[pkt.SequenceNumber] = true
				p.open(mediaprofile.CodecOpus, pkt.Payload)
			}
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if v, _, _, _ := p.counts(); v == 0 {
				p.conn.Subscriber().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(r.SSRC())}})
			}
		}
	}()
	sb := samplebuilder.New(512, &codecs.VP8Packet{}, 90000, samplebuilder.WithRTPHeaders(true))
	for {
		pkt, _, err := r.ReadRTP()
		if err != nil {
			return
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			// A sample released because it waited too long can miss packets: only whole
			// frames (consecutive packets, the last one marked) are the page's frames.
			if whole(s.RTPHeaders) {
				p.open(mediaprofile.CodecVP8, s.Data)
			}
		}
	}
}

func whole(hs []*rtp.Header) bool {
	if len(hs) == 0 || !hs[len(hs)-1].Marker {
		return false
	}
	for i := 1; i < len(hs); i++ {
		if hs[i].SequenceNumber != hs[i-1].SequenceNumber+1 {
			return false
		}
	}
	return true
}

func (p *goPeer) open(codec mediaprofile.Codec, sealed []byte) {
	pt, err := p.recv.Open(nil, codec, sealed)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failures++
		p.lastErr = fmt.Errorf("%v frame of %d bytes (% x...): %w", codec, len(sealed), sealed[:min(len(sealed), 8)], err)
		return
	}
	if codec == mediaprofile.CodecOpus {
		p.opus = append(p.opus, pt)
		return
	}
	if len(p.vp8) == 0 && !mediaprofile.IsKeyFrame(codec, pt) {
		return // wait for a key frame
	}
	p.vp8 = append(p.vp8, pt)
}

func (p *goPeer) counts() (vp8, opus, failures int, last error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.vp8), len(p.opus), p.failures, p.lastErr
}

// vp8KeyFrameSize reads the dimensions of a VP8 key frame (RFC 6386 section 9.1).
func vp8KeyFrameSize(f []byte) (w, h int, ok bool) {
	if len(f) < 10 || f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	return int(binary.LittleEndian.Uint16(f[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(f[8:]) & 0x3fff), true
}

// TestMeetingGoParticipant: a browser page and a Go participant in one meeting. The Go side
// opens the page's VP8 and Opus with crypto/mediaprofile (the JavaScript worker sealed them)
// and finds real VP8 key frames; then it publishes those frames back, sealed by Go, and the
// page's worker opens them and Chromium decodes them.
func TestMeetingGoParticipant(t *testing.T) {
	st := stack(t)
	id := createMeeting(t, st, "acme")
	b := browser(t)
	alice := page(t, b, pageURL(st.URL, id, "alice", ipGB, "home"))
	await(t, alice, "alice joins", 60*time.Second, func(r report) bool { return r.Phase == "joined" })

	gopher := joinGo(t, st, id, "gopher", ipGB)
	deadline := time.Now().Add(90 * time.Second)
	for {
		v, o, f, last := gopher.counts()
		if v >= 60 && o >= 50 {
			if f != 0 {
				t.Errorf("Go failed to open %d of the page's frames: %v", f, last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Go participant opened %d VP8 and %d Opus frames of the page's (%d failures), want 60 and 50", v, o, f)
		}
		time.Sleep(200 * time.Millisecond)
	}
	gopher.mu.Lock()
	frames := append([][]byte(nil), gopher.vp8[:60]...)
	sound := append([][]byte(nil), gopher.opus[:50]...)
	gopher.mu.Unlock()
	if w, h, ok := vp8KeyFrameSize(frames[0]); !ok || w != 320 || h != 240 {
		t.Errorf("the first opened VP8 frame is no 320x240 key frame: %dx%d %v (% x)", w, h, ok, frames[0][:10])
	}

	// Go publishes the page's frames back, sealed with Go's sender.
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "gopher")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "gopher")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	senders, err := gopher.conn.Publish(ctx, video, audio)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range senders {
		go func() {
			for {
				if _, _, err := s.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if n%2 == 0 { // VP8 at 25 frames a second, from the key frame again every 60
				sealed, err := gopher.key.send.Seal(nil, mediaprofile.CodecVP8, frames[(n/2)%len(frames)])
				if err == nil {
					video.WriteSample(media.Sample{Data: sealed, Duration: 40 * time.Millisecond})
				}
			}
			sealed, err := gopher.key.send.Seal(nil, mediaprofile.CodecOpus, sound[n%len(sound)])
			if err == nil {
				audio.WriteSample(media.Sample{Data: sealed, Duration: 20 * time.Millisecond})
			}
		}
	}()
	ref := gopher.conn.Joined().Participant.Ref
	r := await(t, alice, "alice decodes the Go participant", 90*time.Second, func(r report) bool {
		v, a := 0, 0
		for _, in := range r.Inbound {
			if in.Participant == ref && in.Kind == "video" {
				v += in.FramesDecoded
			}
			if in.Participant == ref && in.Kind == "audio" {
				a += in.TotalSamplesReceived
			}
		}
		return v >= 30 && a > 0
	})
	if n := r.failures(); n != 0 || len(r.WorkerErrors) > 0 {
		t.Errorf("alice: %d decrypt failures of Go's frames, worker errors %v: %+v", n, r.WorkerErrors, r.Workers)
	}
	if !r.loopbackPairs() {
		t.Errorf("alice: pairs %v, want 127.0.0.1 on both ends", r.Pairs)
	}
	for i, p := range gopher.conn.SelectedPairs() {
		if p == nil || p.Local.Address != "127.0.0.1" || p.Remote.Address != "127.0.0.1" {
			t.Errorf("the Go participant's PeerConnection %d: selected pair %v, want 127.0.0.1 on both ends", i, p)
		}
	}
}
