package kms

import (
	"fmt"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/policy"
	"github.com/prometheus/client_golang/prometheus"
)

// Refusal codes: the "error" of an error answer and the "reason" label of
// geofence_kms_refusals_total.
const (
	CodeBadRequest        = "bad_request"                // 400: the body is not a key or leave request
	CodeBadPublicKey      = "bad_public_key"             // 400: the ticket carries no usable public key
	CodeInvalidTicket     = "invalid_ticket"             // 401: signature, issuer or lifetime
	CodeMeetingMismatch   = "meeting_mismatch"           // 403: the ticket is for another meeting
	CodeNotListed         = "not_listed"                 // 403: the ticket does not list this key server
	CodeResidencyConflict = policy.CodeResidencyConflict // 403: I1 forbids this datacenter
	CodePlanConflict      = policy.CodePlanConflict      // 403: I3, dedicated class mismatch
	CodePublicKeyMismatch = "public_key_mismatch"        // 403: the request names another public key
	CodeLeft              = "left_meeting"               // 403: the ticket was presented to leave
	CodeUnknownEpoch      = "unknown_epoch"              // 404: no such epoch (yet)
	CodeE2EEMeeting       = "e2ee_meeting"               // 409: E2EE meetings have no server-held key
	CodeEpochExpired      = "epoch_expired"              // 410: superseded and past retention
	CodeKeysUnavailable   = "keys_unavailable"           // 503: the ticket keys cannot be fetched
	CodeInternal          = "internal"                   // 500: a bug; never expected
)

var refusalCodes = []string{
	CodeBadRequest, CodeBadPublicKey, CodeInvalidTicket, CodeMeetingMismatch, CodeNotListed,
	CodeResidencyConflict, CodePlanConflict, CodePublicKeyMismatch, CodeLeft, CodeUnknownEpoch,
	CodeE2EEMeeting, CodeEpochExpired, CodeKeysUnavailable, CodeInternal,
}

// metrics are the key server's Prometheus metrics. Every series carries a constant
// "datacenter" label, so that the key servers `geofence dev` runs in one process can share a
// registry.
//
//   - geofence_kms_issuances_total{suite}: keys issued, by keywrap suite (x25519,
//     mlkem768x25519).
//   - geofence_kms_refusals_total{reason,rule}: key and leave requests refused, by refusal
//     code and, for residency conflicts a rule decides, the rule. residency_conflict,
//     plan_conflict and not_listed mean a ticket reached a key server it should never have
//     reached: alert on them.
//   - geofence_kms_rotations_total: epochs superseded because a participant left.
//   - geofence_kms_config_unverified: 1 when the key server runs a config that failed
//     `geofence verify` (--allow-unverified).
type metrics struct {
	issuances  *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	rotations  prometheus.Counter
	unverified prometheus.Gauge
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
			Help:        "Meeting key epochs superseded because a participant left.",
			ConstLabels: labels,
		}),
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
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.issuances, m.refusals, m.rotations, m.unverified}
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
