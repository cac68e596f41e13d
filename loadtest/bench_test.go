package loadtest

import (
	"testing"
	"time"
)

// benchFrames are the frames of a 1 Mbit/s, 30 fps track with a key frame every 2 s, and of
// a 32 kbit/s audio track.
func benchFrame(b *testing.B, k Kind, key bool) []byte {
	src := &VideoSource{}
	keySize, deltaSize, _ := src.Sizes()
	size := deltaSize
	switch {
	case k == Audio:
		size = (&AudioSource{}).Size()
	case key:
		size = keySize
	}
	return AppendFrame(nil, Frame{Kind: k, Key: key, Size: size, Sent: time.Now()}, 1280, 720)
}

func BenchmarkSeal(b *testing.B) {
	for _, bc := range []struct {
		name string
		kind Kind
		key  bool
	}{{"video-delta", Video, false}, {"video-key", Video, true}, {"audio", Audio, false}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := MediaProfile{}.NewSealer(newKey(b, 1))
			if err != nil {
				b.Fatal(err)
			}
			frame := benchFrame(b, bc.kind, bc.key)
			out := make([]byte, 0, len(frame)+64)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if out, err = s.Seal(out[:0], bc.kind, frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, bc := range []struct {
		name string
		kind Kind
		key  bool
	}{{"video-delta", Video, false}, {"video-key", Video, true}, {"audio", Audio, false}} {
		b.Run(bc.name, func(b *testing.B) {
			key := newKey(b, 1)
			p := MediaProfile{}
			s, _ := p.NewSealer(key)
			frame := benchFrame(b, bc.kind, bc.key)
			// Distinct frames, since the replay window refuses a frame opened twice; few enough
			// to stay in cache, as a frame just read from the network is.
			const n = 128
			sealed := make([][]byte, n)
			for i := range sealed {
				sealed[i], _ = s.Seal(nil, bc.kind, frame)
			}
			newOpener := func() Opener { o := p.NewOpener(); o.AddEpoch(key); return o }
			op := newOpener()
			out := make([]byte, 0, len(frame))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == n {
					b.StopTimer()
					op = newOpener()
					i = 0
					b.StartTimer()
				}
				var err error
				if out, err = op.Open(out[:0], bc.kind, sealed[i]); err != nil {
					b.Fatal(err)
				}
				if _, err := ParseFrame(bc.kind, out); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkVideoSourceNext(b *testing.B) {
	src := &VideoSource{}
	var out []byte
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		out, _ = src.Next(out[:0], now)
	}
}

// BenchmarkRecorderFrame is the per-frame cost of the stats on a subscriber.
func BenchmarkRecorderFrame(b *testing.B) {
	var r Recorder
	t := r.Track(Video)
	r.Start()
	sent := time.Now()
	now := sent.Add(3 * time.Millisecond)
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		t.Packet(uint16(seq), 1200)
		t.Frame(Frame{Seq: seq, Sent: sent}, 4000, now)
		seq++
	}
}

func BenchmarkHistogramQuantile(b *testing.B) {
	var h Histogram
	for i := range 100000 {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Quantile(0.99)
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	s, _ := MediaProfile{}.NewSealer(newKey(t, 1))
	frame := AppendFrame(nil, Frame{Kind: Video, Size: 4000}, 1, 1)
	out := make([]byte, 0, 8192)
	if n := testing.AllocsPerRun(100, func() { out, _ = s.Seal(out[:0], Video, frame) }); n != 0 {
		t.Errorf("Seal: %v allocations, want 0", n)
	}
	var r Recorder
	tr := r.Track(Video)
	r.Start()
	seq := uint64(0)
	now := time.Now()
	tr.Frame(Frame{Seq: 0, Sent: now}, 1, now) // the histogram's buckets
	if n := testing.AllocsPerRun(100, func() { seq++; tr.Frame(Frame{Seq: seq, Sent: now}, 4000, now) }); n != 0 {
		t.Errorf("Recorder.Frame: %v allocations, want 0", n)
	}
}
