package sfu

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/wire"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// keyFrameInterval bounds how often the server asks a publisher for a key frame on one track
// (PLI relayed from subscribers, or its own requests): a burst of joining subscribers costs
// the publisher one key frame, not one each.
const keyFrameInterval = 500 * time.Millisecond

// packet is one RTP packet read from a publisher, shared by every subscriber's writer until
// the last one is done with it. Its header is never modified: each writer copies it.
type packet struct {
	buf  [1500]byte
	n    int
	rtp  rtp.Packet
	refs atomic.Int32
}

var packets = sync.Pool{New: func() any { return new(packet) }}

func (p *packet) release() {
	if p.refs.Add(-1) == 0 {
		p.rtp = rtp.Packet{}
		packets.Put(p)
	}
}

// upTrack is a track this server receives: from a participant's publisher PeerConnection, or
// from a bridge. It reads the track and fans each packet out to its downTracks.
type upTrack struct {
	info   wire.Track
	from   *publisher // who published it
	source *peer      // the connection it arrives on (a participant, or a bridge)
	remote *webrtc.TrackRemote
	pc     *webrtc.PeerConnection
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecParameters
	extURI map[uint8]string // the publisher side's header extension ids

	downs    atomic.Pointer[[]*downTrack] // copy on write
	downsMu  sync.Mutex
	lastPLI  atomic.Int64 // unix nanoseconds of the last key frame request
	metrics  *metrics
	onRecord func(payload []byte)
}

func (u *upTrack) addDown(d *downTrack) {
	u.downsMu.Lock()
	defer u.downsMu.Unlock()
	old := u.loadDowns()
	next := make([]*downTrack, 0, len(old)+1)
	next = append(append(next, old...), d)
	u.downs.Store(&next)
}

func (u *upTrack) removeDown(d *downTrack) {
	u.downsMu.Lock()
	defer u.downsMu.Unlock()
	old := u.loadDowns()
	next := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	u.downs.Store(&next)
}

func (u *upTrack) loadDowns() []*downTrack {
	if p := u.downs.Load(); p != nil {
		return *p
	}
	return nil
}

// run forwards the track until it ends (the publisher removed it or its PeerConnection
// closed).
func (u *upTrack) run() {
	for {
		p := packets.Get().(*packet)
		n, _, err := u.remote.Read(p.buf[:])
		if err != nil {
			packets.Put(p)
			if !errors.Is(err, io.EOF) {
				u.metrics.readErrors.Inc()
			}
			return
		}
		if err := p.rtp.Unmarshal(p.buf[:n]); err != nil {
			packets.Put(p)
			u.metrics.malformed.Inc()
			continue
		}
		p.n = n
		u.metrics.bytesIn.Add(int64(n))
		if u.onRecord != nil {
			u.onRecord(p.rtp.Payload)
		}
		downs := u.loadDowns()
		p.refs.Store(int32(len(downs)) + 1)
		for _, d := range downs {
			d.enqueue(p)
		}
		p.release()
	}
}

// requestKeyFrame asks the publisher for a key frame (PLI, RFC 4585 section 6.3.1), at most
// once per keyFrameInterval. It reports whether a request was sent.
func (u *upTrack) requestKeyFrame() bool {
	if u.kind != webrtc.RTPCodecTypeVideo {
		return false
	}
	now := time.Now().UnixNano()
	last := u.lastPLI.Load()
	if now-last < int64(keyFrameInterval) || !u.lastPLI.CompareAndSwap(last, now) {
		u.metrics.keyFrames.WithLabelValues("limited").Inc()
		return false
	}
	err := u.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(u.remote.SSRC())}})
	if err != nil {
		u.metrics.keyFrames.WithLabelValues("error").Inc()
		return false
	}
	u.metrics.keyFrames.WithLabelValues("sent").Inc()
	return true
}

// downTrack is one upTrack as sent to one subscriber (a participant or a bridge): a
// webrtc.TrackLocal bound to the subscriber's PeerConnection. It rewrites what is per hop
// (SSRC, payload type, header extension ids) and nothing else: the payload is the
// publisher's, byte for byte.
type downTrack struct {
	up     *upTrack
	to     *peer // the subscriber
	w      *writer
	sender *webrtc.RTPSender

	// binding is what Bind negotiated, nil while unbound: read once per packet by the
	// writer, without a lock.
	binding atomic.Pointer[binding]
}

// binding is a downTrack's negotiated hop: its SSRC, payload type, write stream and the
// header extensions it forwards.
type binding struct {
	ssrc   webrtc.SSRC
	pt     uint8
	out    webrtc.TrackLocalWriter
	extIDs []extMap
}

var _ webrtc.TrackLocal = (*downTrack)(nil)

func (d *downTrack) ID() string       { return d.up.info.ID }
func (d *downTrack) RID() string      { return "" }
func (d *downTrack) StreamID() string { return d.up.info.Stream }
func (d *downTrack) Kind() webrtc.RTPCodecType {
	return d.up.kind
}

// Bind is called by Pion once the subscriber's PeerConnection has negotiated the track.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var codec *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, d.up.codec.MimeType) {
			codec = &c
			break
		}
	}
	if codec == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	var ext []extMap
	for _, e := range ctx.HeaderExtensions() {
		if !forwarded(d.up.kind, e.URI) {
			continue
		}
		for from, uri := range d.up.extURI {
			if uri == e.URI {
				ext = append(ext, extMap{from, uint8(e.ID)})
			}
		}
	}
	d.binding.Store(&binding{ssrc: ctx.SSRC(), pt: uint8(codec.PayloadType), out: ctx.WriteStream(), extIDs: ext})
	// A subscriber starts on a key frame (DESIGN.md section 8).
	d.up.requestKeyFrame()
	return *codec, nil
}

// Unbind is called by Pion when the track stops being sent.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.binding.Store(nil)
	return nil
}

func (d *downTrack) enqueue(p *packet) {
	select {
	case d.w.queue <- item{d, p}:
	default:
		// A slow subscriber drops its own packets, and no one else's (DESIGN.md section 8).
		d.w.dropped.Add(1)
		d.up.metrics.dropped.Inc()
		p.release()
	}
}

// write sends p to the subscriber with this hop's SSRC, payload type and extension ids; exts
// is the writer's scratch space for the header extensions.
func (d *downTrack) write(p *packet, exts []rtp.Extension) error {
	b := d.binding.Load()
	if b == nil {
		return nil
	}
	ssrc, pt, out, ids := b.ssrc, b.pt, b.out, b.extIDs
	h := p.rtp.Header // a copy; its Extensions are replaced below, never written through
	h.SSRC, h.PayloadType = uint32(ssrc), pt
	h.Extensions = exts[:0]
	if h.Extension {
		h.Extension = false
		profile := h.ExtensionProfile
		for _, m := range ids {
			if v := p.rtp.Header.GetExtension(m.from); v != nil {
				_ = h.SetExtensionWithProfile(m.to, v, profile)
			}
		}
		if !h.Extension {
			h.ExtensionProfile = 0
		}
	}
	n, err := out.WriteRTP(&h, p.rtp.Payload)
	d.up.metrics.bytesOut.Add(int64(n))
	return err
}

// extMap is one forwarded header extension: its id on the publisher's side and on the
// subscriber's.
type extMap struct{ from, to uint8 }

// item is a packet queued for one downTrack.
type item struct {
	d *downTrack
	p *packet
}

// writerQueue is the number of packets a subscriber may have queued: about a second of a
// 2.5 Mbit/s video track and its audio.
const writerQueue = 512

// writer is the one goroutine that writes to one subscriber. Its queue is never closed:
// publishers' goroutines may still hold a downTrack of a subscriber that left, and their
// sends must not panic.
type writer struct {
	queue   chan item
	dropped atomic.Int64
	quit    chan struct{}
	done    chan struct{}
}

func newWriter() *writer {
	w := &writer{queue: make(chan item, writerQueue), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *writer) run() {
	defer close(w.done)
	exts := make([]rtp.Extension, 0, 8)
	for {
		select {
		case <-w.quit:
			for {
				select {
				case it := <-w.queue:
					it.p.release()
				default:
					return
				}
			}
		case it := <-w.queue:
			if err := it.d.write(it.p, exts); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				it.d.up.metrics.writeErrors.Inc()
			}
			it.p.release()
		}
	}
}

// stop ends the writer and releases what it had queued.
func (w *writer) stop() {
	close(w.quit)
	<-w.done
}

// forwarded says whether the header extension uri of a kind of track is end to end.
func forwarded(kind webrtc.RTPCodecType, uri string) bool {
	for _, u := range forwardedExtensions[kind] {
		if u == uri {
			return true
		}
	}
	return false
}
