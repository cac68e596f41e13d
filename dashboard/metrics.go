package dashboard

import "github.com/prometheus/client_golang/prometheus"

// metrics are the dashboard's Prometheus metrics (documented in docs/metrics.md).
type metrics struct {
	streams prometheus.Gauge
	refused prometheus.Counter
	dropped prometheus.Counter
	events  *prometheus.CounterVec
	sims    *prometheus.CounterVec
}

// Outcomes of a simulator run, the label of geofence_dashboard_sim_runs_total.
const (
	simOK      = "ok"
	simBusy    = "busy"    // another run was in progress
	simInvalid = "invalid" // the scenario did not parse or names what the config lacks
	simTimeout = "timeout" // it ran past Config.SimTimeout
	simError   = "error"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "geofence_dashboard_streams", Help: "Dashboard event streams open.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geofence_dashboard_streams_refused_total", Help: "Dashboard event streams refused because the cap was reached.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geofence_dashboard_streams_dropped_total", Help: "Dashboard event streams closed because their reader fell behind (buffer full).",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_dashboard_events_total", Help: "Dashboard events broadcast, by event (model, state, refusal).",
		}, []string{"event"}),
		sims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_dashboard_sim_runs_total", Help: "What-if simulator runs, by outcome.",
		}, []string{"outcome"}),
	}
	for _, e := range []string{"model", "state", "refusal"} {
		m.events.WithLabelValues(e)
	}
	for _, o := range []string{simOK, simBusy, simInvalid, simTimeout, simError} {
		m.sims.WithLabelValues(o)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.streams, m.refused, m.dropped, m.events, m.sims} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
