package sfu

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the media server's Prometheus metrics (docs/metrics.md), labelled with its
// datacenter so that several servers can share a registry.
type metrics struct {
	joins       *prometheus.CounterVec // by outcome: admitted or the refusal's code
	bridges     *prometheus.CounterVec // bridge admissions at the home, by outcome
	sessions    prometheus.Gauge
	tracksIn    prometheus.Gauge
	tracksOut   prometheus.Gauge
	withheld    prometheus.Counter
	dropped     prometheus.Counter
	malformed   prometheus.Counter
	readErrors  prometheus.Counter
	writeErrors prometheus.Counter
	keyFrames   *prometheus.CounterVec // by outcome: sent, limited, error
	keys        *prometheus.CounterVec // e2ee key envelopes, by outcome: relayed or the refusal's code
	// The byte counts are plain atomics, read by the exported counters: the forwarding path
	// adds to them per packet.
	bytesIn, bytesOut atomic.Int64

	all []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer, dc string) (*metrics, error) {
	l := prometheus.Labels{"datacenter": dc}
	m := &metrics{
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "geofence_sfu_joins_total", ConstLabels: l,
			Help: "Media joins by outcome: admitted, or the refusal's error code."}, []string{"outcome"}),
		bridges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "geofence_sfu_bridge_admissions_total", ConstLabels: l,
			Help: "Participants offered on bridges from other datacenters, by outcome: admitted, or the refusal's error code."}, []string{"outcome"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "geofence_sfu_sessions", ConstLabels: l,
			Help: "Media sessions (participants connected over WebRTC) now."}),
		tracksIn: prometheus.NewGauge(prometheus.GaugeOpts{Name: "geofence_sfu_tracks_in", ConstLabels: l,
			Help: "Tracks received now, from participants and bridges."}),
		tracksOut: prometheus.NewGauge(prometheus.GaugeOpts{Name: "geofence_sfu_tracks_out", ConstLabels: l,
			Help: "Tracks sent now, to participants and bridges."}),
		withheld: prometheus.NewCounter(prometheus.CounterOpts{Name: "geofence_sfu_tracks_withheld_total", ConstLabels: l,
			Help: "Tracks not forwarded to a datacenter because their publisher's rules forbid it (I1)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "geofence_sfu_packets_dropped_total", ConstLabels: l,
			Help: "RTP packets dropped because a subscriber's queue was full (a slow subscriber loses its own packets)."}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{Name: "geofence_sfu_packets_malformed_total", ConstLabels: l,
			Help: "RTP packets received that did not parse."}),
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "geofence_sfu_read_errors_total", ConstLabels: l,
			Help: "Tracks that ended on a read error rather than their end."}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "geofence_sfu_write_errors_total", ConstLabels: l,
			Help: "RTP packets that could not be written to a subscriber."}),
		keyFrames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "geofence_sfu_key_frame_requests_total", ConstLabels: l,
			Help: "Key frame requests (PLI) to publishers, by outcome: sent, limited (within 500 ms of the last), error."}, []string{"outcome"}),
		keys: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "geofence_sfu_key_envelopes_total", ConstLabels: l,
			Help: "E2EE key envelopes from meeting leaders, by outcome: relayed, or the refusal's error code."}, []string{"outcome"}),
	}
	in := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geofence_sfu_rtp_received_bytes_total", ConstLabels: l,
		Help: "RTP bytes received from publishers and bridges."}, func() float64 { return float64(m.bytesIn.Load()) })
	out := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geofence_sfu_rtp_sent_bytes_total", ConstLabels: l,
		Help: "RTP bytes sent to subscribers and bridges."}, func() float64 { return float64(m.bytesOut.Load()) })
	m.all = []prometheus.Collector{m.joins, m.bridges, m.sessions, m.tracksIn, m.tracksOut, m.withheld, m.dropped,
		m.malformed, m.readErrors, m.writeErrors, m.keyFrames, m.keys, in, out}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.all {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				for _, r := range m.all[:i] {
					reg.Unregister(r)
				}
				return nil, err
			}
		}
	}
	return m, nil
}
