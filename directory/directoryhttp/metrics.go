package directoryhttp

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP layer's Prometheus metrics (documented in docs/metrics.md).
type metrics struct {
	joinLatency  prometheus.Histogram
	geoipUnknown prometheus.Counter
	denied       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		joinLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "geofence_directory_join_seconds", Help: "Time to answer a successful join, signing included.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 14),
		}),
		geoipUnknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geofence_directory_geoip_unknown_total", Help: "Client addresses the GeoIP database does not know (placed in the default region).",
		}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_directory_auth_refusals_total", Help: "Requests refused for their credential (401, 403), by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{denyNoCredential, denyInvalidToken, denyOperator, denyOtherMeeting, denyNotHost, denyOtherAccount, denyDCCredential, denyUnknownAccount, denyParticipant} {
		m.denied.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.joinLatency, m.geoipUnknown, m.denied} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
