package kms

import (
	"fmt"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// refusalCodes are the wire error codes a key server answers with: the "reason" label of
// geofence_kms_refusals_total, whose series exist from the start.
var refusalCodes = []string{
	wire.CodeBadRequest, wire.CodeBadPublicKey, wire.CodeInvalidTicket, wire.CodeMeetingMismatch, wire.CodeNotListed,
	wire.CodeResidencyConflict, wire.CodePlanConflict, wire.CodePublicKeyMismatch, wire.CodeLeft, wire.CodeUnknownEpoch,
	wire.CodeE2EEMeeting, wire.CodeEpochExpired, wire.CodeKeysUnavailable, wire.CodeInternal,
}

// metrics are the key server's Prometheus metrics. Every series carries a constant
// "datacenter" label, so that the key servers `geofence dev` runs in one process can share a
// registry.
//
//   - geofence_kms_issuances_total{suite}: keys issued, by keywrap suite (x25519,
//     mlkem768x25519).
//   - geofence_kms_refusals_total{reason,rule}: key and leave requests refused, by wire error
//     code and, for residency conflicts a rule decides, the rule. residency_conflict,
//     plan_conflict and not_listed mean a ticket reached a key server it should never have
//     reached: alert on them.
//   - geofence_kms_rotations_total: epochs superseded because participants left.
//   - geofence_kms_leaves_total{outcome}: leaves by what they did: rotated (the key at once),
//     coalesced (into the rotation due at the end of the rotate interval: the rate limit
//     held), repeated (the ticket had left already), no_key (no key here to rotate).
//   - geofence_kms_config_unverified: 1 when the key server runs a config that failed
//     `geofence verify` (--allow-unverified).
type metrics struct {
	issuances  *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	rotations  prometheus.Counter
	leaves     *prometheus.CounterVec
	unverified prometheus.Gauge
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.issuances, m.refusals, m.rotations, m.leaves, m.unverified}
}

func newMetrics(reg prometheus.Registerer, dc string) (*metrics, error) {
	labels := prometheus.Labels{"datacenter": dc}
	m := &metrics{
		issuances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "geofence_kms_issuances_total",
			Help:        "Meeting keys the key server issued, wrapped to a participant, by HPKE suite.",
			ConstLabels: labels,
		}, []string{"suite"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "geofence_kms_refusals_total",
			Help:        "Key and leave requests the key server refused, by reason and forbidding rule.",
			ConstLabels: labels,
		}, []string{"reason", "rule"}),
		rotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "geofence_kms_rotations_total",
			Help:        "Meeting key epochs superseded because participants left.",
			ConstLabels: labels,
		}),
		leaves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "geofence_kms_leaves_total",
			Help:        "Leaves the key server recorded, by outcome: rotated at once, coalesced into a pending rotation, repeated, no_key.",
			ConstLabels: labels,
		}, []string{"outcome"}),
		unverified: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "geofence_kms_config_unverified",
			Help:        "1 when the key server runs a config that failed geofence verify (--allow-unverified).",
			ConstLabels: labels,
		}),
	}
	// Create the series at zero, so that rate() and alerts see a refusal's first occurrence.
	for _, s := range []keywrap.Suite{keywrap.X25519, keywrap.MLKEM768X25519} {
		m.issuances.WithLabelValues(s.String())
	}
	for _, c := range refusalCodes {
		m.refusals.WithLabelValues(c, "")
	}
	for _, o := range leaveOutcomes {
		m.leaves.WithLabelValues(o)
	}
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
