package agent

import (
	"fmt"

	"github.com/geofence/geofence/policy"
	"github.com/prometheus/client_golang/prometheus"
)

// Admission outcomes: the "outcome" label of geofence_agent_admissions_total, and, for
// refusals, the "error" code of the connect answer.
const (
	OutcomeAdmitted          = "admitted"
	OutcomeBadRequest        = "bad_request"
	OutcomeInvalidTicket     = "invalid_ticket"
	OutcomeNotListed         = "not_listed"
	OutcomeResidencyConflict = policy.CodeResidencyConflict
	OutcomePlanConflict      = policy.CodePlanConflict
	OutcomeNoCapacity        = "no_capacity"
	OutcomeKeysUnavailable   = "keys_unavailable"
)

var admissionOutcomes = []string{
	OutcomeAdmitted, OutcomeBadRequest, OutcomeInvalidTicket, OutcomeNotListed,
	OutcomeResidencyConflict, OutcomePlanConflict, OutcomeNoCapacity, OutcomeKeysUnavailable,
}

// metrics are the agent's Prometheus metrics. Every series carries a constant "datacenter"
// label, so that the agents `geofence dev` runs in one process can share a registry.
//
//   - geofence_agent_admissions_total{outcome}: connect requests by outcome (the Outcome*
//     constants); every refusal but bad_request is a run-time enforcement event worth alerting
//     on, since the directory should never have sent that ticket here.
//   - geofence_agent_participants: open sessions.
//   - geofence_agent_load_reports_total{outcome="ok"|"error"}: load reports sent to the
//     directory.
//   - geofence_agent_config_unverified: 1 when the agent runs a config that failed
//     `geofence verify` (--allow-unverified).
type metrics struct {
	admissions   *prometheus.CounterVec
	participants prometheus.Gauge
	reports      *prometheus.CounterVec
	unverified   prometheus.Gauge
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
	m.reports.WithLabelValues("ok")
	m.reports.WithLabelValues("error")
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.admissions, m.participants, m.reports, m.unverified}
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
