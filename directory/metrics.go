package directory

import (
	"crypto/subtle"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the directory's Prometheus metrics (documented in docs/metrics.md).
type metrics struct {
	gatherer     prometheus.Gatherer
	joins        *prometheus.CounterVec
	refusals     *prometheus.CounterVec
	selection    prometheus.Histogram
	joinLatency  prometheus.Histogram
	secondaries  prometheus.Counter
	geoipUnknown prometheus.Counter
	rehomes      prometheus.Counter
	reports      *prometheus.CounterVec
}

func newMetrics(s *Server, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_directory_joins_total", Help: "Joins answered, by meeting region and outcome (ok or the refusal code).",
		}, []string{"region", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_directory_refusals_total", Help: "Refused joins by code and the rule that excluded the datacenters (I4).",
		}, []string{"code", "rule"}),
		selection: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "geofence_directory_selection_seconds", Help: "Time spent in selection per join.",
			Buckets: prometheus.ExponentialBuckets(250e-9, 2, 14),
		}),
		joinLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "geofence_directory_join_seconds", Help: "Time to answer a successful join, signing included.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 14),
		}),
		secondaries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geofence_directory_secondaries_total", Help: "Secondary datacenters handed out in tickets.",
		}),
		geoipUnknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geofence_directory_geoip_unknown_total", Help: "Client addresses the GeoIP database does not know (placed in the default region).",
		}),
		rehomes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geofence_directory_rehomes_total", Help: "Meetings re-homed because their home datacenter was down.",
		}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_directory_load_reports_total", Help: "Datacenter load reports by outcome.",
		}, []string{"outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	unverified := 0.0
	if s.cfg.Unverified {
		unverified = 1
	}
	cs := []prometheus.Collector{m.joins, m.refusals, m.selection, m.joinLatency, m.secondaries, m.geoipUnknown, m.rehomes, m.reports,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "geofence_directory_unverified_config", Help: "1 when the config in force did not verify (--allow-unverified).",
		}, func() float64 { return unverified }),
		dcCollector{s},
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	return m, nil
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

var (
	dcUtilDesc = prometheus.NewDesc("geofence_directory_dc_utilization", "Datacenter utilization as the directory sees it (reported plus placed, over capacity).", []string{"dc", "region"}, nil)
	dcUpDesc   = prometheus.NewDesc("geofence_directory_dc_up", "1 when the datacenter is up (recent healthy load report).", []string{"dc", "region"}, nil)
)

// dcCollector reads DC state at scrape time.
type dcCollector struct{ s *Server }

func (c dcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dcUtilDesc; ch <- dcUpDesc }

func (c dcCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.s.Datacenters() {
		up := 1.0
		if d.Down {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(dcUtilDesc, prometheus.GaugeValue, d.Utilization, d.ID, d.Region)
		ch <- prometheus.MustNewConstMetric(dcUpDesc, prometheus.GaugeValue, up, d.ID, d.Region)
	}
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
