// Package yamlstrict is the strict YAML decoding the config and the simulator's scenarios
// share: one document, walked node by node, where unknown and duplicate keys, missing
// required keys and wrong types are errors that carry the file, line, column and YAML path of
// what is wrong, every one of them reported at once rather than the first. Aliases are
// followed, with the walk bounded so that a small file cannot expand into an enormous one.
//
// It knows nothing of what the documents mean: package config and package sim/scenario
// describe their fields with it and check their values themselves.
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a position in a file, 1-based.
type Pos struct {
	Line, Col int
}

// Name is a scalar (an id, a reference or a country code) with where it was written.
type Name struct {
	Value string
	Pos   Pos
	// Index is the item's position in the YAML list it was written in (0 when not in a list),
	// so messages name it as written even after bad items are dropped.
	Index int
}

// CodeStructure is the code of a problem of the document's shape (types, keys, YAML itself).
const CodeStructure = "structure"

// Error is one problem in a file.
type Error struct {
	File string
	Pos  Pos
	Path string // YAML path, e.g. routing.regions.na.primary[1]
	Code string // CodeStructure, or the caller's own code
	Msg  string
}

func (e *Error) Error() string {
	path := ""
	if e.Path != "" {
		path = e.Path + ": "
	}
	return fmt.Sprintf("%s:%d:%d: %s%s", e.File, e.Pos.Line, e.Pos.Col, path, e.Msg)
}

// ErrorList is every problem found in one file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0].Error(), len(l)-1)
}

// Decoder walks one document and collects its errors. Set File, What and MaxNodes; the zero
// value of the rest is ready.
type Decoder struct {
	// File names the file in errors.
	File string
	// What is the kind of document in messages ("config", "scenario").
	What string
	// MaxNodes bounds the nodes the walk visits (aliases can make a small file a large walk).
	MaxNodes int
	// Errs are the errors so far.
	Errs  ErrorList
	nodes int
}

// Errorf records an error at p.
func (d *Decoder) Errorf(p Pos, path, code, format string, args ...any) {
	d.Errs = append(d.Errs, &Error{File: d.File, Pos: p, Path: path, Code: code, Msg: fmt.Sprintf(format, args...)})
}

// SortErrors orders the errors by position, stably.
func (d *Decoder) SortErrors() {
	sort.SliceStable(d.Errs, func(i, j int) bool {
		a, b := d.Errs[i].Pos, d.Errs[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// Document parses data into its single document's root node. No document, an empty one and
// more than one are errors, as is invalid YAML (at the line the YAML parser names).
func (d *Decoder) Document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.Errorf(Pos{Line: 1, Col: 1}, "", CodeStructure, "%s is empty", d.What)
			return nil, false
		}
		d.syntaxError(err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.Errorf(PosOf(&extra), "", CodeStructure, "%s holds more than one YAML document; put everything in one", d.What)
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
		return nil, false
	}
	// A document that is only "---" holds an implicit null whose position can lie past the
	// end of the file; it is an empty document like a file with none.
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 ||
		doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
		d.Errorf(Pos{Line: 1, Col: 1}, "", CodeStructure, "%s is empty", d.What)
		return nil, false
	}
	return doc.Content[0], true
}

func (d *Decoder) syntaxError(err error) {
	line, msg := 1, err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
		msg = m[2]
	}
	d.Errorf(Pos{Line: max(line, 1), Col: 1}, "", CodeStructure, "invalid YAML: %s", msg)
}

// PosOf is where n is written.
func PosOf(n *yaml.Node) Pos { return Pos{Line: max(n.Line, 1), Col: max(n.Column, 1)} }

// Resolve follows aliases and counts the walk against MaxNodes.
func (d *Decoder) Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	d.nodes++
	if d.nodes == d.MaxNodes {
		d.Errorf(PosOf(n), "", CodeStructure, "%s expands to more than %d YAML nodes (aliases?)", d.What, d.MaxNodes)
	}
	return n
}

// Exhausted reports whether the walk has reached MaxNodes: loops stop there.
func (d *Decoder) Exhausted() bool { return d.nodes >= d.MaxNodes }

// KindName describes n in a message: "a mapping", "a list", "null" or the quoted scalar.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported YAML node"
}

// Join is the path of key under path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Field is a key of a mapping of fixed field names.
type Field struct {
	Name  string
	Value func(path string, v *yaml.Node)
	// Required fields that are missing are reported at the mapping.
	Required bool
}

// Mapping walks a mapping whose keys are fixed field names, calling each field's Value with
// its path and value. Unknown and duplicate keys are errors; so is a missing required field.
// It reports whether n was a mapping.
func (d *Decoder) Mapping(n *yaml.Node, path string, fields []Field) bool {
	n = d.Resolve(n)
	if n.Kind != yaml.MappingNode {
		d.Errorf(PosOf(n), path, CodeStructure, "expected a mapping, got %s", KindName(n))
		return false
	}
	seen := make(map[string]bool, len(fields))
	for i := 0; i+1 < len(n.Content) && !d.Exhausted(); i += 2 {
		k, v := d.Resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.Errorf(PosOf(k), path, CodeStructure, "mapping keys must be plain names, got %s", KindName(k))
			continue
		}
		if seen[k.Value] {
			d.Errorf(PosOf(k), Join(path, k.Value), CodeStructure, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		var f *Field
		for j := range fields {
			if fields[j].Name == k.Value {
				f = &fields[j]
				break
			}
		}
		if f == nil {
			d.Errorf(PosOf(k), Join(path, k.Value), CodeStructure, "unknown key %q (expected one of %s)", k.Value, fieldNames(fields))
			continue
		}
		f.Value(Join(path, k.Value), v)
	}
	for _, f := range fields {
		if f.Required && !seen[f.Name] {
			d.Errorf(PosOf(n), Join(path, f.Name), CodeStructure, "missing required key %q", f.Name)
		}
	}
	return true
}

func fieldNames(fs []Field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// Keys says what the keys of a mapping of names (Entries) are called and which are accepted.
type Keys struct {
	// Noun is what a key is called in messages ("id", "name").
	Noun string
	// Want says what a key must be, after "ids must be" ("non-empty names").
	Want string
	// NullOK takes a null for an empty mapping (an empty section).
	NullOK bool
	// Check, when set, vets each key before its value is walked; it reports its own error
	// and returns false to skip the entry.
	Check func(key Name, path string) bool
}

// Entries walks a mapping of names to values, in file order. Keys that are not non-empty
// scalars and duplicates are errors.
func (d *Decoder) Entries(n *yaml.Node, path string, keys Keys, each func(key Name, path string, v *yaml.Node)) {
	n = d.Resolve(n)
	if keys.NullOK && n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(PosOf(n), path, CodeStructure, "expected a mapping of %ss, got %s", keys.Noun, KindName(n))
		return
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content) && !d.Exhausted(); i += 2 {
		k := d.Resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" || k.Value == "" {
			d.Errorf(PosOf(k), path, CodeStructure, "%ss must be %s, got %s", keys.Noun, keys.Want, KindName(k))
			continue
		}
		key := Name{Value: k.Value, Pos: PosOf(k)}
		if keys.Check != nil && !keys.Check(key, Join(path, k.Value)) {
			continue
		}
		if seen[k.Value] {
			d.Errorf(PosOf(k), Join(path, k.Value), CodeStructure, "duplicate %s %q", keys.Noun, k.Value)
			continue
		}
		seen[k.Value] = true
		each(key, Join(path, k.Value), n.Content[i+1])
	}
}

// Str decodes a string scalar ("" included).
func (d *Decoder) Str(n *yaml.Node, path string) (Name, bool) {
	n = d.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(PosOf(n), path, CodeStructure, "expected a string, got %s", KindName(n))
		return Name{}, false
	}
	return Name{Value: n.Value, Pos: PosOf(n)}, true
}

// Integer decodes an integer scalar (underscores allowed, any base strconv reads).
func (d *Decoder) Integer(n *yaml.Node, path string) (int64, Pos, bool) {
	n = d.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.Errorf(PosOf(n), path, CodeStructure, "expected an integer, got %s", KindName(n))
		return 0, PosOf(n), false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		d.Errorf(PosOf(n), path, CodeStructure, "integer %q out of range", n.Value)
		return 0, PosOf(n), false
	}
	return v, PosOf(n), true
}

// Number decodes an integer or float scalar that is finite.
func (d *Decoder) Number(n *yaml.Node, path string) (float64, Pos, bool) {
	n = d.Resolve(n)
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		d.Errorf(PosOf(n), path, CodeStructure, "expected a number, got %s", KindName(n))
		return 0, PosOf(n), false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if n.Tag == "!!int" {
		var i int64
		i, err = strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		v = float64(i)
	}
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.Errorf(PosOf(n), path, CodeStructure, "number %q is not a finite number", n.Value)
		return 0, PosOf(n), false
	}
	return v, PosOf(n), true
}
