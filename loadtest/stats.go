package loadtest

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets of microseconds: exact below 256 µs, then
// 128 buckets per power of two, so that a quantile is within 0.8% of the true value, in a few
// kilobytes whatever the number of samples (the layout of HdrHistogram with two significant
// digits). Durations are clamped to [0, 2^31 µs). The zero value is empty and ready; it is not
// safe for concurrent use.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    float64 // µs
	max    uint64  // µs
}

const (
	subBits    = 7
	subBuckets = 1 << subBits    // 128
	maxMicros  = 1<<31 - 1       // 35 minutes
	nBuckets   = subBuckets * 26 // e = 0..24 at most
)

func bucketOf(us uint64) int {
	if us < 2*subBuckets {
		return int(us)
	}
	e := bits.Len64(us) - (subBits + 1)
	return subBuckets*e + int(us>>e)
}

// bucketMid is the value a bucket stands for: its middle.
func bucketMid(i int) float64 {
	if i < 2*subBuckets {
		return float64(i)
	}
	e := i/subBuckets - 1
	m := uint64(i - subBuckets*e)
	lo, hi := m<<e, (m+1)<<e-1
	return float64(lo+hi) / 2
}

// Record counts one duration.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = min(uint64(d/time.Microsecond), maxMicros)
	}
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	h.counts[bucketOf(us)]++
	h.n++
	h.sum += float64(us)
	h.max = max(h.max, us)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest duration recorded (exact, to the microsecond).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Mean is the mean duration.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/float64(h.n)) * time.Microsecond
}

// Quantile returns the q-quantile (0 < q <= 1) by the nearest-rank method: the smallest
// recorded value with at least q of the values at or below it, to the bucket's precision, and
// never above Max. It is 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(1, min(rank, h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := min(bucketMid(i), float64(h.max))
			return time.Duration(v * float64(time.Microsecond))
		}
	}
	return h.Max()
}

// TrackStats is what one subscriber received of one track. Frames are told apart by their
// sequence number: loss is the gaps between the lowest and the highest received, so frames
// sent before the subscription or still in flight at the end do not count as lost.
type TrackStats struct {
	Kind Kind
	// Frames is the number of distinct frames opened and parsed.
	Frames uint64
	// Duplicates are frames received again (a retransmission that arrived twice).
	Duplicates uint64
	// First and Last are the lowest and highest sequence numbers received.
	First, Last uint64
	// DecryptFailures are frames the media profile did not open, or that did not parse
	// after opening.
	DecryptFailures uint64
	// Bytes are the sealed frames' bytes received.
	Bytes uint64
	// Latency is each frame's one-way latency: receive time minus send time.
	Latency Histogram
	// Packets and PacketBytes are the RTP packets received (header and payload, as the
	// media server forwards them), PacketsLost the gaps in their sequence numbers (RFC 3550
	// appendix A.3: expected minus received, never negative).
	Packets, PacketBytes, PacketsLost uint64

	seen window
	rtp  rtpSeq
}

// rtpSeq extends 16-bit RTP sequence numbers (RFC 3550 appendix A.1).
type rtpSeq struct {
	started     bool
	first, high uint64
	received    uint64
}

func (r *rtpSeq) add(seq uint16) {
	s := uint64(seq)
	if !r.started {
		r.started, r.first, r.high, r.received = true, s, s, 1
		return
	}
	r.received++
	ext := r.high&^0xffff | s
	switch {
	case ext+0x8000 < r.high:
		ext += 1 << 16
	case ext > r.high+0x8000 && ext >= 1<<16:
		ext -= 1 << 16
	}
	if ext > r.high {
		r.high = ext
	}
	if ext < r.first {
		r.first = ext
	}
}

func (r *rtpSeq) lost() uint64 {
	if !r.started {
		return 0
	}
	if exp := r.high - r.first + 1; exp > r.received {
		return exp - r.received
	}
	return 0
}

// Packet records an RTP packet of size bytes with sequence number seq.
func (t *TrackStats) Packet(seq uint16, size int) {
	t.rtp.add(seq)
	t.Packets++
	t.PacketBytes += uint64(size)
	t.PacketsLost = t.rtp.lost()
}

// Expected is the number of frames between First and Last; 0 before any frame.
func (t *TrackStats) Expected() uint64 {
	if t.Frames == 0 {
		return 0
	}
	return t.Last - t.First + 1
}

// Lost is Expected minus the distinct frames received.
func (t *TrackStats) Lost() uint64 {
	if e := t.Expected(); e > t.Frames {
		return e - t.Frames
	}
	return 0
}

// Frame records a frame opened at now.
func (t *TrackStats) Frame(f Frame, sealedLen int, now time.Time) {
	t.Bytes += uint64(sealedLen)
	if t.Frames > 0 && !t.seen.add(f.Seq) {
		t.Duplicates++
		return
	}
	if t.Frames == 0 {
		t.First, t.Last = f.Seq, f.Seq
		t.seen = window{}
		t.seen.add(f.Seq)
	}
	t.Frames++
	t.First, t.Last = min(t.First, f.Seq), max(t.Last, f.Seq)
	t.Latency.Record(now.Sub(f.Sent))
}

// window remembers the last 1024 sequence numbers at or below the highest, to tell
// duplicates from late frames; one older than that is counted as new (it is so late that the
// sample builder would have dropped it anyway).
type window struct {
	top  uint64
	bits [16]uint64
	init bool
}

// add records seq and reports whether it was new.
func (w *window) add(seq uint64) bool {
	const size = 16 * 64
	if !w.init {
		w.init, w.top = true, seq
		w.bits[seq%size/64] |= 1 << (seq % 64)
		return true
	}
	if seq > w.top {
		for s := w.top + 1; s <= seq && s-w.top <= size; s++ {
			w.bits[s%size/64] &^= 1 << (s % 64)
		}
		w.top = seq
	} else if w.top-seq >= size {
		return true
	}
	i, b := seq%size/64, uint64(1)<<(seq%64)
	if w.bits[i]&b != 0 {
		return false
	}
	w.bits[i] |= b
	return true
}

// Recorder collects what every subscriber received, between Start and Stop: the measured
// window. It is safe for concurrent use; each track has its own lock.
type Recorder struct {
	measuring atomic.Bool
	mu        sync.Mutex
	tracks    []*TrackRecorder
}

// TrackRecorder records one subscribed track.
type TrackRecorder struct {
	r  *Recorder
	mu sync.Mutex
	s  TrackStats
}

// Track returns the recorder of a new subscribed track of kind k.
func (r *Recorder) Track(k Kind) *TrackRecorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &TrackRecorder{r: r, s: TrackStats{Kind: k}}
	r.tracks = append(r.tracks, t)
	return t
}

// Start begins the measured window: what every track received before is forgotten.
func (r *Recorder) Start() {
	r.measuring.Store(false)
	r.mu.Lock()
	tracks := append([]*TrackRecorder(nil), r.tracks...)
	r.mu.Unlock()
	for _, t := range tracks {
		t.mu.Lock()
		t.s = TrackStats{Kind: t.s.Kind}
		t.mu.Unlock()
	}
	r.measuring.Store(true)
}

// Stop ends the measured window and returns the stats of every track.
func (r *Recorder) Stop() []TrackStats {
	r.measuring.Store(false)
	r.mu.Lock()
	tracks := append([]*TrackRecorder(nil), r.tracks...)
	r.mu.Unlock()
	out := make([]TrackStats, 0, len(tracks))
	for _, t := range tracks {
		t.mu.Lock()
		out = append(out, t.s)
		t.mu.Unlock()
	}
	return out
}

func (r *Recorder) isMeasuring() bool { return r.measuring.Load() }

// Frame records a frame opened and parsed at now.
func (t *TrackRecorder) Frame(f Frame, sealedLen int, now time.Time) {
	if !t.r.isMeasuring() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.Frame(f, sealedLen, now)
}

// Packet records an RTP packet received.
func (t *TrackRecorder) Packet(seq uint16, size int) {
	if !t.r.isMeasuring() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.Packet(seq, size)
}

// DecryptFailure records a frame that did not open or parse.
func (t *TrackRecorder) DecryptFailure() {
	if !t.r.isMeasuring() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.DecryptFailures++
}
