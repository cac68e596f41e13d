package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/rtp"
)

// BenchmarkFanOut is the media server's own work per packet forwarded to n subscribers:
// the fan-out, each subscriber's queue and writer, and the per-hop header rewrite, to a
// write stream that costs nothing (SRTP and the socket are Pion's and the kernel's; the
// end-to-end figures are in docs/benchmarks.md, from scripts/bench-sfu.sh).
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			up := newTestUp(b)
			outs := make([]*fakeOut, n)
			downs := make([]*downTrack, n)
			for i := range n {
				outs[i] = &fakeOut{}
				downs[i] = bind(up, outs[i], uint32(i+1))
			}
			payload := make([]byte, 1100)
			b.ReportAllocs()
			b.SetBytes(int64(len(payload) * n))
			sent := 0
			for b.Loop() {
				p := packets.Get().(*packet)
				p.rtp = rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(sent), SSRC: 1234, PayloadType: 100}, Payload: payload}
				_ = p.rtp.Header.SetExtension(3, []byte{0x85})
				ds := up.loadDowns()
				p.refs.Store(int32(len(ds)) + 1)
				for _, d := range ds {
					d.enqueue(p)
				}
				p.release()
				sent++
				// Keep the queues from filling: the benchmark measures forwarding, not drops.
				if sent%(writerQueue/2) == 0 {
					for _, o := range outs {
						for o.n.Load()+downs[0].w.dropped.Load() < int64(sent) {
						}
					}
				}
			}
			b.StopTimer()
			for _, d := range downs {
				d.w.stop()
			}
			var dropped int64
			for _, d := range downs {
				dropped += d.w.dropped.Load()
			}
			b.ReportMetric(float64(dropped), "dropped")
		})
	}
}
