package kms

import (
	"os"
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
)

// TestSetModel: a pushed config is checked with from then on; one in which this datacenter no
// longer runs a key server is refused and the key server keeps its model.
func TestSetModel(t *testing.T) {
	e := newEnv(t, "us-sjc", nil)
	src, err := os.ReadFile(aprilPath)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) *policy.Model {
		t.Helper()
		c, _ := config.Parse("april.yaml", []byte(s)) // pushed around the checks
		m, err := policy.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	same := parse(string(src))
	e.srv.SetModel(same)
	if e.srv.model.Load() != same {
		t.Fatal("a config with this key server was not swapped in")
	}
	noKMS := parse(strings.Replace(string(src), "services: [media, kms]", "services: [media]", 1))
	if d, ok := noKMS.DC("us-sjc"); !ok || noKMS.DCs[d].KMS {
		t.Skip("the edit did not reach us-sjc; the April world changed")
	}
	e.srv.SetModel(noKMS)
	if e.srv.model.Load() != same {
		t.Error("a config without this datacenter's key server was swapped in")
	}
}
