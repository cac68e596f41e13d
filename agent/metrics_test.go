package agent

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"

	"github.com/prometheus/client_golang/prometheus"
)

// value returns the value of the series name{labels} in reg, or -1 when there is none.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	ks := newKeyServer(t)
	reg := prometheus.NewRegistry()
	rk := ks.remoteKeys(t)
	sjc := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: rk, Registry: reg, Unverified: true})
	// A second agent on the same registry: `geofence dev` runs one per datacenter.
	newAgent(t, Config{ID: "us-den", Model: m, Keys: rk, Registry: reg})
	if _, err := New(Config{ID: "us-sjc", Model: m, Keys: rk, Registry: reg}); err == nil {
		t.Errorf("a second us-sjc agent on the same registry: got no error, want one")
	}
	base := startAgent(t, sjc)
	hc := testClient(t, 30*time.Second)
	if got := connect(t, hc, base, ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))); got.status != http.StatusOK {
		t.Fatalf("connect: got %d", got.status)
	}
	connect(t, hc, base, ks.sign(t, naClaims(m, []string{"us-den"}, nil)))

	sjcL := func(kv ...string) map[string]string {
		l := map[string]string{"datacenter": "us-sjc"}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"admitted", "geofence_agent_admissions_total", sjcL("outcome", "admitted"), 1},
		{"not listed", "geofence_agent_admissions_total", sjcL("outcome", "not_listed"), 1},
		{"residency conflicts at zero", "geofence_agent_admissions_total", sjcL("outcome", "residency_conflict"), 0},
		{"participants", "geofence_agent_participants", sjcL(), 1},
		{"other agent's participants", "geofence_agent_participants", map[string]string{"datacenter": "us-den"}, 0},
		{"unverified", "geofence_agent_config_unverified", sjcL(), 1},
		{"other agent verified", "geofence_agent_config_unverified", map[string]string{"datacenter": "us-den"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := value(t, reg, tt.metric, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
}

// TestMetricNames lints the names against the house convention (STYLE.md, habit 12).
func TestMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg, "x"); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^geofence_agent_[a-z_]+$`)
	for _, f := range fams {
		name := f.GetName()
		if !re.MatchString(name) {
			t.Errorf("metric %s is not named geofence_agent_<name>", name)
		}
		if f.GetType().String() == "COUNTER" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if f.GetHelp() == "" {
			t.Errorf("metric %s has no help", name)
		}
	}
}
