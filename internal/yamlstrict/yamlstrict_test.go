package yamlstrict_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/geofence/geofence/internal/yamlstrict"
	"go.yaml.in/yaml/v3"
)

// decode walks a document of one required number "n", an optional mapping of names "m" and
// an optional string "s".
func decode(data string) yamlstrict.ErrorList {
	d := &yamlstrict.Decoder{File: "f.yaml", What: "thing", MaxNodes: 1000}
	if root, ok := d.Document([]byte(data)); ok {
		d.Mapping(root, "", []yamlstrict.Field{
			{Name: "n", Required: true, Value: func(p string, v *yaml.Node) { d.Number(v, p) }},
			{Name: "i", Value: func(p string, v *yaml.Node) { d.Integer(v, p) }},
			{Name: "s", Value: func(p string, v *yaml.Node) { d.Str(v, p) }},
			{Name: "m", Value: func(p string, v *yaml.Node) {
				d.Entries(v, p, yamlstrict.Keys{Noun: "name", Want: "non-empty strings"}, func(k yamlstrict.Name, p string, v *yaml.Node) { d.Number(v, p) })
			}},
		})
	}
	d.SortErrors()
	return d.Errs
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"valid", "n: 1\ni: 0x10\ns: x\nm: {a: 1, b: 2.5}\n", nil},
		{"empty", "", []string{"f.yaml:1:1: thing is empty"}},
		{"only a marker", "---", []string{"f.yaml:1:1: thing is empty"}},
		{"two documents", "n: 1\n---\nn: 2\n", []string{"f.yaml:2:1: thing holds more than one YAML document; put everything in one"}},
		{"syntax", "n: 1\n m: 2\n", []string{"f.yaml:2:1: invalid YAML: mapping values are not allowed in this context"}},
		{"unknown and missing", "x: 1\n", []string{`f.yaml:1:1: x: unknown key "x" (expected one of n, i, s, m)`, `f.yaml:1:1: n: missing required key "n"`}},
		{"duplicate key", "n: 1\nn: 2\n", []string{`f.yaml:2:1: n: duplicate key "n"`}},
		{"types", "n: x\ni: 1.5\ns: [a]\n", []string{`f.yaml:1:4: n: expected a number, got "x"`, `f.yaml:2:4: i: expected an integer, got "1.5"`, "f.yaml:3:4: s: expected a string, got a list"}},
		{"not finite", "n: .nan\n", []string{`f.yaml:1:4: n: number ".nan" is not a finite number`}},
		{"names", "n: 1\nm: {a: 1, a: 2, '': 3}\n", []string{`f.yaml:2:11: m.a: duplicate name "a"`, `f.yaml:2:17: m: names must be non-empty strings, got ""`}},
		{"not a mapping", "n: 1\nm: [1]\n", []string{"f.yaml:2:4: m: expected a mapping of names, got a list"}},
		{"aliases", "n: 1\nm: &a {x: 1}\ns: *a\n", []string{"f.yaml:2:4: s: expected a string, got a mapping"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := decode(tt.yaml)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %q", len(errs), errs, tt.want)
			}
			for i, w := range tt.want {
				if got := errs[i].Error(); got != w {
					t.Errorf("error %d: got %q, want %q", i, got, w)
				}
			}
		})
	}
}

func TestMaxNodes(t *testing.T) {
	var b strings.Builder
	b.WriteString("n: 1\nm:\n")
	for i := range 600 {
		fmt.Fprintf(&b, "  k%d: 1\n", i)
	}
	errs := decode(b.String())
	if len(errs) != 1 || !strings.Contains(errs[0].Msg, "thing expands to more than 1000 YAML nodes") {
		t.Errorf("got %v, want the node bound", errs)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("n: 1\nm: {a: 1}\n")
	f.Add("n: &x 1\ns: *x\n")
	f.Add("---\n")
	f.Fuzz(func(t *testing.T, data string) {
		for _, e := range decode(data) {
			if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
				t.Fatalf("error without a position or a message: %#v", e)
			}
		}
	})
}
