package directoryhttp_test

import (
	"net/http"
	"slices"
	"testing"
)

// TestApril2020 replays the incident on examples/april-2020.yaml, served although it does not
// verify (--allow-unverified): both Chinese DCs sit on every other region's backup list and a
// Beijing key server on North America's. North America's primaries are saturated, then killed,
// then its key servers too. No North American participant is ever handed a Chinese DC or key
// server; when nothing allowed is left the answer is an explicit refusal (I1, I2, I4).
func TestApril2020(t *testing.T) {
	e := newEnv(t, "../../examples/april-2020.yaml", nil)
	naPrimaries := []string{"us-sjc", "us-den", "us-nyc", "us-iad", "ca-yyz", "ca-yvr"}
	naKMS := []string{"us-sjc", "us-nyc", "us-iad", "ca-yyz"}
	steps := []struct {
		name       string
		util       float64 // of North America's primaries
		down       []string
		wantStatus int
		wantListed []string // DCs the tickets must include
	}{
		{name: "normal load", wantStatus: 200, wantListed: []string{"us-den"}},
		{name: "primaries over the watermark", util: 0.95, wantStatus: 200, wantListed: []string{"us-iad", "eu-ams"}},
		// A full DC is not usable for any service (DESIGN.md section 4), so North America's
		// co-located key servers are full too: refused, not bridged through Beijing.
		{name: "primaries full", util: 1, wantStatus: 503},
		{name: "primaries killed", down: naPrimaries, wantStatus: 503},
		{name: "primaries and European backups killed", down: append(slices.Clone(naPrimaries), "eu-ams", "eu-fra", "br-gru"), wantStatus: 503},
		{name: "key servers killed, media up", down: naKMS, wantStatus: 503},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			e.report(0, true)
			if step.util > 0 {
				for _, d := range naPrimaries {
					id, _ := e.model.DC(d)
					e.report(int64(step.util*float64(e.model.DCs[id].Capacity)), true, d)
				}
			}
			if len(step.down) > 0 {
				e.report(0, false, step.down...)
			}
			for _, cc := range []string{"US", "CA"} {
				for range 20 {
					mt := e.meeting("acme")
					st, a, _ := e.join(mt, "initech", cc)
					if st != step.wantStatus {
						t.Fatalf("%s participant: status %d (%s %s), want %d", cc, st, a.Error, a.Message, step.wantStatus)
					}
					for _, d := range slices.Concat(a.Primary, a.Secondary, a.KMS) {
						if d.Country == "CN" {
							t.Fatalf("%s participant of a North American meeting handed %s in China", cc, d.ID)
						}
					}
					if st != http.StatusOK {
						continue
					}
					c, err := e.keys.Verify(a.Token)
					if err != nil {
						t.Fatal(err)
					}
					for _, d := range slices.Concat(c.Primary, c.Secondary, c.KMS) {
						if d.Country == "CN" {
							t.Fatalf("signed ticket names %s in China", d.ID)
						}
					}
					got := ids(slices.Concat(a.Primary, a.Secondary))
					for _, w := range step.wantListed {
						if !slices.Contains(got, w) {
							t.Errorf("ticket %v lacks %s", got, w)
						}
					}
				}
			}
		})
	}
}
