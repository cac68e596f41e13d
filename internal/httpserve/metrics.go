package httpserve

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the connection metrics of the servers of one process. Every series carries a
// "server" label (Options.Name), so the servers of `geofence dev` share one registry.
//
//   - geofence_http_connections_open{server}: connections held now.
//   - geofence_http_connections_total{server}: connections accepted, refused ones included.
//   - geofence_http_connections_refused_total{server}: connections closed at once because
//     the server held MaxConns already. Any rate means the cap is hit: a flood, or a cap too
//     low for the load.
//   - geofence_http_timeouts_total{server,phase}: connections a deadline ended: phase
//     "request" (headers or body not received within ReadHeaderTimeout or ReadTimeout: a slow
//     or stalled client, or one holding connections open), "idle" (a keep-alive connection
//     past IdleTimeout, which is normal) or "write" (the answer not taken within
//     WriteTimeout).
type Metrics struct {
	open     *prometheus.GaugeVec
	accepted *prometheus.CounterVec
	refused  *prometheus.CounterVec
	timeouts *prometheus.CounterVec
}

func newMetrics() *Metrics {
	return &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "geofence_http_connections_open",
			Help: "HTTP connections the server holds now.",
		}, []string{"server"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_http_connections_total",
			Help: "HTTP connections the server accepted, refused ones included.",
		}, []string{"server"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_http_connections_refused_total",
			Help: "HTTP connections closed as soon as accepted because the server held its maximum of connections.",
		}, []string{"server"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_http_timeouts_total",
			Help: "HTTP connections a deadline ended, by phase: request (headers or body too slow), idle (keep-alive), write.",
		}, []string{"server", "phase"}),
	}
}

// NewMetrics returns the connection metrics registered on reg; nil registers them nowhere.
// Calling it again with the same registry returns metrics that share the registered series,
// so that every server of a process can call it.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	if reg == nil {
		return m, nil
	}
	var err error
	if m.open, err = register(reg, m.open); err != nil {
		return nil, err
	}
	if m.accepted, err = register(reg, m.accepted); err != nil {
		return nil, err
	}
	if m.refused, err = register(reg, m.refused); err != nil {
		return nil, err
	}
	if m.timeouts, err = register(reg, m.timeouts); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg, or returns the collector of the same description registered
// already.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("register http metrics: %w", err)
	}
	return c, nil
}

// serverMetrics are one server's series.
type serverMetrics struct {
	open     prometheus.Gauge
	accepted prometheus.Counter
	refused  prometheus.Counter
	timeouts *prometheus.CounterVec
}

func (m *Metrics) server(name string) *serverMetrics {
	sm := &serverMetrics{
		open:     m.open.WithLabelValues(name),
		accepted: m.accepted.WithLabelValues(name),
		refused:  m.refused.WithLabelValues(name),
		timeouts: m.timeouts,
	}
	// Create the series at zero, so that rate() and alerts see the first refusal.
	for _, phase := range []string{"request", "idle", "write"} {
		m.timeouts.WithLabelValues(name, phase)
	}
	return sm
}
