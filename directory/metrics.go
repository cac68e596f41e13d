package directory

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the core's Prometheus metrics (documented in docs/metrics.md).
type metrics struct {
	joins       *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	selection   prometheus.Histogram
	secondaries prometheus.Counter
	rehomes     prometheus.Counter
	reports     *prometheus.CounterVec
	meetings    *prometheus.CounterVec
	created     prometheus.Counter // meetings{event="created"}, resolved once: it is counted per meeting
	ended       prometheus.Counter // meetings{event="ended"}
	limits      *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
}

func newMetrics(c *Core, reg prometheus.Registerer) (*metrics, error) {
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
		secondaries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geofence_directory_secondaries_total", Help: "Secondary datacenters handed out in tickets.",
		}),
		rehomes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geofence_directory_rehomes_total", Help: "Meetings re-homed because their home datacenter was down.",
		}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_directory_load_reports_total", Help: "Datacenter load reports by outcome.",
		}, []string{"outcome"}),
		meetings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_directory_meetings_total", Help: "Meetings by event: created, ended, expired (idle timeout).",
		}, []string{"event"}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_directory_limits_total", Help: "Requests refused because a bound was reached, by bound.",
		}, []string{"limit"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_directory_store_errors_total", Help: "Store calls that failed (unreachable, timed out), by operation; the request was refused with 503 store_unavailable.",
		}, []string{"op"}),
	}
	for _, ev := range []string{"created", "ended", "expired"} {
		m.meetings.WithLabelValues(ev)
	}
	m.created, m.ended = m.meetings.WithLabelValues("created"), m.meetings.WithLabelValues("ended")
	if reg == nil {
		return m, nil
	}
	unverified := 0.0
	if c.cfg.Unverified {
		unverified = 1
	}
	cs := []prometheus.Collector{m.joins, m.refusals, m.selection, m.secondaries, m.rehomes, m.reports, m.meetings, m.limits, m.storeErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "geofence_directory_unverified_config", Help: "1 when the config in force did not verify (--allow-unverified).",
		}, func() float64 { return unverified }),
		dcCollector{c},
	}
	for _, col := range cs {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var (
	dcUtilDesc = prometheus.NewDesc("geofence_directory_dc_utilization", "Datacenter utilization as the directory sees it (reported plus placed, over capacity).", []string{"dc", "region"}, nil)
	dcUpDesc   = prometheus.NewDesc("geofence_directory_dc_up", "1 when the datacenter is up (recent healthy load report).", []string{"dc", "region"}, nil)
)

// dcCollector reads DC state at scrape time.
type dcCollector struct{ c *Core }

func (d dcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dcUtilDesc; ch <- dcUpDesc }

func (d dcCollector) Collect(ch chan<- prometheus.Metric) {
	for _, dc := range d.c.Datacenters() {
		up := 1.0
		if dc.Down {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(dcUtilDesc, prometheus.GaugeValue, dc.Utilization, dc.ID, dc.Region)
		ch <- prometheus.MustNewConstMetric(dcUpDesc, prometheus.GaugeValue, up, dc.ID, dc.Region)
	}
}
