package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
)

const testFile = "test.yaml"

// valid is testdata/valid.yaml: a small config without problems whose lines the cases below
// edit. Its lines, for reading the positions in the tables:
//
//	 1 version: 1
//	 2 default_region: row
//	 3 regions:
//	 4   na: {name: North America, countries: [US, CA], peak: 100}
//	 5   row: {countries: []}
//	 6 plans:
//	 7   basic: {}
//	 8   gov: {dedicated: government, regions: [na]}
//	 9 datacenters:
//	10   us-a: {name: A, country: US, location: [37.3, -121.9], capacity: 100, services: [media, kms]}
//	11   us-g: {country: US, location: [39.9, -83.0], capacity: 10, services: [media, kms], dedicated: government}
//	12   de-a: {country: DE, location: [50.1, 8.7], capacity: 100, services: [media, kms]}
//	13 routing:
//	14   regions:
//	15     na: {primary: [us-a, us-g], secondary: [de-a], kms: [us-a, us-g]}
//	16     row: {primary: [de-a], kms: [de-a]}
//	17 residency:
//	18   gov-us: {applies_to: ["*"], plans: [gov], allow: [US]}
//	19 accounts:
//	20   acme: {plan: basic, home_region: na, data_regions: [na]}
func valid(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit returns valid.yaml with lines (1-based) replaced. A replacement may hold several lines;
// line 21 is the empty line after the final newline, so replacing it appends.
func edit(t *testing.T, lines map[int]string) []byte {
	t.Helper()
	ls := strings.Split(string(valid(t)), "\n")
	for n, s := range lines {
		if n < 1 || n > len(ls) {
			t.Fatalf("edit: line %d out of range", n)
		}
		ls[n-1] = s
	}
	return []byte(strings.Join(ls, "\n"))
}

// wantErr is one expected problem; msg is a substring of its message.
type wantErr struct {
	line, col int
	path      string
	code      string
	msg       string
}

func (w wantErr) String() string {
	return fmt.Sprintf("%d:%d %s [%s] %q", w.line, w.col, w.path, w.code, w.msg)
}

func describe(errs config.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n\t%v [%s]", e, e.Code)
	}
	return b.String()
}

// checkErrs asserts that errs are exactly want, in order, each with the right file, position,
// path and code.
func checkErrs(t *testing.T, errs config.ErrorList, want []wantErr) {
	t.Helper()
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:%s\nwant: %v", len(errs), len(want), describe(errs), want)
	}
	for i, w := range want {
		e := errs[i]
		if e.File != testFile {
			t.Errorf("error %d: got file %q, want %q", i, e.File, testFile)
		}
		if e.Pos.Line != w.line || e.Pos.Col != w.col {
			t.Errorf("error %d (%v): got position %d:%d, want %d:%d", i, e, e.Pos.Line, e.Pos.Col, w.line, w.col)
		}
		if e.Path != w.path {
			t.Errorf("error %d (%v): got path %q, want %q", i, e, e.Path, w.path)
		}
		if e.Code != w.code {
			t.Errorf("error %d (%v): got code %q, want %q", i, e, e.Code, w.code)
		}
		if !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d: got message %q, want it to contain %q", i, e.Msg, w.msg)
		}
		wantText := fmt.Sprintf("%s:%d:%d: ", testFile, w.line, w.col)
		if w.path != "" {
			wantText += w.path + ": "
		}
		if got := e.Error(); !strings.HasPrefix(got, wantText) {
			t.Errorf("error %d: got Error() %q, want it to start with %q", i, got, wantText)
		}
	}
}

const (
	structure = config.CodeStructure
	reference = config.CodeReference
)

func TestParseValid(t *testing.T) {
	c, errs := config.Parse(testFile, valid(t))
	if len(errs) != 0 {
		t.Fatalf("got errors for testdata/valid.yaml:%s", describe(errs))
	}
	if c.File != testFile || c.Version != 1 || c.DefaultRegion.Value != "row" || c.DefaultRegion.Pos != (config.Pos{Line: 2, Col: 17}) {
		t.Errorf("got file %q version %d default_region %+v, want %q 1 row at 2:17", c.File, c.Version, c.DefaultRegion, testFile)
	}
	var got []string
	for _, r := range c.Regions {
		got = append(got, r.ID)
	}
	for _, p := range c.Plans {
		got = append(got, p.ID)
	}
	for _, d := range c.Datacenters {
		got = append(got, d.ID)
	}
	for _, r := range c.Residency {
		got = append(got, r.ID)
	}
	for _, a := range c.Accounts {
		got = append(got, a.ID)
	}
	if want := "na row basic gov us-a us-g de-a gov-us acme"; strings.Join(got, " ") != want {
		t.Errorf("got ids %q, want %q (file order)", strings.Join(got, " "), want)
	}
	na := c.Regions[0]
	if na.Name != "North America" || na.Peak != 100 || len(na.Countries) != 2 || na.Countries[1] != (config.Name{Value: "CA", Pos: config.Pos{Line: 4, Col: 45}, Index: 1}) {
		t.Errorf("got region na %+v, want North America, peak 100, countries US, CA (CA at 4:45)", na)
	}
	if row := c.Regions[1]; row.Countries == nil || len(row.Countries) != 0 {
		t.Errorf("got region row countries %#v, want an empty list", row.Countries)
	}
	if gov := c.Plans[1]; gov.Dedicated.Value != "government" || len(gov.Regions) != 1 || gov.Regions[0].Value != "na" {
		t.Errorf("got plan gov %+v, want dedicated government offered in na", gov)
	}
	if basic := c.Plans[0]; basic.Regions != nil || basic.Dedicated.Value != "" {
		t.Errorf("got plan basic %+v, want no dedicated class and regions nil (offered everywhere)", basic)
	}
	usa := c.Datacenters[0]
	if usa.Country.Value != "US" || usa.Location.Lat != 37.3 || usa.Location.Lon != -121.9 || usa.Capacity != 100 ||
		!usa.Runs(config.Media) || !usa.Runs(config.KMS) || usa.Pos != (config.Pos{Line: 10, Col: 3}) || usa.LocationPos != (config.Pos{Line: 10, Col: 42}) {
		t.Errorf("got datacenter us-a %+v", usa)
	}
	if c.Datacenters[1].Dedicated.Value != "government" {
		t.Errorf("got us-g dedicated %q, want government", c.Datacenters[1].Dedicated.Value)
	}
	if len(c.Routing.Regions) != 2 {
		t.Fatalf("got %d routing regions, want 2", len(c.Routing.Regions))
	}
	na15 := c.Routing.Regions[0]
	if len(na15.List(config.Primary)) != 2 || len(na15.List(config.Secondary)) != 1 || len(na15.List(config.KMSList)) != 2 ||
		na15.Primary[1] != (config.Name{Value: "us-g", Pos: config.Pos{Line: 15, Col: 26}, Index: 1}) {
		t.Errorf("got na routing %+v, want primary [us-a us-g] (us-g at 15:26), secondary [de-a], kms [us-a us-g]", na15)
	}
	if row := c.Routing.Regions[1]; row.Secondary != nil {
		t.Errorf("got row secondary %#v, want nil (not given)", row.Secondary)
	}
	rule := c.Residency[0]
	if len(rule.AppliesTo) != 1 || rule.AppliesTo[0].Value != config.AllRegions || len(rule.Plans) != 1 || len(rule.Allow) != 1 || rule.Deny != nil || rule.Except != nil {
		t.Errorf("got rule %+v, want applies_to [*], plans [gov], allow [US]", rule)
	}
	if a := c.Accounts[0]; a.Plan.Value != "basic" || a.HomeRegion.Value != "na" || len(a.DataRegions) != 1 {
		t.Errorf("got account %+v, want plan basic, home_region na, data_regions [na]", a)
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name      string
		routing   string // replaces line 13 "routing:"
		primary   int
		secondary int
		watermark float64
	}{
		{"defaults", "routing:", 3, 2, 0.8},
		{"all set", "routing:\n  primary_count: 5\n  secondary_count: 0\n  high_watermark: 1", 5, 0, 1},
		{"watermark only", "routing:\n  high_watermark: 0.5", 3, 2, 0.5},
		{"counts only", "routing:\n  primary_count: 1\n  secondary_count: 4", 1, 4, 0.8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, errs := config.Parse(testFile, edit(t, map[int]string{13: tt.routing}))
			if len(errs) != 0 {
				t.Fatalf("got errors:%s", describe(errs))
			}
			r := c.Routing
			if r.PrimaryCount != tt.primary || r.SecondaryCount != tt.secondary || r.HighWatermark != tt.watermark {
				t.Errorf("got primary_count %d, secondary_count %d, high_watermark %g; want %d, %d, %g",
					r.PrimaryCount, r.SecondaryCount, r.HighWatermark, tt.primary, tt.secondary, tt.watermark)
			}
		})
	}
	if config.DefaultPrimaryCount != 3 || config.DefaultSecondaryCount != 2 || config.DefaultHighWatermark != 0.8 {
		t.Errorf("got defaults %d, %d, %g; want 3, 2, 0.8 (DESIGN.md section 5)",
			config.DefaultPrimaryCount, config.DefaultSecondaryCount, config.DefaultHighWatermark)
	}
}

func TestParseErrors(t *testing.T) {
	type test struct {
		name  string
		edits map[int]string
		want  []wantErr
	}
	tests := []test{
		// Unknown keys, at every level.
		{"unknown top-level key", map[int]string{21: "colour: red"},
			[]wantErr{{21, 1, "colour", structure, `unknown key "colour" (expected one of version, default_region, regions, plans, datacenters, routing, residency, accounts, stores)`}}},
		{"unknown region key", map[int]string{4: "  na: {name: North America, countries: [US, CA], peak: 100, colour: red}"},
			[]wantErr{{4, 61, "regions.na.colour", structure, `unknown key "colour" (expected one of name, countries, peak)`}}},
		{"misspelt required region key", map[int]string{5: "  row: {countrys: []}"},
			[]wantErr{
				{5, 8, "regions.row.countries", structure, `missing required key "countries"`},
				{5, 9, "regions.row.countrys", structure, `unknown key "countrys"`},
			}},
		{"unknown plan key", map[int]string{7: "  basic: {colour: red}"},
			[]wantErr{{7, 11, "plans.basic.colour", structure, `unknown key "colour" (expected one of dedicated, regions)`}}},
		{"unknown datacenter key", map[int]string{12: "  de-a: {country: DE, location: [50.1, 8.7], capacity: 100, services: [media, kms], colour: red}"},
			[]wantErr{{12, 85, "datacenters.de-a.colour", structure, `unknown key "colour"`}}},
		{"unknown routing key", map[int]string{13: "routing:\n  colour: red"},
			[]wantErr{{14, 3, "routing.colour", structure, `unknown key "colour" (expected one of primary_count, secondary_count, high_watermark, regions)`}}},
		{"unknown routing region key", map[int]string{16: "    row: {primary: [de-a], kms: [de-a], colour: red}"},
			[]wantErr{{16, 41, "routing.regions.row.colour", structure, `unknown key "colour" (expected one of primary, secondary, kms)`}}},
		{"unknown rule key", map[int]string{18: `  gov-us: {applies_to: ["*"], plans: [gov], allow: [US], colour: red}`},
			[]wantErr{{18, 58, "residency.gov-us.colour", structure, `unknown key "colour" (expected one of applies_to, except, plans, allow, deny)`}}},
		{"unknown account key", map[int]string{20: "  acme: {plan: basic, home_region: na, data_regions: [na], colour: red}"},
			[]wantErr{{20, 60, "accounts.acme.colour", structure, `unknown key "colour" (expected one of plan, home_region, data_regions, keys)`}}},

		// Duplicate keys and ids.
		{"duplicate top-level key", map[int]string{21: "version: 1"},
			[]wantErr{{21, 1, "version", structure, `duplicate key "version"`}}},
		{"duplicate datacenter key", map[int]string{12: "  de-a: {country: DE, country: FR, location: [50.1, 8.7], capacity: 100, services: [media, kms]}"},
			[]wantErr{{12, 23, "datacenters.de-a.country", structure, `duplicate key "country"`}}},
		{"duplicate id", map[int]string{20: "  acme: {plan: basic, home_region: na}\n  acme: {plan: gov, home_region: na}"},
			[]wantErr{{21, 3, "accounts.acme", structure, `duplicate id "acme"`}}},
		{"id with a space", map[int]string{20: `  "ac me": {plan: basic, home_region: na}`},
			[]wantErr{{20, 3, "accounts.ac me", structure, `id "ac me" has characters other than`}}},

		// Wrong types.
		{"version is a string", map[int]string{1: `version: "1"`},
			[]wantErr{{1, 10, "version", structure, `expected an integer, got "1"`}}},
		{"section is a list", map[int]string{19: "accounts: [acme]", 20: ""},
			[]wantErr{{19, 11, "accounts", structure, "expected a mapping of ids, got a list"}}},
		{"countries is a scalar", map[int]string{5: "  row: {countries: US}"},
			[]wantErr{{5, 20, "regions.row.countries", structure, `expected a list, got "US"`}}},
		{"peak is not a number", map[int]string{4: "  na: {name: North America, countries: [US, CA], peak: lots}"},
			[]wantErr{{4, 56, "regions.na.peak", structure, `expected an integer, got "lots"`}}},
		{"dedicated is a list", map[int]string{8: "  gov: {dedicated: [government], regions: [na]}"},
			[]wantErr{{8, 20, "plans.gov.dedicated", structure, "expected a string, got a list"}}},
		{"capacity is a string", map[int]string{12: `  de-a: {country: DE, location: [50.1, 8.7], capacity: "100", services: [media, kms]}`},
			[]wantErr{{12, 56, "datacenters.de-a.capacity", structure, `expected an integer, got "100"`}}},
		{"location has one number", map[int]string{12: "  de-a: {country: DE, location: [50.1], capacity: 100, services: [media, kms]}"},
			[]wantErr{{12, 33, "datacenters.de-a.location", structure, "location must be [latitude, longitude]"}}},
		{"latitude is a word", map[int]string{12: "  de-a: {country: DE, location: [north, 8.7], capacity: 100, services: [media, kms]}"},
			[]wantErr{{12, 34, "datacenters.de-a.location[0]", structure, `expected a number, got "north"`}}},
		{"services is a scalar", map[int]string{12: "  de-a: {country: DE, location: [50.1, 8.7], capacity: 100, services: media}"},
			[]wantErr{
				{12, 71, "datacenters.de-a.services", structure, `expected a list, got "media"`},
				// de-a now runs nothing, so every list naming it is wrong too.
				{15, 45, "routing.regions.na.secondary[0]", structure, "datacenter de-a does not run media, which the secondary list needs"},
				{16, 21, "routing.regions.row.primary[0]", structure, "datacenter de-a does not run media, which the primary list needs"},
				{16, 34, "routing.regions.row.kms[0]", structure, "datacenter de-a does not run kms, which the kms list needs"},
			}},
		{"unknown service", map[int]string{12: "  de-a: {country: DE, location: [50.1, 8.7], capacity: 100, services: [media, video]}"},
			[]wantErr{
				{12, 79, "datacenters.de-a.services[1]", structure, `unknown service "video" (expected media or kms)`},
				{16, 34, "routing.regions.row.kms[0]", structure, "datacenter de-a does not run kms, which the kms list needs"},
			}},
		{"service listed twice", map[int]string{12: "  de-a: {country: DE, location: [50.1, 8.7], capacity: 100, services: [media, kms, media]}"},
			[]wantErr{{12, 84, "datacenters.de-a.services[2]", structure, "service media is listed twice"}}},
		{"primary_count is a word", map[int]string{13: "routing:\n  primary_count: three"},
			[]wantErr{{14, 18, "routing.primary_count", structure, `expected an integer, got "three"`}}},
		{"secondary_count out of range", map[int]string{13: "routing:\n  secondary_count: 65"},
			[]wantErr{{14, 20, "routing.secondary_count", structure, "secondary_count must be between 0 and 64, got 65"}}},
		{"high_watermark over 1", map[int]string{13: "routing:\n  high_watermark: 1.5"},
			[]wantErr{{14, 19, "routing.high_watermark", structure, "high_watermark must be in (0, 1], got 1.5"}}},
		{"empty dedicated class", map[int]string{11: `  us-g: {country: US, location: [39.9, -83.0], capacity: 10, services: [media, kms], dedicated: ""}`},
			[]wantErr{{11, 97, "datacenters.us-g.dedicated", structure, "dedicated class must not be empty"}}},
		{"rule neither allows nor denies", map[int]string{18: `  gov-us: {applies_to: ["*"], plans: [gov]}`},
			[]wantErr{{18, 3, "residency.gov-us", structure, "neither allows nor denies any country"}}},
		{"missing required datacenter key", map[int]string{12: "  de-a: {country: DE, location: [50.1, 8.7], services: [media, kms]}"},
			// de-a is dropped; the lists naming it are not also told it is unknown.
			[]wantErr{{12, 9, "datacenters.de-a.capacity", structure, `missing required key "capacity"`}}},

		// Values out of range.
		{"version 2", map[int]string{1: "version: 2"},
			[]wantErr{{1, 10, "version", structure, "unsupported config version 2 (this geofence reads version 1)"}}},
		{"latitude out of range", map[int]string{12: "  de-a: {country: DE, location: [91, 8.7], capacity: 100, services: [media, kms]}"},
			[]wantErr{{12, 34, "datacenters.de-a.location[0]", structure, "latitude 91 is out of range [-90, 90]"}}},
		{"longitude out of range", map[int]string{12: "  de-a: {country: DE, location: [50.1, -180.5], capacity: 100, services: [media, kms]}"},
			[]wantErr{{12, 40, "datacenters.de-a.location[1]", structure, "longitude -180.5 is out of range [-180, 180]"}}},
		{"capacity zero", map[int]string{12: "  de-a: {country: DE, location: [50.1, 8.7], capacity: 0, services: [media, kms]}"},
			[]wantErr{{12, 56, "datacenters.de-a.capacity", structure, "capacity must be a positive number of participants, got 0"}}},
		{"capacity negative", map[int]string{12: "  de-a: {country: DE, location: [50.1, 8.7], capacity: -5, services: [media, kms]}"},
			[]wantErr{{12, 56, "datacenters.de-a.capacity", structure, "capacity must be a positive number of participants, got -5"}}},
		{"peak negative", map[int]string{4: "  na: {name: North America, countries: [US, CA], peak: -1}"},
			[]wantErr{{4, 56, "regions.na.peak", structure, "peak must not be negative, got -1"}}},

		// Countries.
		{"lower-case country with a hint", map[int]string{4: "  na: {name: North America, countries: [CA, us]}"},
			[]wantErr{{4, 45, "regions.na.countries[1]", structure, `"us" is not an assigned ISO 3166-1 alpha-2 country code (codes are upper case: US)`}}},
		{"country listed twice", map[int]string{4: "  na: {name: North America, countries: [US, CA, US]}"},
			[]wantErr{{4, 49, "regions.na.countries[2]", structure, "country US is listed twice"}}},
		{"country in two regions", map[int]string{5: "  row: {countries: [CA]}"},
			[]wantErr{{5, 21, "regions.row.countries[0]", structure, "country CA is in region na and in region row; a country belongs to at most one region"}}},

		// Unknown ids, in every kind of reference.
		{"unknown default_region", map[int]string{2: "default_region: rows"},
			[]wantErr{{2, 17, "default_region", reference, `unknown region "rows" (did you mean "row"?)`}}},
		{"unknown plan region", map[int]string{8: "  gov: {dedicated: government, regions: [na, eu]}"},
			[]wantErr{{8, 46, "plans.gov.regions[1]", reference, `unknown region "eu"`}}},
		{"unknown routing region", map[int]string{16: "    eu: {primary: [de-a], kms: [de-a]}"},
			[]wantErr{{16, 5, "routing.regions.eu", reference, `unknown region "eu"`}}},
		{"unknown primary datacenter", map[int]string{15: "    na: {primary: [us-a, us-x], secondary: [de-a], kms: [us-a, us-g]}"},
			[]wantErr{{15, 26, "routing.regions.na.primary[1]", reference, `unknown datacenter "us-x" (did you mean "us-a"?)`}}},
		{"unknown secondary datacenter", map[int]string{15: "    na: {primary: [us-a, us-g], secondary: [de-a, nope], kms: [us-a, us-g]}"},
			[]wantErr{{15, 51, "routing.regions.na.secondary[1]", reference, `unknown datacenter "nope"`}}},
		{"unknown kms datacenter", map[int]string{15: "    na: {primary: [us-a, us-g], secondary: [de-a], kms: [us-a, us-g, zz-kms]}"},
			[]wantErr{{15, 70, "routing.regions.na.kms[2]", reference, `unknown datacenter "zz-kms"`}}},
		{"unknown rule regions and plans", map[int]string{18: "  gov-us: {applies_to: [na, nowhere], except: [elsewhere], plans: [gov, nope], allow: [US]}"},
			[]wantErr{
				{18, 29, "residency.gov-us.applies_to[1]", reference, `unknown region "nowhere"`},
				{18, 48, "residency.gov-us.except[0]", reference, `unknown region "elsewhere"`},
				{18, 73, "residency.gov-us.plans[1]", reference, `unknown plan "nope"`},
			}},
		{"unknown account plan and regions", map[int]string{20: "  acme: {plan: premium, home_region: mars, data_regions: [na, venus]}"},
			[]wantErr{
				{20, 16, "accounts.acme.plan", reference, `unknown plan "premium"`},
				{20, 38, "accounts.acme.home_region", reference, `unknown region "mars"`},
				{20, 63, "accounts.acme.data_regions[1]", reference, `unknown region "venus"`},
			}},

		// Lists and services.
		{"list names a datacenter without the service", map[int]string{10: "  us-a: {name: A, country: US, location: [37.3, -121.9], capacity: 100, services: [media]}"},
			[]wantErr{{15, 58, "routing.regions.na.kms[0]", structure, "datacenter us-a does not run kms, which the kms list needs"}}},
		{"datacenter listed twice", map[int]string{15: "    na: {primary: [us-a, us-g, us-a], secondary: [de-a], kms: [us-a, us-g]}"},
			[]wantErr{{15, 32, "routing.regions.na.primary[2]", structure, "datacenter us-a is listed twice in routing.regions.na.primary"}}},
	}

	// Codes that are not assigned ISO 3166-1 alpha-2 codes, wherever a country is written.
	for _, cc := range []string{"XK", "UK", "EU", "us", "U", "USA", "12"} {
		msg := fmt.Sprintf("%q is not an assigned ISO 3166-1 alpha-2 country code", cc)
		tests = append(tests,
			test{"region country " + cc, map[int]string{4: "  na: {name: North America, countries: [US, CA, " + cc + "]}"},
				[]wantErr{{4, 49, "regions.na.countries[2]", structure, msg}}},
			test{"datacenter country " + cc, map[int]string{12: "  de-a: {country: " + cc + ", location: [50.1, 8.7], capacity: 100, services: [media, kms]}"},
				[]wantErr{{12, 19, "datacenters.de-a.country", structure, msg}}},
			test{"allow country " + cc, map[int]string{18: `  gov-us: {applies_to: ["*"], plans: [gov], allow: [US, ` + cc + "]}"},
				[]wantErr{{18, 57, "residency.gov-us.allow[1]", structure, msg}}},
			test{"deny country " + cc, map[int]string{18: `  gov-us: {applies_to: ["*"], plans: [gov], allow: [US], deny: [` + cc + "]}"},
				[]wantErr{{18, 65, "residency.gov-us.deny[0]", structure, msg}}},
		)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := config.Parse(testFile, edit(t, tt.edits))
			checkErrs(t, errs, tt.want)
		})
	}
}

func TestParseDocumentErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []wantErr
	}{
		{"empty file", "", []wantErr{{1, 1, "", structure, "config is empty"}}},
		{"only a comment", "# nothing here\n", []wantErr{{1, 1, "", structure, "config is empty"}}},
		{"only a document marker", "---", []wantErr{{1, 1, "", structure, "config is empty"}}},
		{"null document", "# comment\n--- ~\n", []wantErr{{1, 1, "", structure, "config is empty"}}},
		{"two documents", "version: 1\n---\nversion: 1\n", []wantErr{{2, 1, "", structure, "more than one YAML document"}}},
		{"unclosed flow list", "version: 1\nregions: {na: [US\n", []wantErr{{1, 1, "", structure, "invalid YAML"}}},
		{"bad indentation", "version: 1\n default_region: row\n", []wantErr{{2, 1, "", structure, "invalid YAML: mapping values are not allowed in this context"}}},
		{"tab indentation", "version: 1\nregions:\n\tna: {}\n", []wantErr{{3, 1, "", structure, "invalid YAML: found character that cannot start any token"}}},
		{"unterminated string", "version: 1\ndefault_region: \"row\n", []wantErr{{2, 1, "", structure, "invalid YAML: found unexpected end of stream"}}},
		{"unknown anchor", "version: 1\ndefault_region: *row\n", []wantErr{{1, 1, "", structure, "invalid YAML: unknown anchor 'row' referenced"}}},
		{"scalar document", "hello\n", []wantErr{{1, 1, "", structure, `expected a mapping, got "hello"`}}},
		{"list document", "- version: 1\n", []wantErr{{1, 1, "", structure, "expected a mapping, got a list"}}},
		{"all sections missing", "version: 1\n", []wantErr{
			{1, 1, "default_region", structure, `missing required key "default_region"`},
			{1, 1, "regions", structure, `missing required key "regions"`},
			{1, 1, "plans", structure, `missing required key "plans"`},
			{1, 1, "datacenters", structure, `missing required key "datacenters"`},
			{1, 1, "routing", structure, `missing required key "routing"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := config.Parse(testFile, []byte(tt.data))
			checkErrs(t, errs, tt.want)
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	data := make([]byte, config.MaxSize+1)
	_, errs := config.Parse(testFile, data)
	checkErrs(t, errs, []wantErr{{1, 1, "", structure, "larger than the"}})
}

// TestParseAllErrorsAtOnce checks that one pass reports every problem of a file, in file
// order, and keeps its well-formed entries.
func TestParseAllErrorsAtOnce(t *testing.T) {
	path := filepath.Join("testdata", "many-errors.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, errs := config.Parse(testFile, data)
	checkErrs(t, errs, []wantErr{
		{2, 17, "default_region", reference, `unknown region "rest"`},
		{4, 28, "regions.na.countries[2]", structure, `"UK" is not an assigned ISO 3166-1 alpha-2 country code`},
		{5, 24, "regions.eu.countries[1]", structure, "country CA is in region na and in region eu"},
		{11, 56, "datacenters.de-a.capacity", structure, "capacity must be a positive number"},
		{12, 85, "datacenters.fr-a.colour", structure, `unknown key "colour"`},
		{15, 26, "routing.regions.na.primary[1]", reference, `unknown datacenter "us-b" (did you mean "us-a"?)`},
		{15, 39, "routing.regions.na.kms[0]", structure, "datacenter us-a does not run kms"},
		{19, 27, "residency.stay.applies_to[1]", reference, `unknown region "europe"`},
	})

	// The best-effort config holds only the well-formed entries and references.
	var dcs []string
	for _, d := range c.Datacenters {
		dcs = append(dcs, d.ID)
	}
	if got, want := strings.Join(dcs, " "), "us-a fr-a"; got != want {
		t.Errorf("got datacenters %q, want %q (de-a dropped)", got, want)
	}
	if c.DefaultRegion.Value != "" {
		t.Errorf("got default_region %q, want it cleared", c.DefaultRegion.Value)
	}
	na := c.Routing.Regions[0]
	if len(na.Primary) != 1 || na.Primary[0].Value != "us-a" || len(na.KMS) != 0 {
		t.Errorf("got na primary %v kms %v, want primary [us-a], kms []", na.Primary, na.KMS)
	}
	if eu := c.Regions[1]; len(eu.Countries) != 1 || eu.Countries[0].Value != "DE" {
		t.Errorf("got eu countries %v, want [DE] (CA stays in na)", eu.Countries)
	}
	if rule := c.Residency[0]; len(rule.AppliesTo) != 1 || rule.AppliesTo[0].Value != "na" {
		t.Errorf("got rule applies_to %v, want [na]", rule.AppliesTo)
	}

	// Load reports the same problems as one ErrorList error.
	c2, err := config.Load(path)
	var list config.ErrorList
	if !errors.As(err, &list) || c2 == nil {
		t.Fatalf("Load: got %v (%T), config %v; want an ErrorList and a config", err, err, c2)
	}
	if len(list) != 8 || list[0].File != path {
		t.Errorf("Load: got %d errors in file %q, want 8 in %q", len(list), list[0].File, path)
	}
	want := path + `:2:17: default_region: unknown region "rest" (and 7 more errors)`
	if got := err.Error(); got != want {
		t.Errorf("Load: got error %q, want %q", got, want)
	}
}

// TestParseDeclaredButBroken checks that a reference to an entry dropped for its own error
// is not also reported as unknown: the one error points at the entry itself.
func TestParseDeclaredButBroken(t *testing.T) {
	tests := []struct {
		name  string
		edits map[int]string
		want  []wantErr
	}{
		{"broken datacenter", map[int]string{12: "  de-a: {country: UK, location: [50.1, 8.7], capacity: 100, services: [media, kms]}"},
			[]wantErr{{12, 19, "datacenters.de-a.country", structure, `"UK" is not an assigned`}}},
		{"broken region", map[int]string{5: "  row: [DE]"},
			[]wantErr{{5, 8, "regions.row", structure, "expected a mapping, got a list"}}},
		{"broken plan", map[int]string{8: "  gov: government"},
			[]wantErr{{8, 8, "plans.gov", structure, `expected a mapping, got "government"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := config.Parse(testFile, edit(t, tt.edits))
			checkErrs(t, errs, tt.want)
		})
	}
}

func TestLoad(t *testing.T) {
	t.Run("examples", func(t *testing.T) {
		for _, name := range []string{"world.yaml", "april-2020.yaml"} {
			c, err := config.Load(filepath.Join("..", "examples", name))
			if err != nil {
				t.Errorf("Load(%s): got %v, want no error (its problems are verify's, not the format's)", name, err)
				continue
			}
			if len(c.Regions) != 7 || len(c.Plans) != 4 || len(c.Datacenters) != 21 || len(c.Residency) != 3 || len(c.Accounts) != 5 {
				t.Errorf("Load(%s): got %d regions, %d plans, %d datacenters, %d rules, %d accounts; want 7, 4, 21, 3, 5",
					name, len(c.Regions), len(c.Plans), len(c.Datacenters), len(c.Residency), len(c.Accounts))
			}
		}
	})
	t.Run("not regular or too large", func(t *testing.T) {
		dir := t.TempDir()
		big := filepath.Join(dir, "big.yaml")
		f, err := os.Create(big)
		if err != nil {
			t.Fatal(err)
		}
		// Sparse: no 16 MiB written.
		if err := f.Truncate(config.MaxSize + 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
		tests := []struct {
			name    string
			path    string
			wantErr error
			wantMsg string
		}{
			{"too large", big, config.ErrTooLarge, "read config: " + big + " is larger than the config size limit of 16 MiB"},
			{"a directory", dir, config.ErrNotRegular, "read config: " + dir + " is a directory, not a regular file"},
			{"a device", "/dev/zero", config.ErrNotRegular, "read config: /dev/zero is a device, not a regular file"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := os.Stat(tt.path); err != nil {
					t.Skip(err)
				}
				c, err := config.Load(tt.path)
				if c != nil || !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, %v; want nil and an error wrapping %q", c, err, tt.wantErr)
				}
				if err.Error() != tt.wantMsg {
					t.Errorf("got error %q, want %q", err, tt.wantMsg)
				}
			})
		}
		if config.MaxSize != 16<<20 {
			t.Errorf("got MaxSize %d, want 16 MiB as documented", config.MaxSize)
		}
	})
	t.Run("at the size limit", func(t *testing.T) {
		// A file of exactly MaxSize bytes is read and parsed: its problems are findings.
		path := filepath.Join(t.TempDir(), "limit.yaml")
		data := append(valid(t), strings.Repeat("#", config.MaxSize-len(valid(t)))...)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(path); err != nil {
			t.Errorf("got %v, want no error for a file of MaxSize bytes", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		c, err := config.Load(filepath.Join("testdata", "no-such-file.yaml"))
		if c != nil || err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, %v; want nil and an error wrapping os.ErrNotExist", c, err)
		}
		var list config.ErrorList
		if errors.As(err, &list) {
			t.Errorf("got an ErrorList for an unreadable file, want a plain error")
		}
	})
}

func TestErrorListError(t *testing.T) {
	e1 := &config.Error{File: "f.yaml", Pos: config.Pos{Line: 3, Col: 7}, Path: "regions.na", Code: structure, Msg: "bad"}
	e2 := &config.Error{File: "f.yaml", Pos: config.Pos{Line: 1, Col: 1}, Code: structure, Msg: "config is empty"}
	tests := []struct {
		name string
		l    config.ErrorList
		want string
	}{
		{"none", nil, "no errors"},
		{"one with a path", config.ErrorList{e1}, "f.yaml:3:7: regions.na: bad"},
		{"one without a path", config.ErrorList{e2}, "f.yaml:1:1: config is empty"},
		{"three", config.ErrorList{e1, e2, e2}, "f.yaml:3:7: regions.na: bad (and 2 more errors)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPathsNameItemsAsWritten: after a bad item is dropped, later items keep their index as
// written in the file.
func TestPathsNameItemsAsWritten(t *testing.T) {
	src := `version: 1
default_region: r
regions:
  r: {countries: [ZZ, CA]}
  s: {countries: [CA]}
plans: {basic: {}}
datacenters:
  a: {country: CA, location: [0, 0], capacity: 1, services: [media, kms]}
routing:
  regions:
    r: {primary: [nope, a, a], kms: [a]}
`
	_, errs := config.Parse("t.yaml", []byte(src))
	want := map[string]bool{
		"regions.r.countries[0]":       true, // ZZ
		"regions.s.countries[0]":       true, // CA in two regions
		"routing.regions.r.primary[0]": true, // unknown
		"routing.regions.r.primary[2]": true, // listed twice
	}
	got := map[string]bool{}
	for _, e := range errs {
		got[e.Path] = true
	}
	for p := range want {
		if !got[p] {
			t.Errorf("no error at %s; got %v", p, errs)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
}

// TestParseAccounts checks the optional parts of an account: home_region (DESIGN.md section
// 2: without it a meeting's region is its host's country's) and data_regions, whose absence
// (no narrowing) and emptiness (no datacenter at all) must stay distinct.
func TestParseAccounts(t *testing.T) {
	tests := []struct {
		name        string
		line        string // replaces line 20, the acme account
		wantHome    string
		wantData    []string // nil: data_regions not given
		wantDropped bool     // acme is not in the config's accounts
		want        []wantErr
	}{
		{name: "home region and data regions", line: "  acme: {plan: basic, home_region: na, data_regions: [na]}",
			wantHome: "na", wantData: []string{"na"}},
		{name: "no home region", line: "  acme: {plan: basic}"},
		{name: "no home region, narrowed", line: "  acme: {plan: basic, data_regions: [row]}", wantData: []string{"row"}},
		{name: "empty data regions", line: "  acme: {plan: basic, home_region: na, data_regions: []}",
			wantHome: "na", wantData: []string{}},
		{name: "only unknown data regions", line: "  acme: {plan: basic, data_regions: [mars]}", wantData: []string{},
			want: []wantErr{{20, 38, "accounts.acme.data_regions[0]", reference, `unknown region "mars"`}}},
		{name: "data regions not a list", line: "  acme: {plan: basic, data_regions: na}", wantData: []string{},
			want: []wantErr{{20, 37, "accounts.acme.data_regions", structure, `expected a list, got "na"`}}},
		{name: "empty home region", line: `  acme: {plan: basic, home_region: ""}`,
			want: []wantErr{{20, 36, "accounts.acme.home_region", structure, "home_region must not be empty"}}},
		{name: "unknown home region drops the account", line: "  acme: {plan: basic, home_region: mars}", wantDropped: true,
			want: []wantErr{{20, 36, "accounts.acme.home_region", reference, `unknown region "mars"`}}},
		{name: "empty plan drops the account", line: `  acme: {plan: ""}`, wantDropped: true,
			want: []wantErr{{20, 16, "accounts.acme.plan", structure, "plan must not be empty"}}},
		{name: "missing plan drops the account", line: "  acme: {home_region: na}", wantDropped: true,
			want: []wantErr{{20, 9, "accounts.acme.plan", structure, `missing required key "plan"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, errs := config.Parse(testFile, edit(t, map[int]string{20: tt.line}))
			checkErrs(t, errs, tt.want)
			if tt.wantDropped {
				if len(c.Accounts) != 0 {
					t.Errorf("got accounts %+v, want acme dropped", c.Accounts[0])
				}
				return
			}
			if len(c.Accounts) != 1 {
				t.Fatalf("got %d accounts, want 1", len(c.Accounts))
			}
			a := c.Accounts[0]
			if a.HomeRegion.Value != tt.wantHome {
				t.Errorf("got home_region %q, want %q", a.HomeRegion.Value, tt.wantHome)
			}
			if (a.DataRegions == nil) != (tt.wantData == nil) {
				t.Fatalf("got data_regions %#v, want %#v (nil and empty differ)", a.DataRegions, tt.wantData)
			}
			var got []string
			for _, n := range a.DataRegions {
				got = append(got, n.Value)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantData, ",") {
				t.Errorf("got data_regions %v, want %v", got, tt.wantData)
			}
		})
	}
}

// Ed25519 public keys for the tests (their private keys were not kept).
const (
	testKey1 = "B7vtJlwrqvWOWeqRJJ93EqnWNOCXOyjxpq0f8WMJ0MA"
	testKey2 = "yjQc4egtgdUgdVXHJ_6ThuYrBU71-Hc1I5MmQGFOceg"
)

// TestParseAccountKeys checks the keys of an account (DESIGN.md sections 5 and 10): strict,
// every problem a structure error at its position, only well-formed keys kept.
func TestParseAccountKeys(t *testing.T) {
	// Line 20 becomes the acme account with the given key items from line 23 on.
	acme := func(items ...string) map[int]string {
		lines := "  acme:\n    plan: basic\n    keys:"
		for _, it := range items {
			lines += "\n      - " + it
		}
		return map[int]string{20: lines}
	}
	stdPadded := strings.NewReplacer("-", "+", "_", "/").Replace(testKey2) + "="
	tests := []struct {
		name     string
		edits    map[int]string
		wantKIDs []string
		want     []wantErr
	}{
		{"two keys", acme("{kid: acme-2026, x: "+testKey1+"}", "{kid: acme.2027_b, x: "+testKey2+"}"),
			[]string{"acme-2026", "acme.2027_b"}, nil},
		{"block mapping", map[int]string{20: "  acme:\n    plan: basic\n    keys:\n      - kid: k1\n        x: " + testKey1},
			[]string{"k1"}, nil},
		{"no keys", map[int]string{20: "  acme: {plan: basic, keys: []}"}, nil, nil},
		{"null keys", map[int]string{20: "  acme: {plan: basic, keys: }"}, nil, nil},
		{"keys not a list", map[int]string{20: "  acme: {plan: basic, keys: {kid: k1}}"}, nil,
			[]wantErr{{20, 29, "accounts.acme.keys", structure, "expected a list of keys {kid, x}, got a mapping"}}},
		{"item not a mapping", acme("k1", "{kid: k2, x: "+testKey2+"}"), []string{"k2"},
			[]wantErr{{23, 9, "accounts.acme.keys[0]", structure, `expected a mapping, got "k1"`}}},
		// A key with anything unknown is dropped: an "alg" or "use" it does not understand
		// could mean the key is not for this.
		{"unknown key", acme("{kid: k1, x: " + testKey1 + ", alg: EdDSA}"), nil,
			[]wantErr{{23, 67, "accounts.acme.keys[0].alg", structure, `unknown key "alg" (expected one of kid, x)`}}},
		{"missing kid", acme("{x: " + testKey1 + "}"), nil,
			[]wantErr{{23, 9, "accounts.acme.keys[0].kid", structure, `missing required key "kid"`}}},
		{"missing x", acme("{kid: k1}"), nil,
			[]wantErr{{23, 9, "accounts.acme.keys[0].x", structure, `missing required key "x"`}}},
		{"kid with a space", acme(`{kid: "k 1", x: ` + testKey1 + "}"), nil,
			[]wantErr{{23, 15, "accounts.acme.keys[0].kid", structure, `kid "k 1" must be 1 to 128 letters, digits`}}},
		{"empty kid", acme(`{kid: "", x: ` + testKey1 + "}"), nil,
			[]wantErr{{23, 15, "accounts.acme.keys[0].kid", structure, `kid "" must be`}}},
		{"kid of 129 characters", acme("{kid: " + strings.Repeat("k", 129) + ", x: " + testKey1 + "}"), nil,
			[]wantErr{{23, 15, "accounts.acme.keys[0].kid", structure, "must be 1 to 128"}}},
		{"kid of 128 characters", acme("{kid: " + strings.Repeat("k", 128) + ", x: " + testKey1 + "}"), []string{strings.Repeat("k", 128)}, nil},
		{"kid is a list", acme("{kid: [k1], x: " + testKey1 + "}"), nil,
			[]wantErr{{23, 15, "accounts.acme.keys[0].kid", structure, "expected a string, got a list"}}},
		{"x in standard base64 with padding", acme("{kid: k1, x: \"" + stdPadded + "\"}"), nil,
			[]wantErr{{23, 22, "accounts.acme.keys[0].x", structure, "x must be an Ed25519 public key in base64url without padding"}}},
		{"x not base64", acme("{kid: k1, x: not-a-key!}"), nil,
			[]wantErr{{23, 22, "accounts.acme.keys[0].x", structure, "x must be an Ed25519 public key in base64url without padding"}}},
		{"x of 30 bytes", acme("{kid: k1, x: " + testKey1[:40] + "}"), nil,
			[]wantErr{{23, 22, "accounts.acme.keys[0].x", structure, "x is 30 bytes, want the 32 bytes of an Ed25519 public key"}}},
		{"x of 33 bytes", acme("{kid: k1, x: " + testKey1 + "A}"), nil,
			[]wantErr{{23, 22, "accounts.acme.keys[0].x", structure, "x is 33 bytes, want the 32 bytes"}}},
		{"empty x", acme(`{kid: k1, x: ""}`), nil,
			[]wantErr{{23, 22, "accounts.acme.keys[0].x", structure, "x is 0 bytes"}}},
		{"duplicate kid", acme("{kid: k1, x: "+testKey1+"}", "{kid: k1, x: "+testKey2+"}"), []string{"k1"},
			[]wantErr{{24, 15, "accounts.acme.keys[1].kid", structure, `kid "k1" is used twice in accounts.acme.keys`}}},
		{"duplicate kid of a broken key", acme("{kid: k1, x: shrt}", "{kid: k1, x: "+testKey2+"}"), nil,
			[]wantErr{
				{23, 22, "accounts.acme.keys[0].x", structure, "x is 3 bytes"},
				{24, 15, "accounts.acme.keys[1].kid", structure, `kid "k1" is used twice`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, errs := config.Parse(testFile, edit(t, tt.edits))
			checkErrs(t, errs, tt.want)
			if len(c.Accounts) != 1 {
				t.Fatalf("got %d accounts, want acme kept", len(c.Accounts))
			}
			var got []string
			for _, k := range c.Accounts[0].Keys {
				got = append(got, k.KID)
				if k.X != testKey1 && k.X != testKey2 {
					t.Errorf("key %s: got x %q, want one of the test keys", k.KID, k.X)
				}
				if k.Pos.Line < 20 {
					t.Errorf("key %s: got position %v, want its line", k.KID, k.Pos)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.wantKIDs, " ") {
				t.Errorf("got kids %v, want %v", got, tt.wantKIDs)
			}
		})
	}
}
