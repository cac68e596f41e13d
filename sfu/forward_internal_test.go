package sfu

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geofence/geofence/wire"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeOut is a subscriber's write stream: it counts packets, and blocks while gate is held.
type fakeOut struct {
	gate     sync.Mutex
	n        atomic.Int64
	lastExt  atomic.Value // []byte of extension id 5
	lastSSRC atomic.Uint32
}

func (f *fakeOut) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	f.gate.Lock()
	defer f.gate.Unlock()
	f.n.Add(1)
	f.lastSSRC.Store(h.SSRC)
	if v := h.GetExtension(5); v != nil {
		f.lastExt.Store(append([]byte(nil), v...))
	}
	return h.MarshalSize() + len(payload), nil
}

func (f *fakeOut) Write(b []byte) (int, error) { return len(b), nil }

var _ webrtc.TrackLocalWriter = (*fakeOut)(nil)

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

func newTestUp(t testing.TB) *upTrack {
	t.Helper()
	m, err := newMetrics(nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &upTrack{info: wire.Track{ID: "t1", Kind: "audio"}, kind: webrtc.RTPCodecTypeAudio, metrics: m,
		extURI: map[uint8]string{3: forwardedExtensions[webrtc.RTPCodecTypeAudio][0], 4: "urn:ietf:params:rtp-hdrext:sdes:mid"}}
}

func bind(up *upTrack, out *fakeOut, ssrc uint32) *downTrack {
	d := &downTrack{up: up, w: newWriter()}
	// The audio level, renumbered; MID is hop by hop.
	d.binding.Store(&binding{ssrc: webrtc.SSRC(ssrc), pt: 111, out: out, extIDs: []extMap{{from: 3, to: 5}}})
	up.addDown(d)
	return d
}

func fanOut(up *upTrack, n int) {
	for i := range n {
		p := packets.Get().(*packet)
		p.rtp = rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), SSRC: 1234, PayloadType: 100}, Payload: []byte("payload")}
		_ = p.rtp.Header.SetExtension(3, []byte{0x85})
		_ = p.rtp.Header.SetExtension(4, []byte("0"))
		downs := up.loadDowns()
		p.refs.Store(int32(len(downs)) + 1)
		for _, d := range downs {
			d.enqueue(p)
		}
		p.release()
	}
}

// A subscriber that does not keep up loses its own packets, counted; the other subscriber of
// the same track loses none.
func TestSlowSubscriberDropsOnlyItsOwnPackets(t *testing.T) {
	up := newTestUp(t)
	fast, slow := &fakeOut{}, &fakeOut{}
	df, ds := bind(up, fast, 1), bind(up, slow, 2)
	slow.gate.Lock()
	// In batches the fast subscriber's queue holds, each written before the next: it keeps
	// up by construction; the slow one, blocked, does not.
	const batch, n = writerQueue / 2, 10 * writerQueue / 2
	for sent := batch; sent <= n; sent += batch {
		fanOut(up, batch)
		waitFor(t, func() bool { return fast.n.Load() == int64(sent) })
	}
	df.w.stop()
	slow.gate.Unlock()
	ds.w.stop()
	if got := fast.n.Load(); got != n {
		t.Errorf("the fast subscriber got %d packets, want all %d", got, n)
	}
	dropped := ds.w.dropped.Load()
	if dropped == 0 || slow.n.Load()+dropped > n {
		t.Errorf("the slow subscriber got %d and dropped %d of %d, want drops, and no more than were sent", slow.n.Load(), dropped, n)
	}
	if df.w.dropped.Load() != 0 {
		t.Errorf("the fast subscriber dropped %d", df.w.dropped.Load())
	}
	if got := testutil.ToFloat64(up.metrics.dropped); got != float64(dropped) {
		t.Errorf("geofence_sfu_packets_dropped_total = %v, want %d", got, dropped)
	}
}

// What is per hop is rewritten, what is end to end is kept: the SSRC is the subscriber's, the
// audio level extension is kept under the subscriber's id, MID is dropped.
func TestForwardRewritesOnlyPerHopFields(t *testing.T) {
	up := newTestUp(t)
	out := &fakeOut{}
	d := bind(up, out, 77)
	fanOut(up, 10)
	waitFor(t, func() bool { return out.n.Load() == 10 })
	d.w.stop()
	if got := out.lastSSRC.Load(); got != 77 {
		t.Errorf("SSRC = %d, want the subscriber's 77", got)
	}
	if v, _ := out.lastExt.Load().([]byte); len(v) != 1 || v[0] != 0x85 {
		t.Errorf("audio level under id 5 = %x, want 85", v)
	}
}
