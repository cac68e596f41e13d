package loadtest

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	for _, tt := range []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{7 * time.Millisecond}, 0.99, 7 * time.Millisecond},
		{"exact below 256 µs, p50 of 1..100", seq(1, 100, time.Microsecond), 0.5, 50 * time.Microsecond},
		{"exact, p95 of 1..100", seq(1, 100, time.Microsecond), 0.95, 95 * time.Microsecond},
		{"exact, p100 of 1..100", seq(1, 100, time.Microsecond), 1, 100 * time.Microsecond},
		{"p50 of 1..100 ms", seq(1, 100, time.Millisecond), 0.5, 50 * time.Millisecond},
		{"p99 of 1..100 ms", seq(1, 100, time.Millisecond), 0.99, 99 * time.Millisecond},
		{"p99 of 1..1000 ms", seq(1, 1000, time.Millisecond), 0.99, 990 * time.Millisecond},
		{"negative clamps to 0", []time.Duration{-time.Second}, 0.5, 0},
		{"p50 never above the max", []time.Duration{time.Second + 3*time.Microsecond}, 0.5, time.Second + 3*time.Microsecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tt.values {
				h.Record(v)
			}
			got := h.Quantile(tt.q)
			// 128 buckets per power of two: within 1/128 of the true value.
			if d := got - tt.want; d < -tt.want/128-time.Microsecond || d > tt.want/128+time.Microsecond {
				t.Errorf("got %v, want %v ± 0.8%%", got, tt.want)
			}
		})
	}
}

func seq(from, to int, unit time.Duration) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*unit)
	}
	return out
}

func TestHistogramMergeMeanMax(t *testing.T) {
	var a, b, all Histogram
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 10000 {
		d := time.Duration(r.ExpFloat64() * float64(20*time.Millisecond))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	a.Merge(&Histogram{})
	if a.Count() != 10000 || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Errorf("merged: count %d max %v mean %v, want %d %v %v", a.Count(), a.Max(), a.Mean(), all.Count(), all.Max(), all.Mean())
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %v, whole %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	// An exponential distribution's median is ln 2 times its mean: 13.9 ms.
	if p50 := all.Quantile(0.5); p50 < 13*time.Millisecond || p50 > 15*time.Millisecond {
		t.Errorf("p50 %v, want about 13.9 ms", p50)
	}
}

func TestTrackStatsLoss(t *testing.T) {
	sent := time.Unix(100, 0)
	for _, tt := range []struct {
		name                      string
		seqs                      []uint64
		wantFrames, wantLost, dup uint64
		wantExpected              uint64
	}{
		{"none", nil, 0, 0, 0, 0},
		{"in order", []uint64{5, 6, 7, 8}, 4, 0, 0, 4},
		{"gaps", []uint64{10, 11, 14, 15, 20}, 5, 6, 0, 11},
		{"reordered", []uint64{3, 5, 4, 6}, 4, 0, 0, 4},
		{"late first", []uint64{9, 10, 8}, 3, 0, 0, 3},
		{"duplicates", []uint64{1, 2, 2, 3, 1}, 3, 0, 2, 3},
		{"a jump past the window", []uint64{1, 5000, 5001}, 3, 4998, 0, 5001},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s TrackStats
			for _, q := range tt.seqs {
				s.Frame(Frame{Seq: q, Sent: sent}, 100, sent.Add(10*time.Millisecond))
			}
			if s.Frames != tt.wantFrames || s.Lost() != tt.wantLost || s.Duplicates != tt.dup || s.Expected() != tt.wantExpected {
				t.Errorf("got frames %d lost %d duplicates %d expected %d, want %d %d %d %d",
					s.Frames, s.Lost(), s.Duplicates, s.Expected(), tt.wantFrames, tt.wantLost, tt.dup, tt.wantExpected)
			}
			if s.Bytes != 100*uint64(len(tt.seqs)) {
				t.Errorf("got %d bytes, want %d", s.Bytes, 100*len(tt.seqs))
			}
			if s.Frames > 0 && s.Latency.Quantile(1) != 10*time.Millisecond {
				t.Errorf("latency %v, want 10ms", s.Latency.Quantile(1))
			}
		})
	}
}

func TestRecorderWindow(t *testing.T) {
	var r Recorder
	tr := r.Track(Video)
	now := time.Unix(1, 0)
	tr.Frame(Frame{Seq: 1, Sent: now}, 10, now) // before the window: ignored
	tr.DecryptFailure()
	r.Start()
	tr.Frame(Frame{Seq: 2, Sent: now}, 10, now)
	tr.Frame(Frame{Seq: 4, Sent: now}, 10, now)
	tr.DecryptFailure()
	got := r.Stop()
	tr.Frame(Frame{Seq: 5, Sent: now}, 10, now) // after: ignored
	if len(got) != 1 || got[0].Frames != 2 || got[0].Lost() != 1 || got[0].DecryptFailures != 1 || got[0].Kind != Video {
		t.Errorf("got %+v", got)
	}
}
