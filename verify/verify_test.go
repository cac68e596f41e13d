package verify_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/verify"
)

// want is one expected finding. msg is a substring of its message.
type want struct {
	severity, code string
	region, list   string
	plans          []string
	dc, rule       string
	line, col      int
	msg            string
}

func (w want) String() string {
	return fmt.Sprintf("%d:%d %s[%s] region=%q list=%q plans=%v dc=%q rule=%q", w.line, w.col, w.severity, w.code, w.region, w.list, w.plans, w.dc, w.rule)
}

const (
	errSev  = verify.Error
	warnSev = verify.Warning
)

var (
	basicEnt   = []string{"basic", "enterprise"}
	basicProEn = []string{"basic", "pro", "enterprise"}
	none       = []string{}
)

func testdata(name string) string { return filepath.Join("testdata", name) }

func describe(fs []verify.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n\t%s (region=%q list=%q plans=%v dc=%q rule=%q)", f.String(), f.Region, f.List, f.Plans, f.Datacenter, f.Rule)
	}
	return b.String()
}

// checkFindings asserts that rep holds exactly want, in order, every field of each.
func checkFindings(t *testing.T, rep *verify.Report, file string, wantOK bool, wants []want) {
	t.Helper()
	if rep.OK != wantOK {
		t.Errorf("got ok %v, want %v", rep.OK, wantOK)
	}
	if len(rep.Findings) != len(wants) {
		t.Fatalf("got %d findings, want %d:%s", len(rep.Findings), len(wants), describe(rep.Findings))
	}
	for i, w := range wants {
		f := rep.Findings[i]
		got := want{severity: f.Severity, code: f.Code, region: f.Region, list: f.List, plans: f.Plans,
			dc: f.Datacenter, rule: f.Rule, line: f.Line, col: f.Column}
		wantNoMsg := w
		wantNoMsg.msg = ""
		if !reflect.DeepEqual(got, wantNoMsg) {
			t.Errorf("finding %d: got %v, want %v", i, got, wantNoMsg)
		}
		if f.Plans == nil {
			t.Errorf("finding %d: got plans nil, want an empty list when none apply", i)
		}
		if f.File != file {
			t.Errorf("finding %d: got file %q, want %q", i, f.File, file)
		}
		if !strings.Contains(f.Message, w.msg) {
			t.Errorf("finding %d: got message %q, want it to contain %q", i, f.Message, w.msg)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name string
		file string
		opts verify.Options
	}{
		{"world example", filepath.Join("..", "examples", "world.yaml"), verify.Options{}},
		{"world example, one failure", filepath.Join("..", "examples", "world.yaml"), verify.Options{Failures: 1}},
		{"clean", testdata("clean.yaml"), verify.Options{}},
		{"clean, one failure", testdata("clean.yaml"), verify.Options{Failures: 1}},
		{"plan regions", testdata("plan-regions.yaml"), verify.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, m, err := verify.File(tt.file, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if m == nil {
				t.Errorf("got no model, want one")
			}
			checkFindings(t, rep, tt.file, true, nil)
		})
	}
}

func TestFindings(t *testing.T) {
	april := filepath.Join("..", "examples", "april-2020.yaml")
	aprilFinding := func(region, list, dc string, index, line, col int) want {
		return want{errSev, verify.CodeResidency, region, list, basicProEn, dc, "nothing-else-enters-china", line, col,
			fmt.Sprintf("routing.regions.%s.%s[%d]: datacenter %s in CN is forbidden by rule nothing-else-enters-china for plans basic, pro, enterprise of region %s; remove it from the list or change the rule",
				region, list, index, dc, region)}
	}
	tests := []struct {
		name   string
		file   string
		opts   verify.Options
		wantOK bool
		want   []want
	}{
		{"april 2020", april, verify.Options{}, false, []want{
			aprilFinding("na", "secondary", "cn-pek", 3, 195, 43),
			aprilFinding("na", "secondary", "cn-sha", 4, 195, 51),
			aprilFinding("na", "kms", "cn-pek", 6, 196, 71),
			aprilFinding("latam", "secondary", "cn-pek", 3, 199, 43),
			aprilFinding("latam", "secondary", "cn-sha", 4, 199, 51),
			aprilFinding("eu", "secondary", "cn-pek", 2, 203, 35),
			aprilFinding("eu", "secondary", "cn-sha", 3, 203, 43),
			aprilFinding("in", "secondary", "cn-pek", 2, 207, 35),
			aprilFinding("in", "secondary", "cn-sha", 3, 207, 43),
			aprilFinding("apac", "secondary", "cn-pek", 2, 211, 35),
			aprilFinding("apac", "secondary", "cn-sha", 3, 211, 43),
			aprilFinding("row", "secondary", "cn-pek", 2, 219, 35),
			aprilFinding("row", "secondary", "cn-sha", 3, 219, 43),
		}},
		{"residency", testdata("residency-bad.yaml"), verify.Options{}, false, []want{
			// Forbidden by nothing-else-enters-china and by sanctions: the first is named.
			{errSev, verify.CodeResidency, "na", "secondary", basicEnt, "cn-a", "nothing-else-enters-china", 23, 59,
				"routing.regions.na.secondary[1]: datacenter cn-a in CN is forbidden by rule nothing-else-enters-china for plans basic, enterprise of region na"},
			{errSev, verify.CodeResidency, "na", "secondary", basicEnt, "ru-a", "sanctions", 23, 65,
				"routing.regions.na.secondary[2]: datacenter ru-a in RU is forbidden by rule sanctions for plans basic, enterprise of region na"},
			{errSev, verify.CodeResidency, "cn", "primary", basicEnt, "de-a", "china-stays-in-china", 24, 26,
				"routing.regions.cn.primary[1]: datacenter de-a in DE is forbidden by rule china-stays-in-china for plans basic, enterprise of region cn"},
			{errSev, verify.CodeResidency, "row", "kms", basicEnt, "cn-a", "nothing-else-enters-china", 25, 59,
				"routing.regions.row.kms[1]: datacenter cn-a in CN is forbidden by rule nothing-else-enters-china for plans basic, enterprise of region row"},
		}},
		{"dedicated classes", testdata("dedicated.yaml"), verify.Options{}, false, []want{
			// ca-gov may be used by government, which is offered in na and must stay in the US.
			// us-gov on row's lists and de-a on na's are no findings: the plans offered there
			// that the rules would bind cannot use them.
			{errSev, verify.CodeResidency, "na", "primary", []string{"government"}, "ca-gov", "government-stays-in-us", 21, 34,
				"routing.regions.na.primary[2]: datacenter ca-gov in CA is forbidden by rule government-stays-in-us for plan government of region na"},
			{errSev, verify.CodeResidency, "na", "kms", []string{"government"}, "ca-gov", "government-stays-in-us", 21, 82,
				"routing.regions.na.kms[2]: datacenter ca-gov in CA is forbidden by rule government-stays-in-us for plan government of region na"},
		}},
		{"plan offered everywhere", testdata("plan-regions-everywhere.yaml"), verify.Options{}, false, []want{
			{errSev, verify.CodeResidency, "row", "primary", []string{"eu-only"}, "us-a", "eu-only-stays-in-de", 17, 21,
				"routing.regions.row.primary[0]: datacenter us-a in US is forbidden by rule eu-only-stays-in-de for plan eu-only of region row"},
			{errSev, verify.CodeResidency, "row", "kms", []string{"eu-only"}, "us-a", "eu-only-stays-in-de", 17, 40,
				"routing.regions.row.kms[0]: datacenter us-a in US is forbidden by rule eu-only-stays-in-de for plan eu-only of region row"},
			{errSev, verify.CodeCoverage, "row", "kms", []string{"eu-only"}, "", "", 17, 40,
				"region row has no allowed key server running kms for plan eu-only; add one to routing.regions.row.kms"},
		}},
		{"rule with plans and except", testdata("rule-plans-except.yaml"), verify.Options{}, false, []want{
			// enterprise-stays-in-us binds enterprise users of na only.
			{errSev, verify.CodeResidency, "na", "primary", []string{"enterprise"}, "ca-a", "enterprise-stays-in-us", 18, 26,
				"routing.regions.na.primary[1]: datacenter ca-a in CA is forbidden by rule enterprise-stays-in-us for plan enterprise of region na"},
			// Each plan has its own first forbidding rule: the finding names the first in
			// config order, the message both.
			{errSev, verify.CodeResidency, "na", "secondary", basicEnt, "de-a", "enterprise-stays-in-us", 18, 45,
				"routing.regions.na.secondary[0]: datacenter de-a in DE is forbidden by rules enterprise-stays-in-us, de-stays-in-eu for plans basic, enterprise of region na"},
			// de-stays-in-eu excepts eu, so de-a on eu's lists is fine; row is bound.
			{errSev, verify.CodeResidency, "row", "secondary", basicEnt, "de-a", "de-stays-in-eu", 20, 40,
				"routing.regions.row.secondary[0]: datacenter de-a in DE is forbidden by rule de-stays-in-eu for plans basic, enterprise of region row"},
		}},
		{"coverage", testdata("coverage-bad.yaml"), verify.Options{}, false, []want{
			// latam has no routing: the finding points at the region.
			{errSev, verify.CodeCoverage, "latam", "primary", []string{"basic"}, "", "", 7, 3,
				"region latam has no allowed primary datacenter running media for plan basic; add one to routing.regions.latam.primary"},
			{errSev, verify.CodeCoverage, "latam", "kms", []string{"basic"}, "", "", 7, 3,
				"region latam has no allowed key server running kms for plan basic; add one to routing.regions.latam.kms"},
			// government's only datacenter is on na's secondary list, and runs no kms.
			{errSev, verify.CodeCoverage, "na", "primary", []string{"government"}, "", "", 20, 20,
				"region na has no allowed primary datacenter running media for plan government"},
			{errSev, verify.CodeCoverage, "na", "kms", []string{"government"}, "", "", 20, 54,
				"region na has no allowed key server running kms for plan government"},
			// cn's kms list is empty: the finding points at cn's routing.
			{errSev, verify.CodeCoverage, "cn", "kms", []string{"basic"}, "", "", 21, 5,
				"region cn has no allowed key server running kms for plan basic"},
		}},
		{"capacity, default failures", testdata("capacity-bad.yaml"), verify.Options{}, true, []want{
			// eu offers only the dedicated eu-gov, so its dedicated datacenters are counted.
			{warnSev, verify.CodeCapacity, "eu", "", []string{"eu-gov"}, "", "", 7, 3,
				"with its 1 largest allowed datacenter down, region eu has 40 participants of primary and secondary capacity for plan eu-gov, under its peak of 50"},
			{warnSev, verify.CodeCapacity, "row", "", []string{"basic"}, "", "", 8, 3,
				"with its 1 largest allowed datacenter down, region row has 200 participants of primary and secondary capacity for plan basic, under its peak of 1000"},
		}},
		{"capacity, one failure", testdata("capacity-bad.yaml"), verify.Options{Failures: 1}, true, []want{
			{warnSev, verify.CodeCapacity, "eu", "", []string{"eu-gov"}, "", "", 7, 3, "region eu has 40 participants"},
			{warnSev, verify.CodeCapacity, "row", "", []string{"basic"}, "", "", 8, 3, "region row has 200 participants"},
		}},
		{"capacity, two failures", testdata("capacity-bad.yaml"), verify.Options{Failures: 2}, true, []want{
			{warnSev, verify.CodeCapacity, "na", "", []string{"basic"}, "", "", 6, 3,
				"with its 2 largest allowed datacenters down, region na has 100 participants of primary and secondary capacity for plan basic, under its peak of 150"},
			{warnSev, verify.CodeCapacity, "eu", "", []string{"eu-gov"}, "", "", 7, 3, "region eu has 0 participants"},
			{warnSev, verify.CodeCapacity, "row", "", []string{"basic"}, "", "", 8, 3, "region row has 100 participants"},
		}},
		// Beyond MaxFailures the check takes MaxFailures down: a huge K costs nothing.
		{"capacity, huge failures", testdata("capacity-bad.yaml"), verify.Options{Failures: 1 << 62}, true, []want{
			{warnSev, verify.CodeCapacity, "na", "", []string{"basic"}, "", "", 6, 3,
				"with its 16 largest allowed datacenters down, region na has 0 participants of primary and secondary capacity for plan basic, under its peak of 150"},
			{warnSev, verify.CodeCapacity, "eu", "", []string{"eu-gov"}, "", "", 7, 3, "with its 16 largest allowed datacenters down, region eu has 0 participants"},
			{warnSev, verify.CodeCapacity, "row", "", []string{"basic"}, "", "", 8, 3, "with its 16 largest allowed datacenters down, region row has 0 participants"},
		}},
		{"clean, two failures", testdata("clean.yaml"), verify.Options{Failures: 2}, true, []want{
			// government is dedicated, so na's peak is checked for basic and enterprise.
			{warnSev, verify.CodeCapacity, "na", "", basicEnt, "", "", 6, 3,
				"with its 2 largest allowed datacenters down, region na has 100 participants of primary and secondary capacity for plans basic, enterprise, under its peak of 150"},
		}},
		{"reference", testdata("reference-bad.yaml"), verify.Options{}, false, []want{
			{errSev, config.CodeReference, "", "", none, "", "", 15, 26, `routing.regions.na.primary[1]: unknown datacenter "us-sjc"`},
			// The rest of the config is still checked.
			{errSev, verify.CodeResidency, "na", "secondary", []string{"basic"}, "cn-a", "nothing-enters-china", 15, 47,
				"routing.regions.na.secondary[0]: datacenter cn-a in CN is forbidden by rule nothing-enters-china for plan basic of region na"},
			{errSev, config.CodeReference, "", "", none, "", "", 17, 5, `routing.regions.eu: unknown region "eu"`},
			{errSev, config.CodeReference, "", "", none, "", "", 19, 60, `residency.nothing-enters-china.plans[1]: unknown plan "premium"`},
			{errSev, config.CodeReference, "", "", none, "", "", 21, 36, `accounts.acme.home_region: unknown region "europe"`},
		}},
		{"structure", testdata("structure-bad.yaml"), verify.Options{}, false, []want{
			{errSev, config.CodeStructure, "", "", none, "", "", 5, 28, `regions.na.countries[2]: "uk" is not an assigned ISO 3166-1 alpha-2 country code`},
			{errSev, config.CodeStructure, "", "", none, "", "", 6, 24, `regions.row.colour: unknown key "colour"`},
			{errSev, config.CodeStructure, "", "", none, "", "", 11, 40, "datacenters.us-b.location[1]: longitude -274 is out of range [-180, 180]"},
			{errSev, config.CodeStructure, "", "", none, "", "", 12, 58, "datacenters.us-c.capacity: capacity must be a positive number of participants, got 0"},
			// With us-a struck off the kms lists, na and row have no key server.
			{errSev, verify.CodeCoverage, "na", "kms", []string{"basic"}, "", "", 15, 5, "region na has no allowed key server running kms for plan basic"},
			{errSev, config.CodeStructure, "", "", none, "", "", 15, 33, "routing.regions.na.kms[0]: datacenter us-a does not run kms, which the kms list needs"},
			{errSev, verify.CodeCoverage, "row", "kms", []string{"basic"}, "", "", 16, 5, "region row has no allowed key server running kms for plan basic"},
			{errSev, config.CodeStructure, "", "", none, "", "", 16, 34, "routing.regions.row.kms[0]: datacenter us-a does not run kms, which the kms list needs"},
		}},
		{"unused", testdata("unused.yaml"), verify.Options{}, true, []want{
			{warnSev, verify.CodeUnused, "", "", none, "de-b", "", 12, 3, "datacenter de-b is on no routing list"},
			{warnSev, verify.CodeUnused, "", "", none, "us-k", "", 13, 3, "datacenter us-k is on no routing list"},
		}},
		{"narrowing", testdata("narrowing.yaml"), verify.Options{}, true, []want{
			// data_regions: [] keeps its meaning, no datacenter at all, and is pointed out.
			{warnSev, verify.CodeNarrowing, "", "", []string{"basic"}, "", "", 31, 38,
				"accounts.empty.data_regions: account empty can use no datacenter: its data_regions is empty; list the regions it may use, or leave data_regions out for no narrowing"},
			{warnSev, verify.CodeNarrowing, "", "", []string{"basic"}, "", "", 32, 43,
				"accounts.latam-only.data_regions: account latam-only can use no datacenter: no datacenter is located in its data_regions latam"},
			// na's secondary de-a is in row: only the key servers are missing.
			{warnSev, verify.CodeNarrowing, "na", "kms", []string{"basic"}, "", "", 33, 63,
				"accounts.no-key-server.data_regions: account no-key-server can host no meeting: no allowed key server of its home region na is in its data_regions row"},
			{warnSev, verify.CodeNarrowing, "cn", "primary", []string{"basic"}, "", "", 34, 60,
				"accounts.china-host.data_regions: account china-host can host no meeting: no allowed primary or secondary datacenter of its home region cn is in its data_regions na"},
			{warnSev, verify.CodeNarrowing, "cn", "kms", []string{"basic"}, "", "", 34, 60,
				"no allowed key server of its home region cn"},
		}},
		{"shadowed", testdata("shadowed.yaml"), verify.Options{}, true, []want{
			{warnSev, verify.CodeShadowed, "na", "secondary", none, "us-b", "", 17, 51,
				"routing.regions.na.secondary[1]: datacenter us-b is also on the primary list of region na"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, m, err := verify.File(tt.file, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if m == nil {
				t.Errorf("got no model, want one (the config has a valid default_region)")
			}
			checkFindings(t, rep, tt.file, tt.wantOK, tt.want)
		})
	}
}

// TestAprilFixed checks that removing exactly the April 2020 additions gives the world
// example back, so the 13 findings are all there is to fix.
func TestAprilFixed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "april-2020.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.NewReplacer(", cn-pek, cn-sha]", "]", ", cn-pek]", "]").Replace(string(data))
	c, errs := config.Parse("fixed.yaml", []byte(fixed))
	rep, _ := verify.Config(c, errs, verify.Options{})
	checkFindings(t, rep, "fixed.yaml", true, nil)
}

func TestFileUnreadable(t *testing.T) {
	rep, m, err := verify.File(testdata("no-such-file.yaml"), verify.Options{})
	if err == nil || !errors.Is(err, os.ErrNotExist) || rep != nil || m != nil {
		t.Errorf("got %v, %v, %v; want nil, nil and an error wrapping os.ErrNotExist", rep, m, err)
	}
}

func TestConfigWithoutModel(t *testing.T) {
	t.Run("parse errors", func(t *testing.T) {
		c, errs := config.Parse("x.yaml", []byte("version: 1\ndefault_region: nowhere\nregions: {}\nplans: {}\ndatacenters: {}\nrouting: {regions: {}}\n"))
		rep, m := verify.Config(c, errs, verify.Options{})
		if m != nil {
			t.Errorf("got a model, want none without a default region")
		}
		checkFindings(t, rep, "x.yaml", false, []want{
			{errSev, config.CodeReference, "", "", none, "", "", 2, 17, `default_region: unknown region "nowhere"`},
		})
	})
	t.Run("no parse errors", func(t *testing.T) {
		// A hand-built config policy cannot model is still reported, never passed.
		rep, m := verify.Config(&config.Config{File: "y.yaml"}, nil, verify.Options{})
		if m != nil {
			t.Errorf("got a model, want none")
		}
		checkFindings(t, rep, "y.yaml", false, []want{
			{errSev, config.CodeStructure, "", "", none, "", "", 1, 1, "default_region"},
		})
	})
}

// TestSeverities checks that every finding code has the severity DESIGN.md section 6 gives it,
// across all the test configs.
func TestSeverities(t *testing.T) {
	severity := map[string]string{
		verify.CodeResidency: errSev, verify.CodeCoverage: errSev, config.CodeReference: errSev, config.CodeStructure: errSev,
		verify.CodeCapacity: warnSev, verify.CodeUnused: warnSev, verify.CodeShadowed: warnSev, verify.CodeNarrowing: warnSev,
	}
	files, err := filepath.Glob(testdata("*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		rep, _, err := verify.File(file, verify.Options{Failures: 2})
		if err != nil {
			t.Fatal(err)
		}
		hasError := false
		for _, f := range rep.Findings {
			seen[f.Code] = true
			if want, ok := severity[f.Code]; !ok || f.Severity != want {
				t.Errorf("%s: got severity %q for code %q, want %q", f.String(), f.Severity, f.Code, want)
			}
			hasError = hasError || f.Severity == errSev
		}
		if rep.OK == hasError {
			t.Errorf("%s: got ok %v with an error finding %v", file, rep.OK, hasError)
		}
	}
	for code := range severity {
		if !seen[code] {
			t.Errorf("no test config gives a %s finding", code)
		}
	}
}

func TestFindingString(t *testing.T) {
	f := verify.Finding{Severity: verify.Error, Code: verify.CodeResidency, File: "w.yaml", Line: 12, Column: 7, Message: "bad"}
	if got, want := f.String(), "w.yaml:12:7: error[residency]: bad"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestReportJSON checks the JSON of `geofence verify --json` (DESIGN.md section 6): every
// field present, empty values for those that do not apply.
func TestReportJSON(t *testing.T) {
	rep, _, err := verify.File(testdata("unused.yaml"), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK       *bool            `json:"ok"`
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.OK == nil || !*got.OK || len(got.Findings) != 2 {
		t.Fatalf("got %s, want ok true and 2 findings", b)
	}
	f := got.Findings[0]
	var keys []string
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"code", "column", "datacenter", "file", "line", "list", "message", "plans", "region", "rule", "severity"}; !slices.Equal(keys, want) {
		t.Errorf("got keys %v, want %v", keys, want)
	}
	wantVals := map[string]any{"severity": "warning", "code": "unused", "region": "", "list": "", "plans": []any{},
		"datacenter": "de-b", "rule": "", "file": testdata("unused.yaml"), "line": 12.0, "column": 3.0}
	for k, v := range wantVals {
		if !reflect.DeepEqual(f[k], v) {
			t.Errorf("got %s %#v, want %#v", k, f[k], v)
		}
	}

	// A report without findings has an empty list, not null.
	rep, _, err = verify.File(testdata("clean.yaml"), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(rep); string(b) != `{"ok":true,"findings":[]}` {
		t.Errorf("got %s, want {\"ok\":true,\"findings\":[]}", b)
	}
}
