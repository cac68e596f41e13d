package loadtest

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/geofence/geofence/wire"
)

// Setup phases, each measured from the start of the participant's join.
const (
	PhaseJoin       = "join"        // the directory's ticket and the connection to a datacenter (client.Join)
	PhaseKey        = "key"         // the meeting key from a key server (managed meetings), on its own
	PhaseSignalling = "signalling"  // the media server's joined, from the start of the dial
	PhaseICE        = "ice"         // ICE connected, from the start of the dial
	PhaseDTLS       = "dtls"        // DTLS connected, from the start of the dial
	PhaseFirstFrame = "first_frame" // a subscriber's first decrypted frame, from the start of its join
)

var phaseOrder = []string{PhaseJoin, PhaseKey, PhaseSignalling, PhaseICE, PhaseDTLS, PhaseFirstFrame}

// Summary is a distribution of durations, in milliseconds.
type Summary struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Summarize summarizes a histogram.
func Summarize(h *Histogram) Summary {
	return Summary{Count: h.Count(), P50: msOf(h.Quantile(0.50)), P95: msOf(h.Quantile(0.95)),
		P99: msOf(h.Quantile(0.99)), Max: msOf(h.Max()), Mean: msOf(h.Mean())}
}

// KindStats are the received totals of one kind of track.
type KindStats struct {
	Tracks          int     `json:"tracks"`
	Frames          uint64  `json:"frames"`
	FramesLost      uint64  `json:"frames_lost"`
	FrameLoss       float64 `json:"frame_loss"`
	Duplicates      uint64  `json:"duplicates"`
	DecryptFailures uint64  `json:"decrypt_failures"`
	Packets         uint64  `json:"packets"`
	PacketsLost     uint64  `json:"packets_lost"`
	PacketLoss      float64 `json:"packet_loss"`
	Latency         Summary `json:"latency"`
}

// Report is what a load test measured. `geofence loadtest --json` prints it.
type Report struct {
	Meeting     string `json:"meeting"`
	Publishers  int    `json:"publishers"`
	Subscribers int    `json:"subscribers"`
	// Bitrate (bits per second), FPS and KeyIntervalMS are the video tracks' settings;
	// AudioBitrate is 0 without audio.
	Bitrate       int     `json:"bitrate"`
	FPS           int     `json:"fps"`
	KeyIntervalMS float64 `json:"key_interval_ms"`
	AudioBitrate  int     `json:"audio_bitrate,omitempty"`
	// MeasuredS is the measured window, in seconds.
	MeasuredS float64       `json:"measured_s"`
	Measured  time.Duration `json:"-"`
	// Datacenters counts the participants each datacenter took (the per-DC load).
	Datacenters map[string]int `json:"datacenters"`
	// JoinRetries are joins the directory refused with no_capacity and that were tried
	// again after its retry hint.
	JoinRetries int `json:"join_retries"`
	// Setup summarizes each setup phase over the participants that reached it.
	Setup map[string]Summary `json:"setup"`
	// TracksExpected are the subscribed tracks: every publisher's tracks at every subscriber
	// and at every other publisher; TracksReceived those that arrived.
	TracksExpected int `json:"tracks_expected"`
	TracksReceived int `json:"tracks_received"`
	// Video and Audio are the received totals and one-way latency, per kind.
	Video KindStats  `json:"video"`
	Audio *KindStats `json:"audio,omitempty"`
	// Latency is every frame's one-way latency (send to decrypted), both kinds.
	Latency Summary `json:"latency"`
	// Loss is the fraction of RTP packets lost, PacketBytes the RTP bytes received, and
	// ForwardedMbps what the media servers forwarded to the participants, in Mbit/s (RTP
	// header and payload).
	Loss            float64 `json:"loss"`
	DecryptFailures uint64  `json:"decrypt_failures"`
	PacketBytes     uint64  `json:"packet_bytes"`
	ForwardedMbps   float64 `json:"forwarded_mbps"`
	// KeyFrameRequests are the picture loss indications and full intra requests the
	// publishers received (each answered with a key frame).
	KeyFrameRequests int64 `json:"key_frame_requests"`
	// CandidatePairs counts the selected ICE candidate pairs of every PeerConnection by
	// "local address -> remote address" (with --loopback, only 127.0.0.1 -> 127.0.0.1).
	CandidatePairs map[string]int `json:"candidate_pairs"`
	// KeyRotations are the new epochs the participants took up during the run (the key
	// server rotated the meeting key), summed over participants.
	KeyRotations int `json:"key_rotations"`
	// KeyServers counts, per epoch, the participants each key server gave the meeting key
	// to, by "kms/key digest": more than one digest for an epoch means the key servers
	// handed out different keys (DESIGN.md section 8 says every key server of a meeting gives
	// the same key for an epoch), and the participants cannot decrypt one another.
	KeyServers map[uint64]map[string]int `json:"key_servers,omitempty"`
	// Withheld are the tracks the media servers withheld (a named degradation, I4).
	Withheld []wire.Withheld `json:"withheld"`
	// SetupErrors say which participants did not join or did not receive every track.
	SetupErrors []string `json:"setup_errors,omitempty"`
}

func newReport(cfg *Config) *Report {
	_, _, perKey := cfg.Video.Sizes()
	r := &Report{Publishers: cfg.Publishers, Subscribers: cfg.Subscribers,
		Bitrate: cfg.Video.Bitrate, FPS: cfg.Video.fps(),
		KeyIntervalMS: msOf(time.Duration(perKey) * cfg.Video.FrameDuration()),
		Datacenters:   map[string]int{}, CandidatePairs: map[string]int{}, Setup: map[string]Summary{}, Withheld: []wire.Withheld{}}
	if r.Bitrate <= 0 {
		r.Bitrate = DefaultBitrate
	}
	if cfg.Audio {
		r.AudioBitrate = (&AudioSource{Bitrate: cfg.AudioBitrate}).Size() * 8 * int(time.Second/AudioFrameDuration)
	}
	tracks := 1
	if cfg.Audio {
		tracks = 2
	}
	r.TracksExpected = tracks * cfg.Publishers * (cfg.Subscribers + cfg.Publishers - 1)
	return r
}

func (r *Report) fill(parts []*participant, stats []TrackStats) {
	r.MeasuredS = r.Measured.Seconds()
	phases := map[string]*Histogram{}
	for _, p := range parts {
		if p.res != nil {
			r.Datacenters[p.res.Datacenter]++
		}
		r.JoinRetries += p.retries
		r.KeyFrameRequests += p.keyRequests.Load()
		if p.keys != nil {
			p.keys.mu.Lock()
			r.KeyRotations += p.keys.epochs
			p.keys.mu.Unlock()
		}
		if p.keyDigest != "" {
			if r.KeyServers == nil {
				r.KeyServers = map[uint64]map[string]int{}
			}
			if r.KeyServers[p.epoch] == nil {
				r.KeyServers[p.epoch] = map[string]int{}
			}
			r.KeyServers[p.epoch][p.kms+"/"+p.keyDigest]++
		}
		if p.sess != nil {
			for _, cp := range p.sess.SelectedPairs() {
				if cp != nil && cp.Local != nil && cp.Remote != nil {
					r.CandidatePairs[cp.Local.Address+" -> "+cp.Remote.Address]++
				}
			}
			t := p.sess.Timings()
			for k, d := range map[string]time.Duration{PhaseSignalling: t.Signalling, PhaseICE: t.ICE, PhaseDTLS: t.DTLS} {
				if d > 0 {
					p.phases[k] = d
				}
			}
		}
		for k, d := range p.phases {
			if phases[k] == nil {
				phases[k] = &Histogram{}
			}
			phases[k].Record(d)
		}
		if f := p.first.Load(); f > 0 {
			if phases[PhaseFirstFrame] == nil {
				phases[PhaseFirstFrame] = &Histogram{}
			}
			phases[PhaseFirstFrame].Record(time.Duration(f))
		}
		r.TracksReceived += int(p.tracks.Load())
	}
	for k, h := range phases {
		r.Setup[k] = Summarize(h)
	}
	var all, vlat, alat Histogram
	var audio KindStats
	for i := range stats {
		s := &stats[i]
		ks, lat := &r.Video, &vlat
		if s.Kind == Audio {
			ks, lat = &audio, &alat
		}
		ks.Tracks++
		ks.Frames += s.Frames
		ks.FramesLost += s.Lost()
		ks.Duplicates += s.Duplicates
		ks.DecryptFailures += s.DecryptFailures
		ks.Packets += s.Packets
		ks.PacketsLost += s.PacketsLost
		lat.Merge(&s.Latency)
		all.Merge(&s.Latency)
		r.PacketBytes += s.PacketBytes
		r.DecryptFailures += s.DecryptFailures
	}
	finish := func(ks *KindStats, h *Histogram) {
		ks.Latency = Summarize(h)
		if n := ks.Frames + ks.FramesLost; n > 0 {
			ks.FrameLoss = float64(ks.FramesLost) / float64(n)
		}
		if n := ks.Packets + ks.PacketsLost; n > 0 {
			ks.PacketLoss = float64(ks.PacketsLost) / float64(n)
		}
	}
	finish(&r.Video, &vlat)
	if audio.Tracks > 0 || r.AudioBitrate > 0 {
		finish(&audio, &alat)
		r.Audio = &audio
	}
	r.Latency = Summarize(&all)
	pk, lost := r.Video.Packets, r.Video.PacketsLost
	if r.Audio != nil {
		pk, lost = pk+r.Audio.Packets, lost+r.Audio.PacketsLost
	}
	if pk+lost > 0 {
		r.Loss = float64(lost) / float64(pk+lost)
	}
	if r.MeasuredS > 0 {
		r.ForwardedMbps = float64(r.PacketBytes) * 8 / r.MeasuredS / 1e6
	}
}

// WriteText writes the human summary.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "meeting %s: %d publishers, %d subscribers, video %.0f kbit/s at %d fps (key frame every %.0f ms)",
		r.Meeting, r.Publishers, r.Subscribers, float64(r.Bitrate)/1000, r.FPS, r.KeyIntervalMS)
	if r.AudioBitrate > 0 {
		fmt.Fprintf(w, ", audio %.0f kbit/s", float64(r.AudioBitrate)/1000)
	}
	fmt.Fprintf(w, "\n")
	var dcs []string
	for dc, n := range r.Datacenters {
		dcs = append(dcs, fmt.Sprintf("%s %d", dc, n))
	}
	sort.Strings(dcs)
	fmt.Fprintf(w, "datacenters: %s", strings.Join(dcs, ", "))
	if r.JoinRetries > 0 {
		fmt.Fprintf(w, " (%d joins retried after no_capacity)", r.JoinRetries)
	}
	fmt.Fprintf(w, "\n")
	fmt.Fprintf(w, "\nsetup (ms)         count      p50      p95      p99      max\n")
	for _, k := range phaseOrder {
		s, ok := r.Setup[k]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "  %-14s %8d %8.1f %8.1f %8.1f %8.1f\n", k, s.Count, s.P50, s.P95, s.P99, s.Max)
	}
	fmt.Fprintf(w, "\ntracks: %d of %d arrived, %d withheld\n", r.TracksReceived, r.TracksExpected, len(r.Withheld))
	var pairs []string
	for k, n := range r.CandidatePairs {
		pairs = append(pairs, fmt.Sprintf("%s (%d)", k, n))
	}
	sort.Strings(pairs)
	fmt.Fprintf(w, "ICE candidate pairs: %s; %d key frames requested\n", strings.Join(pairs, ", "), r.KeyFrameRequests)
	fmt.Fprintf(w, "measured %.1f s: %.2f Mbit/s forwarded to the participants\n", r.MeasuredS, r.ForwardedMbps)
	fmt.Fprintf(w, "\n  kind       frames    lost  frame loss  packet loss  decrypt failures   latency p50/p95/p99 ms\n")
	row := func(name string, k *KindStats) {
		fmt.Fprintf(w, "  %-6s %10d %7d %10.3f%% %11.3f%% %17d   %.1f / %.1f / %.1f\n", name, k.Frames, k.FramesLost,
			100*k.FrameLoss, 100*k.PacketLoss, k.DecryptFailures, k.Latency.P50, k.Latency.P95, k.Latency.P99)
	}
	row("video", &r.Video)
	if r.Audio != nil {
		row("audio", r.Audio)
	}
	for epoch, byKMS := range r.KeyServers {
		digests := map[string]bool{}
		var who []string
		for k, n := range byKMS {
			digests[k[strings.IndexByte(k, '/')+1:]] = true
			who = append(who, fmt.Sprintf("%s (%d participants)", k, n))
		}
		if len(digests) > 1 {
			sort.Strings(who)
			fmt.Fprintf(w, "key servers disagree: %d different keys for epoch %d: %s\n", len(digests), epoch, strings.Join(who, ", "))
		}
	}
	for _, wh := range r.Withheld {
		fmt.Fprintf(w, "withheld: track %s of %s from %s: %s (%s)\n", wh.Track.ID, wh.Track.Participant, wh.Datacenter, wh.Code, wh.Rule)
	}
	for _, e := range r.SetupErrors {
		fmt.Fprintf(w, "setup error: %s\n", e)
	}
}
