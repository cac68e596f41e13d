package diff_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/diff"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
)

// base is a small world; the cases replace its routing and rules lines.
const base = `version: 1
default_region: row
regions:
  na: {countries: [US, CA]}
  row: {countries: []}
plans:
  basic: {}
  government: {dedicated: government, regions: [na]}
datacenters:
  us-a: {country: US, location: [37.3, -121.9], capacity: 100, services: [media, kms]}
  us-b: {country: US, location: [40.7, -74.0], capacity: 100, services: [media]}
  de-a: {country: DE, location: [50.1, 8.7], capacity: 100, services: [media, kms]}
  cn-a: {country: CN, location: [39.9, 116.4], capacity: 100, services: [media, kms]}
  us-gov: {country: US, location: [39.9, -83.0], capacity: 10, services: [media, kms], dedicated: government}
routing:
  regions:
    na: {primary: [us-a, us-gov], kms: [us-a, us-gov]}
    row: {primary: [de-a], kms: [de-a]}
residency:
  no-china: {applies_to: ["*"], deny: [CN]}
  government-stays-in-us: {applies_to: ["*"], plans: [government], allow: [US]}
`

const (
	naLine  = "    na: {primary: [us-a, us-gov], kms: [us-a, us-gov]}"
	rowLine = "    row: {primary: [de-a], kms: [de-a]}"
	noChina = `  no-china: {applies_to: ["*"], deny: [CN]}`
)

// model builds the model of base with the given replacements (old line -> new line).
func model(t *testing.T, repl ...string) *policy.Model {
	t.Helper()
	src := base
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(src, repl[i]) {
			t.Fatalf("base has no line %q", repl[i])
		}
		src = strings.Replace(src, repl[i], repl[i+1], 1)
	}
	c, errs := config.Parse("test.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// change fills the nil lists of c with empty ones, as Models does.
func change(c diff.Change) diff.Change {
	for _, l := range []*[]string{&c.AddedDatacenters, &c.RemovedDatacenters, &c.AddedCountries, &c.RemovedCountries, &c.AddedForbidden} {
		if *l == nil {
			*l = []string{}
		}
	}
	return c
}

func TestModels(t *testing.T) {
	tests := []struct {
		name        string
		old, new    []string // replacements applied to base
		wantChanges []diff.Change
		wantWidened bool
		wantText    string
	}{
		{
			name:     "no change",
			wantText: "no change in what any region, plan or list can reach\n",
		},
		{
			name: "comment-only change",
			new:  []string{rowLine, rowLine + " # moved nothing"},
			// Reach, not text, is compared.
			wantText: "no change in what any region, plan or list can reach\n",
		},
		{
			name: "add an allowed datacenter in a new country",
			new:  []string{naLine, "    na: {primary: [us-a, us-gov], secondary: [de-a], kms: [us-a, us-gov]}"},
			// government cannot use de-a (dedicated class), so only basic changes.
			wantChanges: []diff.Change{{Region: "na", Plan: "basic", List: "secondary", AddedDatacenters: []string{"de-a"}, AddedCountries: []string{"DE"}}},
			wantWidened: true,
			wantText:    "na/basic secondary: + de-a; newly reaches DE\nwidened: some users can newly reach a country\n",
		},
		{
			name:        "add an allowed datacenter in a country already reached",
			new:         []string{naLine, "    na: {primary: [us-a, us-gov, us-b], kms: [us-a, us-gov]}"},
			wantChanges: []diff.Change{{Region: "na", Plan: "basic", List: "primary", AddedDatacenters: []string{"us-b"}}},
			wantText:    "na/basic primary: + us-b\n",
		},
		{
			name: "remove a datacenter",
			old:  []string{rowLine, "    row: {primary: [de-a, us-a], kms: [de-a]}"},
			wantChanges: []diff.Change{
				{Region: "row", Plan: "basic", List: "primary", RemovedDatacenters: []string{"us-a"}, RemovedCountries: []string{"US"}},
			},
			wantText: "row/basic primary: - us-a; no longer reaches US\n",
		},
		{
			name:        "add a forbidden datacenter",
			new:         []string{naLine, "    na: {primary: [us-a, us-gov], secondary: [cn-a], kms: [us-a, us-gov]}"},
			wantChanges: []diff.Change{{Region: "na", Plan: "basic", List: "secondary", AddedForbidden: []string{"cn-a"}}},
			wantText:    "na/basic secondary: lists cn-a which the rules forbid (unreachable; verify rejects it)\n",
		},
		{
			name: "add a dedicated datacenter where its plan is not offered",
			// Neither basic (dedicated class) nor government (not offered in row) can use it.
			new:      []string{rowLine, "    row: {primary: [de-a, us-gov], kms: [de-a]}"},
			wantText: "no change in what any region, plan or list can reach\n",
		},
		{
			name: "drop a deny rule",
			old:  []string{naLine, "    na: {primary: [us-a, us-gov], secondary: [cn-a], kms: [us-a, us-gov]}"},
			new: []string{naLine, "    na: {primary: [us-a, us-gov], secondary: [cn-a], kms: [us-a, us-gov]}",
				noChina, `  no-china: {applies_to: [na], plans: [government], deny: [CN]}`},
			wantChanges: []diff.Change{
				{Region: "na", Plan: "basic", List: "secondary", AddedDatacenters: []string{"cn-a"}, AddedCountries: []string{"CN"}},
			},
			wantWidened: true,
			wantText:    "na/basic secondary: + cn-a; newly reaches CN\nwidened: some users can newly reach a country\n",
		},
		{
			name: "swap datacenters in the same country",
			old:  []string{rowLine, "    row: {primary: [de-a, us-a], kms: [de-a]}"},
			new:  []string{rowLine, "    row: {primary: [de-a, us-b], kms: [de-a]}"},
			wantChanges: []diff.Change{
				{Region: "row", Plan: "basic", List: "primary", AddedDatacenters: []string{"us-b"}, RemovedDatacenters: []string{"us-a"}},
			},
			wantText: "row/basic primary: + us-b; - us-a\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := diff.Models(model(t, tt.old...), model(t, tt.new...))
			want := []diff.Change{}
			for _, c := range tt.wantChanges {
				want = append(want, change(c))
			}
			if !reflect.DeepEqual(res.Changes, want) {
				t.Errorf("got changes %+v, want %+v", res.Changes, want)
			}
			if res.Widened != tt.wantWidened {
				t.Errorf("got widened %v, want %v", res.Widened, tt.wantWidened)
			}
			if tt.wantText != "" {
				var b bytes.Buffer
				diff.WriteText(&b, res)
				if b.String() != tt.wantText {
					t.Errorf("got text %q, want %q", b.String(), tt.wantText)
				}
			}
		})
	}
}

func TestModelsNil(t *testing.T) {
	m := model(t)
	tests := []struct {
		name        string
		old, new    *policy.Model
		wantChanges int
		wantWidened bool
	}{
		{"both nil", nil, nil, 0, false},
		{"from nothing", nil, m, 6, true}, // na/basic primary+kms, na/government primary+kms, row/basic primary+kms
		{"to nothing", m, nil, 6, false},
		{"same model", m, m, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := diff.Models(tt.old, tt.new)
			if len(res.Changes) != tt.wantChanges || res.Widened != tt.wantWidened {
				t.Errorf("got %d changes, widened %v; want %d, %v: %+v", len(res.Changes), res.Widened, tt.wantChanges, tt.wantWidened, res.Changes)
			}
		})
	}
}

// TestResultJSON checks that the JSON has every list, empty rather than null.
func TestResultJSON(t *testing.T) {
	res := diff.Models(model(t), model(t, naLine, "    na: {primary: [us-a, us-gov], secondary: [de-a], kms: [us-a, us-gov]}"))
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"widened":true,"changes":[{"region":"na","plan":"basic","list":"secondary","added_datacenters":["de-a"],"removed_datacenters":[],"added_countries":["DE"],"removed_countries":[],"added_forbidden":[]}]}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	b, _ = json.Marshal(diff.Models(model(t), model(t)))
	if string(b) != `{"widened":false,"changes":[]}` {
		t.Errorf("got %s, want no changes as an empty list", b)
	}
}

// TestMoveBetweenListsIsNoWidening: moving a DC from a region's secondary list to its primary
// list changes the lists but lets no user reach a new country.
func TestMoveBetweenListsIsNoWidening(t *testing.T) {
	old := model(t, naLine, "    na: {primary: [us-a, us-gov], secondary: [us-b], kms: [us-a, us-gov]}")
	new := model(t, naLine, "    na: {primary: [us-a, us-b, us-gov], kms: [us-a, us-gov]}")
	res := diff.Models(old, new)
	if res.Widened {
		t.Errorf("moving us-b from secondary to primary reported as widening: %+v", res.Changes)
	}
	if len(res.Changes) == 0 {
		t.Errorf("the move shows no change at all")
	}
}

// verified parses and verifies base with the replacements, as `geofence diff` does each file.
func verified(t *testing.T, repl ...string) (*verify.Report, *policy.Model) {
	t.Helper()
	src := base
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(src, repl[i]) {
			t.Fatalf("base has no line %q", repl[i])
		}
		src = strings.Replace(src, repl[i], repl[i+1], 1)
	}
	c, errs := config.Parse("test.yaml", []byte(src))
	rep, m := verify.Config(c, errs, verify.Options{})
	if m == nil {
		t.Fatalf("no model: %v", rep.Findings)
	}
	return rep, m
}

// TestCompare: a gate stops a change that widens reach and a new config that does not verify,
// in particular one listing a datacenter its rules forbid, which widens nothing.
func TestCompare(t *testing.T) {
	forbidden := []string{naLine, "    na: {primary: [us-a, us-gov], secondary: [cn-a], kms: [us-a, us-gov]}"}
	widened := []string{naLine, "    na: {primary: [us-a, us-gov], secondary: [de-a], kms: [us-a, us-gov]}"}
	unknownDC := []string{rowLine, "    row: {primary: [de-a, de-b], kms: [de-a]}"}
	tests := []struct {
		name          string
		old, new      []string
		wantOldOK     bool
		wantNewOK     bool
		wantNewErrors []string // their codes
		wantWidened   bool
		wantBlocked   bool
	}{
		{"no change", nil, nil, true, true, nil, false, false},
		{"widened", nil, widened, true, true, nil, true, true},
		{"new lists a forbidden datacenter", nil, forbidden, true, false, []string{"residency"}, false, true},
		{"new names an unknown datacenter", nil, unknownDC, true, false, []string{"reference"}, false, true},
		// Fixing a broken config is never blocked for the old one's errors.
		{"old lists a forbidden datacenter", forbidden, nil, false, true, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldRep, old := verified(t, tt.old...)
			newRep, new := verified(t, tt.new...)
			c := diff.Compare(oldRep, old, newRep, new)
			var codes []string
			for _, f := range c.NewErrors {
				codes = append(codes, f.Code)
				if f.Severity != verify.Error || f.File != "test.yaml" || f.Line == 0 {
					t.Errorf("got new error %+v, want an error finding with its position", f)
				}
			}
			if c.OldOK != tt.wantOldOK || c.NewOK != tt.wantNewOK || strings.Join(codes, ",") != strings.Join(tt.wantNewErrors, ",") {
				t.Errorf("got old ok %v, new ok %v, new errors %v; want %v, %v, %v", c.OldOK, c.NewOK, codes, tt.wantOldOK, tt.wantNewOK, tt.wantNewErrors)
			}
			if c.Widened != tt.wantWidened || c.Blocked() != tt.wantBlocked {
				t.Errorf("got widened %v, blocked %v; want %v, %v", c.Widened, c.Blocked(), tt.wantWidened, tt.wantBlocked)
			}
			if c.NewErrors == nil {
				t.Errorf("got new errors nil, want an empty list")
			}
		})
	}
}

// TestComparisonJSON: the verdicts sit beside Result's fields.
func TestComparisonJSON(t *testing.T) {
	rep, m := verified(t)
	b, err := json.Marshal(diff.Compare(rep, m, rep, m))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"widened":false,"changes":[],"old_ok":true,"new_ok":true,"new_errors":[]}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
