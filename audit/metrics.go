package audit

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the evidence log's counters (docs/metrics.md). A nil *Metrics counts nothing.
type Metrics struct {
	entries *prometheus.CounterVec
	fails   *prometheus.CounterVec
}

// NewMetrics registers the evidence log's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_audit_entries_total",
			Help: "Entries written to the evidence log, by region and kind.",
		}, []string{"region", "kind"}),
		fails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_audit_entries_failed_total",
			Help: "Decisions whose evidence entry could not be written, by region and reason (no_log, encode, queue_full, closed, write); alert on any.",
		}, []string{"region", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.entries, m.fails} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) appended(e *Entry) {
	if m != nil {
		m.entries.WithLabelValues(e.Region, e.Kind).Inc()
	}
}

func (m *Metrics) failed(region, reason string) {
	if m != nil {
		m.fails.WithLabelValues(region, reason).Inc()
	}
}
