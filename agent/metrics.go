package agent

import (
	"fmt"

	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// OutcomeAdmitted is the "outcome" label of geofence_agent_admissions_total for a connect
// admitted; a refused one is labelled with its wire error code.
const OutcomeAdmitted = "admitted"

// admissionOutcomes are the outcomes whose series exist from the start.
var admissionOutcomes = []string{
	OutcomeAdmitted, wire.CodeBadRequest, wire.CodeInvalidTicket, wire.CodeNotListed,
	wire.CodeResidencyConflict, wire.CodePlanConflict, wire.CodeNoCapacity, wire.CodeKeysUnavailable,
}

// metrics are the agent's Prometheus metrics. Every series carries a constant "datacenter"
// label, so that the agents `geofence dev` runs in one process can share a registry.
//
//   - geofence_agent_admissions_total{outcome}: connect requests by outcome (admitted or the
//     wire error code); every refusal but bad_request and no_capacity is a run-time
//     enforcement event worth alerting on, since the directory should never have sent that
//     ticket here.
//   - geofence_agent_participants: open sessions.
//   - geofence_agent_sessions_replaced_total: connects that replaced the session their
//     participant held in the meeting (one session per participant and meeting): a client
//     reconnecting, or a ticket replayed. A rate far above the admissions of new participants
//     is a replay.
//   - geofence_agent_sessions_expired_total: sessions dropped after SessionTTL without a
//     heartbeat: clients that vanished without disconnecting.
//   - geofence_agent_heartbeats_total{outcome="ok"|"unknown_session"}: heartbeats received.
//   - geofence_agent_load_reports_total{outcome="ok"|"error"}: load reports sent to the
//     directory.
//   - geofence_agent_config_unverified: 1 when the agent runs a config that failed
//     `geofence verify` (--allow-unverified).
type metrics struct {
	admissions   *prometheus.CounterVec
	participants prometheus.Gauge
	replaced     prometheus.Counter
	expired      prometheus.Counter
	heartbeats   *prometheus.CounterVec
	reports      *prometheus.CounterVec
	unverified   prometheus.Gauge
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.admissions, m.participants, m.replaced, m.expired, m.heartbeats, m.reports, m.unverified}
}

func newMetrics(reg prometheus.Registerer, dc string) (*metrics, error) {
	labels := prometheus.Labels{"datacenter": dc}
	m := &metrics{
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "geofence_agent_admissions_total",
			Help:        "Connect requests to the DC agent, by outcome (admitted or the refusal code).",
			ConstLabels: labels,
		}, []string{"outcome"}),
		participants: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "geofence_agent_participants",
			Help:        "Participants (open sessions) the DC agent serves.",
			ConstLabels: labels,
		}),
		replaced: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "geofence_agent_sessions_replaced_total",
			Help:        "Connects that replaced the session their participant held in the meeting (one session per participant and meeting).",
			ConstLabels: labels,
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "geofence_agent_sessions_expired_total",
			Help:        "Sessions the DC agent dropped because no heartbeat came within the session TTL.",
			ConstLabels: labels,
		}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "geofence_agent_heartbeats_total",
			Help:        "Session heartbeats the DC agent received, by outcome (ok, unknown_session).",
			ConstLabels: labels,
		}, []string{"outcome"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "geofence_agent_load_reports_total",
			Help:        "Load reports the DC agent sent to the directory, by outcome (ok, error).",
			ConstLabels: labels,
		}, []string{"outcome"}),
		unverified: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "geofence_agent_config_unverified",
			Help:        "1 when the DC agent runs a config that failed geofence verify (--allow-unverified).",
			ConstLabels: labels,
		}),
	}
	// Create every series at zero, so that rate() and alerts see a refusal's first occurrence.
	for _, o := range admissionOutcomes {
		m.admissions.WithLabelValues(o)
	}
	m.heartbeats.WithLabelValues("ok")
	m.heartbeats.WithLabelValues(wire.CodeUnknownSession)
	m.reports.WithLabelValues("ok")
	m.reports.WithLabelValues("error")
	if reg == nil {
		return m, nil
	}
	cs := m.collectors()
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// unregister undoes newMetrics' registration, when New fails after it.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}
