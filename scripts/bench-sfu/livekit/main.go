// Command livekit-load is the load driver of scripts/bench-sfu.sh for LiveKit: it drives a
// livekit-server with the same synthetic load `geofence loadtest` puts on a Geofence media
// server, so that the two servers' CPU per forwarded Mbit/s can be compared in one run
// (docs/benchmarks.md, "Media server").
//
// N publishers each publish one VP8 video track (simulcast off) and, with --audio, one Opus
// track; M subscribers subscribe to every track, and every publisher to every other
// publisher's, as in a meeting. Frames have the layout of `geofence
// loadtest`'s (a VP8 frame header whose key-frame bit is right, key frames every
// --key-interval, then a magic, a sequence number and the send time), without the SFrame
// encryption, which costs the clients and not the server. Subscribers count RTP packets and
// their sequence gaps (loss) and read each frame's send time (one-way latency on one clock).
//
// It is its own Go module so that LiveKit's dependencies never enter Geofence's go.mod.
//
// Progress goes to stderr: "measure start" when every participant is set up and the warm-up
// is over, "measure end" when the measured window closes; scripts/bench-sfu.sh samples the
// server's CPU time at those two lines. The result is one JSON object on stdout.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// magic marks a synthetic frame's trailer: the same bytes `geofence loadtest` writes.
var magic = [4]byte{'G', 'F', 'L', 'T'}

type config struct {
	url, key, secret, room     string
	publishers, subscribers    int
	bitrate, audioBitrate, fps int
	keyInterval, warmup, dur   time.Duration
	audio                      bool
}

type result struct {
	Server            string  `json:"server"`
	Publishers        int     `json:"publishers"`
	Subscribers       int     `json:"subscribers"`
	TracksSubscribed  int64   `json:"tracks_subscribed"`
	DurationS         float64 `json:"duration_s"`
	PacketsReceived   int64   `json:"packets_received"`
	PacketsLost       int64   `json:"packets_lost"`
	Loss              float64 `json:"loss"`
	BytesReceived     int64   `json:"bytes_received"`
	ForwardedMbps     float64 `json:"forwarded_mbps"`
	FramesReceived    int64   `json:"frames_received"`
	LatencyP50MS      float64 `json:"latency_p50_ms"`
	LatencyP95MS      float64 `json:"latency_p95_ms"`
	LatencyP99MS      float64 `json:"latency_p99_ms"`
	SetupP50MS        float64 `json:"setup_p50_ms"`
	SetupMaxMS        float64 `json:"setup_max_ms"`
	FirstFrameP50MS   float64 `json:"first_frame_p50_ms"`
	SubscribeFailures int64   `json:"subscribe_failures"`
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "ws://127.0.0.1:7880", "the LiveKit server's URL")
	flag.StringVar(&c.key, "api-key", "devkey", "API key")
	flag.StringVar(&c.secret, "api-secret", "", "API secret (required)")
	flag.StringVar(&c.room, "room", "bench", "room name")
	flag.IntVar(&c.publishers, "publishers", 1, "publishers")
	flag.IntVar(&c.subscribers, "subscribers", 1, "subscribers")
	flag.IntVar(&c.bitrate, "bitrate", 1_000_000, "video bits per second per publisher")
	flag.IntVar(&c.audioBitrate, "audio-bitrate", 32_000, "audio bits per second per publisher (with --audio)")
	flag.IntVar(&c.fps, "fps", 30, "video frames per second")
	flag.DurationVar(&c.keyInterval, "key-interval", 2*time.Second, "time between key frames")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "time between the last subscription and the measured window")
	flag.DurationVar(&c.dur, "duration", 30*time.Second, "measured window")
	flag.BoolVar(&c.audio, "audio", false, "publish an Opus track beside the video")
	flag.Parse()
	if c.secret == "" || c.publishers < 1 || c.subscribers < 0 || c.bitrate < 8*64*c.fps || c.fps < 1 || c.dur <= 0 {
		fmt.Fprintln(os.Stderr, "livekit-load: --api-secret is required; --publishers >= 1, --fps >= 1, --duration > 0, --bitrate at least 64 bytes a frame")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "livekit-load: %v\n", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(res)
}

// trackStats counts one subscribed track's packets.
type trackStats struct {
	mu       sync.Mutex
	started  bool
	first    uint64
	highest  uint64 // extended sequence number
	received int64
	bytes    int64
	frames   int64
	lat      []time.Duration
}

func (t *trackStats) packet(p *rtp.Packet, size int, measuring bool, lat time.Duration, frame bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !measuring {
		t.started = false
		return
	}
	ext := uint64(p.SequenceNumber)
	if t.started {
		// Extend the 16-bit sequence number around the highest seen (RFC 3550 appendix A.1).
		cycle := t.highest &^ 0xffff
		cand := cycle | ext
		switch {
		case cand+0x8000 < t.highest:
			cand += 1 << 16
		case cand > t.highest+0x8000 && cand >= 1<<16:
			cand -= 1 << 16
		}
		ext = cand
		if ext > t.highest {
			t.highest = ext
		}
	} else {
		t.started, t.highest = true, ext
		t.first = ext
	}
	t.received++
	t.bytes += int64(size)
	if frame {
		t.frames++
		t.lat = append(t.lat, lat)
	}
}

func run(ctx context.Context, c config) (*result, error) {
	var (
		measuring atomic.Bool
		mu        sync.Mutex
		tracks    []*trackStats
		setups    []time.Duration
		firsts    []time.Duration
		subFails  atomic.Int64
		subWG     sync.WaitGroup
	)
	// Publishers receive each other's tracks too, as in a meeting (and as the Geofence media
	// server forwards them).
	want := c.publishers * (c.subscribers + c.publishers - 1)
	if c.audio {
		want *= 2
	}
	subWG.Add(want)
	var subscribed atomic.Int64

	var rooms []*lksdk.Room
	defer func() {
		for _, r := range rooms {
			r.Disconnect()
		}
	}()

	// newCallback is a participant's: it records every track it is subscribed to.
	newCallback := func(began time.Time) *lksdk.RoomCallback {
		var once sync.Once
		cb := lksdk.NewRoomCallback()
		cb.OnTrackSubscribed = func(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
			ts := &trackStats{}
			mu.Lock()
			tracks = append(tracks, ts)
			mu.Unlock()
			if subscribed.Add(1) <= int64(want) {
				subWG.Done()
			}
			video := track.Kind() == webrtc.RTPCodecTypeVideo
			go func() {
				buf := make([]byte, 1500)
				var vp8 codecs.VP8Packet
				var frameSent time.Time
				var frameTS uint32
				var haveFrame bool
				for {
					n, _, err := track.Read(buf)
					if err != nil {
						return
					}
					var p rtp.Packet
					if p.Unmarshal(buf[:n]) != nil {
						continue
					}
					now := time.Now()
					payload := p.Payload
					head := true
					if video {
						if _, err := vp8.Unmarshal(p.Payload); err != nil {
							continue
						}
						head = vp8.S == 1 && vp8.PID == 0
						payload = vp8.Payload
					}
					if head {
						frameSent, frameTS, haveFrame = sendTime(payload, video)
						frameTS = p.Timestamp
					}
					// A frame's latency is at its last packet (the marker bit, RFC 7741
					// section 4.1), as `geofence loadtest` measures it; audio frames are one
					// packet.
					isFrame := haveFrame && p.Timestamp == frameTS && (!video || p.Marker)
					var lat time.Duration
					if isFrame {
						haveFrame = false
						lat = now.Sub(frameSent)
						once.Do(func() {
							mu.Lock()
							firsts = append(firsts, now.Sub(began))
							mu.Unlock()
						})
					}
					ts.packet(&p, n, measuring.Load(), lat, isFrame)
				}
			}()
		}
		cb.OnTrackSubscriptionFailed = func(string, *lksdk.RemoteParticipant) { subFails.Add(1) }
		return cb
	}

	// Subscribers first, so that every publication reaches all of them.
	for i := range c.subscribers {
		began := time.Now()
		r, err := lksdk.ConnectToRoom(c.url, lksdk.ConnectInfo{
			APIKey: c.key, APISecret: c.secret, RoomName: c.room, ParticipantIdentity: fmt.Sprintf("sub-%d", i),
		}, newCallback(began), lksdk.WithAutoSubscribe(true), lksdk.WithDisableRegionDiscovery())
		if err != nil {
			return nil, fmt.Errorf("subscriber %d: connect: %w", i, err)
		}
		rooms = append(rooms, r)
		setups = append(setups, time.Since(began))
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pubWG sync.WaitGroup
	defer pubWG.Wait()
	defer cancel()
	for i := range c.publishers {
		began := time.Now()
		r, err := lksdk.ConnectToRoom(c.url, lksdk.ConnectInfo{
			APIKey: c.key, APISecret: c.secret, RoomName: c.room, ParticipantIdentity: fmt.Sprintf("pub-%d", i),
		}, newCallback(began), lksdk.WithAutoSubscribe(true), lksdk.WithDisableRegionDiscovery())
		if err != nil {
			return nil, fmt.Errorf("publisher %d: connect: %w", i, err)
		}
		rooms = append(rooms, r)
		setups = append(setups, time.Since(began))
		video, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000})
		if err != nil {
			return nil, err
		}
		if _, err := r.LocalParticipant.PublishTrack(video, &lksdk.TrackPublicationOptions{Name: "video", VideoWidth: 1280, VideoHeight: 720}); err != nil {
			return nil, fmt.Errorf("publisher %d: publish video: %w", i, err)
		}
		pubWG.Add(1)
		go func() { defer pubWG.Done(); sendVideo(pctx, video, c) }()
		if c.audio {
			audio, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
			if err != nil {
				return nil, err
			}
			if _, err := r.LocalParticipant.PublishTrack(audio, &lksdk.TrackPublicationOptions{Name: "audio", DisableDTX: true}); err != nil {
				return nil, fmt.Errorf("publisher %d: publish audio: %w", i, err)
			}
			pubWG.Add(1)
			go func() { defer pubWG.Done(); sendAudio(pctx, audio, c) }()
		}
	}

	done := make(chan struct{})
	go func() { subWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("only %d of %d subscriptions after 60 s", subscribed.Load(), want)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fmt.Fprintf(os.Stderr, "livekit-load: %d subscriptions up; warming up %v\n", want, c.warmup)
	if !sleep(ctx, c.warmup) {
		return nil, ctx.Err()
	}
	measuring.Store(true)
	fmt.Fprintln(os.Stderr, "livekit-load: measure start")
	start := time.Now()
	ok := sleep(ctx, c.dur)
	measuring.Store(false)
	elapsed := time.Since(start)
	fmt.Fprintln(os.Stderr, "livekit-load: measure end")
	if !ok {
		return nil, ctx.Err()
	}

	res := &result{Server: "livekit", Publishers: c.publishers, Subscribers: c.subscribers,
		TracksSubscribed: subscribed.Load(), DurationS: elapsed.Seconds(), SubscribeFailures: subFails.Load()}
	var lat []time.Duration
	mu.Lock()
	for _, t := range tracks {
		t.mu.Lock()
		if t.started {
			exp := int64(t.highest-t.first) + 1
			res.PacketsReceived += t.received
			if exp > t.received {
				res.PacketsLost += exp - t.received
			}
		}
		res.BytesReceived += t.bytes
		res.FramesReceived += t.frames
		lat = append(lat, t.lat...)
		t.mu.Unlock()
	}
	mu.Unlock()
	if n := res.PacketsReceived + res.PacketsLost; n > 0 {
		res.Loss = float64(res.PacketsLost) / float64(n)
	}
	res.ForwardedMbps = float64(res.BytesReceived) * 8 / elapsed.Seconds() / 1e6
	res.LatencyP50MS, res.LatencyP95MS, res.LatencyP99MS = pct(lat, 0.50), pct(lat, 0.95), pct(lat, 0.99)
	res.SetupP50MS, res.SetupMaxMS = pct(setups, 0.5), pct(setups, 1)
	res.FirstFrameP50MS = pct(firsts, 0.5)
	if res.TracksSubscribed < int64(want) {
		return res, errors.New("not every subscription came up")
	}
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func pct(v []time.Duration, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return float64(s[i].Microseconds()) / 1000
}

// sendTime reads the trailer after the codec header: magic, sequence number, send time.
func sendTime(frame []byte, video bool) (time.Time, uint32, bool) {
	off := 1 // Opus TOC
	if video {
		off = 3
		if len(frame) > 0 && frame[0]&1 == 0 { // VP8 key frame (RFC 6386 section 9.1)
			off = 10
		}
	}
	if len(frame) < off+20 || [4]byte(frame[off:off+4]) != magic {
		return time.Time{}, 0, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(frame[off+12:]))), 0, true
}

// vp8Frame builds a synthetic VP8 frame of size bytes (RFC 6386 section 9.1: the 3-byte frame
// tag, and for a key frame the start code and dimensions).
func vp8Frame(size int, key bool, seq uint64) []byte {
	b := make([]byte, size)
	first := size - 3 // first partition size: the rest of the frame
	hdr := 3
	tag := uint32(first)<<5 | 1<<4 // show_frame
	if !key {
		tag |= 1 // inter frame
	} else {
		hdr = 10
	}
	b[0], b[1], b[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	if key {
		copy(b[3:], []byte{0x9d, 0x01, 0x2a})
		binary.LittleEndian.PutUint16(b[6:], 1280)
		binary.LittleEndian.PutUint16(b[8:], 720)
	}
	trailer(b[hdr:], seq)
	return b
}

func trailer(b []byte, seq uint64) {
	copy(b, magic[:])
	binary.BigEndian.PutUint64(b[4:], seq)
	binary.BigEndian.PutUint64(b[12:], uint64(time.Now().UnixNano()))
}

func sendVideo(ctx context.Context, t *lksdk.LocalTrack, c config) {
	interval := time.Second / time.Duration(c.fps)
	avg := c.bitrate / 8 / c.fps
	perKey := max(1, int(c.keyInterval/interval))
	keySize := min(4*avg, avg*perKey)
	deltaSize := avg
	if perKey > 1 {
		deltaSize = max(32, (avg*perKey-keySize)/(perKey-1))
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := uint64(0); ; seq++ {
		key := seq%uint64(perKey) == 0
		size := deltaSize
		if key {
			size = keySize
		}
		if err := t.WriteSample(media.Sample{Data: vp8Frame(size, key, seq), Duration: interval}, nil); err != nil && !strings.Contains(err.Error(), "closed") {
			fmt.Fprintf(os.Stderr, "livekit-load: write video: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func sendAudio(ctx context.Context, t *lksdk.LocalTrack, c config) {
	const interval = 20 * time.Millisecond
	size := max(21, c.audioBitrate/8/50)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := uint64(0); ; seq++ {
		b := make([]byte, size)
		b[0] = 0xfc // TOC: config 31 (CELT FB 20 ms), stereo, one frame (RFC 6716 section 3.1)
		trailer(b[1:], seq)
		t.WriteSample(media.Sample{Data: b, Duration: interval}, nil)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
