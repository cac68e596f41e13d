package directoryhttp_test

import (
	"net/http"
	"testing"

	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/internal/sharedtest"
)

// TestJoinWithMaxMindDatabase places participants with MaxMind's GeoIP2 Country test database
// (a real MaxMind DB file): 175.16.199.0/24 is CN, 216.160.83.56/29 US, 81.2.69.142/31 GB.
func TestJoinWithMaxMindDatabase(t *testing.T) {
	db, err := geoip.Open(sharedtest.Path(t, "geoip/GeoIP2-Country-Test.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := newEnv(t, "../../examples/world.yaml", func(c *envConfig) { c.HTTP.GeoIP = db })
	e.report(0, true)
	na := e.meeting("initech") // apac, basic
	tests := []struct {
		ip         string
		wantStatus int
		wantRegion string
	}{
		{"175.16.199.7", http.StatusForbidden, ""}, // CN: china-stays-in-china
		{"216.160.83.57", http.StatusOK, "na"},
		{"81.2.69.142", http.StatusOK, "eu"},
		{"10.0.0.1", http.StatusOK, "row"}, // unknown: the default region
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			var a joinAnswer
			st, _ := e.do("POST", "/v1/meetings/"+na+"/join", tt.ip, map[string]string{"account": "initech"}, &a)
			if st != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", st, a.Message, tt.wantStatus)
			}
			if st != http.StatusOK {
				return
			}
			c, err := e.keys.Verify(a.Token)
			if err != nil {
				t.Fatal(err)
			}
			if c.Context.ParticipantRegion != tt.wantRegion {
				t.Errorf("participant region %q, want %q", c.Context.ParticipantRegion, tt.wantRegion)
			}
		})
	}
}
