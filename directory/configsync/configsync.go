// Package configsync keeps a process's model in step with the config pushed to the
// deployment's store (DESIGN.md section 9): each pushed config is parsed and verified again
// here, and swapped in only when it verifies; one that does not is refused, logged and counted,
// and the process keeps serving the model it had. Routing can never be widened by a push that
// the process's own verifier rejects (I2, I4).
package configsync

import (
	"context"
	"log/slog"
	"strings"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
	"github.com/prometheus/client_golang/prometheus"
)

// Target is what a new model is swapped into; *directory.Core is one.
type Target interface {
	SetModel(m *policy.Model)
}

// Source is where pushed configs come from; *etcdstore.Store is one.
type Source interface {
	Config(ctx context.Context) (etcdstore.ConfigRecord, error)
	WatchConfig(ctx context.Context, after int64, fn func(etcdstore.ConfigRecord))
}

var _ Source = (*etcdstore.Store)(nil)

// Syncer applies pushed configs to a target.
type Syncer struct {
	// OnApply, when set before Run, is told of every config swapped in, after the swap: the
	// evidence log records config changes through it (I6).
	OnApply func(rec etcdstore.ConfigRecord, m *policy.Model, rep *verify.Report)

	src     Source
	target  Target
	log     *slog.Logger
	applied *prometheus.CounterVec
	rev     prometheus.Gauge
}

// New returns a Syncer; reg receives its metrics (nil: none), log its records (nil: none).
func New(src Source, target Target, reg prometheus.Registerer, log *slog.Logger) (*Syncer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Syncer{src: src, target: target, log: log,
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geofence_config_pushes_total", Help: "Pushed configs seen, by outcome: applied, or rejected (did not verify here).",
		}, []string{"outcome"}),
		rev: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "geofence_config_revision", Help: "Store revision of the pushed config in force (0: the one the process started with).",
		}),
	}
	s.applied.WithLabelValues("applied")
	s.applied.WithLabelValues("rejected")
	if reg != nil {
		for _, c := range []prometheus.Collector{s.applied, s.rev} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Metrics is the counter of pushes by outcome, for tests and dashboards.
func (s *Syncer) Metrics() *prometheus.CounterVec { return s.applied }

// Apply verifies rec and swaps its model in; it reports whether it did.
func (s *Syncer) Apply(rec etcdstore.ConfigRecord) bool {
	c, errs := config.Parse(rec.Name, rec.YAML)
	rep, m := verify.Config(c, errs, verify.Options{})
	if !rep.OK || m == nil {
		var lines []string
		for _, f := range rep.Findings {
			if f.Severity == verify.Error {
				lines = append(lines, f.String())
			}
		}
		s.applied.WithLabelValues("rejected").Inc()
		s.log.Error("pushed config refused: it does not verify here; serving the previous model",
			"revision", rec.Revision, "digest", rec.Digest, "errors", strings.Join(lines, "; "))
		return false
	}
	s.target.SetModel(m)
	if s.OnApply != nil {
		s.OnApply(rec, m, rep)
	}
	s.applied.WithLabelValues("applied").Inc()
	s.rev.Set(float64(rec.Revision))
	s.log.Info("pushed config applied", "revision", rec.Revision, "digest", rec.Digest, "name", rec.Name)
	return true
}

// Run applies the config stored now, if any, then every config pushed after it, until ctx is
// done.
func (s *Syncer) Run(ctx context.Context) {
	after := int64(0)
	if rec, err := s.src.Config(ctx); err == nil {
		s.Apply(rec)
		after = rec.Revision
	}
	s.src.WatchConfig(ctx, after, func(rec etcdstore.ConfigRecord) { s.Apply(rec) })
}
