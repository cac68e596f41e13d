package config

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/geofence/geofence/geo"
	"go.yaml.in/yaml/v3"
)

// MaxSize is the largest config Load and Parse read: 16 MiB (a generated world of thousands
// of DCs is well under 1 MiB). Load stops reading there, so that a path such as /dev/zero or
// a runaway file cannot exhaust memory.
const MaxSize = 16 << 20

// maxNodes bounds the YAML nodes one Parse visits, so that aliases cannot make a small file
// expand into an enormous walk.
const maxNodes = 2_000_000

// Errors Load wraps, for callers that branch with errors.Is.
var (
	// ErrTooLarge: the file is larger than MaxSize.
	ErrTooLarge = errors.New("larger than the config size limit")
	// ErrNotRegular: the path is a directory, a device, a pipe or a socket, not a file.
	ErrNotRegular = errors.New("not a regular file")
)

// Load reads and parses the file at path. A file that cannot be read (missing, not a regular
// file, larger than MaxSize) is a plain error naming it; a file with problems returns the
// best-effort Config and every problem as an ErrorList.
func Load(path string) (*Config, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, errs := Parse(path, data)
	if len(errs) > 0 {
		return c, errs
	}
	return c, nil
}

// ReadFile reads a config file: a regular file of at most MaxSize bytes. The path is checked before it is
// opened, since opening a named pipe blocks until something writes to it, and again after,
// since it may have been replaced in between.
func ReadFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	return readLimited(path, f)
}

func regular(path string, fi os.FileInfo) error {
	switch t := fi.Mode().Type(); {
	case t == 0:
		if fi.Size() > MaxSize {
			return tooLarge(path)
		}
		return nil
	case t&os.ModeDir != 0:
		return fmt.Errorf("read config: %s is a directory, %w", path, ErrNotRegular)
	case t&os.ModeDevice != 0:
		return fmt.Errorf("read config: %s is a device, %w", path, ErrNotRegular)
	case t&os.ModeNamedPipe != 0:
		return fmt.Errorf("read config: %s is a named pipe, %w", path, ErrNotRegular)
	case t&os.ModeSocket != 0:
		return fmt.Errorf("read config: %s is a socket, %w", path, ErrNotRegular)
	}
	return fmt.Errorf("read config: %s is %w", path, ErrNotRegular)
}

// readLimited reads r to its end, failing once it has given more than MaxSize bytes (a file
// may grow after it was checked).
func readLimited(path string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > MaxSize {
		return nil, tooLarge(path)
	}
	return data, nil
}

func tooLarge(path string) error {
	return fmt.Errorf("read config: %s is %w of %d MiB", path, ErrTooLarge, MaxSize>>20)
}

// Parse decodes and checks a config. It always returns a Config (possibly partial) that holds
// only well-formed entries, and every problem found, sorted by position.
func Parse(file string, data []byte) (*Config, ErrorList) {
	d := &decoder{file: file}
	c := &Config{File: file}
	c.Routing.PrimaryCount = DefaultPrimaryCount
	c.Routing.SecondaryCount = DefaultSecondaryCount
	c.Routing.HighWatermark = DefaultHighWatermark
	if len(data) > MaxSize {
		d.errorf(Pos{1, 1}, "", CodeStructure, "config is %d bytes, larger than the %d-byte limit", len(data), MaxSize)
		return c, d.errs
	}
	root, ok := d.document(data)
	if ok {
		d.top(root, c)
		d.check(c)
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i].Pos, d.errs[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return c, d.errs
}

type decoder struct {
	file  string
	errs  ErrorList
	nodes int
	// declared holds, per section path, the ids written there, including entries dropped
	// for their own errors, so a reference to one is not also reported as unknown.
	declared map[string]map[string]bool
}

func (d *decoder) errorf(p Pos, path, code, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Pos: p, Path: path, Code: code, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// document parses the YAML text into its single document's root node.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(Pos{1, 1}, "", CodeStructure, "config is empty")
			return nil, false
		}
		d.syntaxError(err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(pos(&extra), "", CodeStructure, "config holds more than one YAML document; put everything in one")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
		return nil, false
	}
	// A document that is only "---" holds an implicit null whose position can lie past the
	// end of the file; it is an empty config like a file with no document.
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 ||
		doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
		d.errorf(Pos{1, 1}, "", CodeStructure, "config is empty")
		return nil, false
	}
	return doc.Content[0], true
}

func (d *decoder) syntaxError(err error) {
	line, msg := 1, err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
		msg = m[2]
	}
	d.errorf(Pos{line, 1}, "", CodeStructure, "invalid YAML: %s", msg)
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// resolve follows aliases and counts the walk against maxNodes.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	d.nodes++
	if d.nodes == maxNodes {
		d.errorf(pos(n), "", CodeStructure, "config expands to more than %d YAML nodes (aliases?)", maxNodes)
	}
	return n
}

func (d *decoder) exhausted() bool { return d.nodes >= maxNodes }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported YAML node"
}

type field struct {
	name  string
	value func(path string, v *yaml.Node)
	// required fields that are missing are reported at the mapping.
	required bool
}

// mapping walks a mapping whose keys are fixed field names. Unknown and duplicate keys are
// errors; so is a missing required field.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) bool {
	n = d.resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(pos(n), path, CodeStructure, "expected a mapping, got %s", kindName(n))
		return false
	}
	seen := make(map[string]bool, len(fields))
	for i := 0; i+1 < len(n.Content) && !d.exhausted(); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(pos(k), path, CodeStructure, "mapping keys must be plain names, got %s", kindName(k))
			continue
		}
		if seen[k.Value] {
			d.errorf(pos(k), join(path, k.Value), CodeStructure, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		var f *field
		for j := range fields {
			if fields[j].name == k.Value {
				f = &fields[j]
				break
			}
		}
		if f == nil {
			d.errorf(pos(k), join(path, k.Value), CodeStructure, "unknown key %q (expected one of %s)", k.Value, fieldNames(fields))
			continue
		}
		f.value(join(path, k.Value), v)
	}
	for _, f := range fields {
		if f.required && !seen[f.name] {
			d.errorf(pos(n), join(path, f.name), CodeStructure, "missing required key %q", f.name)
		}
	}
	return true
}

func fieldNames(fs []field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// entries walks a mapping of ids to values, in file order.
func (d *decoder) entries(n *yaml.Node, path string, each func(id Name, path string, v *yaml.Node)) {
	n = d.resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty section
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(pos(n), path, CodeStructure, "expected a mapping of ids, got %s", kindName(n))
		return
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content) && !d.exhausted(); i += 2 {
		k := d.resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" || k.Value == "" {
			d.errorf(pos(k), path, CodeStructure, "ids must be non-empty names, got %s", kindName(k))
			continue
		}
		if !validID(k.Value) {
			d.errorf(pos(k), join(path, k.Value), CodeStructure, "id %q has characters other than letters, digits, '-', '_' and '.'", k.Value)
			continue
		}
		if seen[k.Value] {
			d.errorf(pos(k), join(path, k.Value), CodeStructure, "duplicate id %q", k.Value)
			continue
		}
		seen[k.Value] = true
		if d.declared == nil {
			d.declared = map[string]map[string]bool{}
		}
		if d.declared[path] == nil {
			d.declared[path] = map[string]bool{}
		}
		d.declared[path][k.Value] = true
		each(Name{Value: k.Value, Pos: pos(k)}, join(path, k.Value), n.Content[i+1])
	}
}

func validID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// str decodes a string scalar.
func (d *decoder) str(n *yaml.Node, path string) (Name, bool) {
	n = d.resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(pos(n), path, CodeStructure, "expected a string, got %s", kindName(n))
		return Name{}, false
	}
	return Name{Value: n.Value, Pos: pos(n)}, true
}

// id decodes a reference that must not be empty (what names an optional reference leaves it
// out rather than writing "").
func (d *decoder) id(n *yaml.Node, path, what string) (Name, bool) {
	s, ok := d.str(n, path)
	if ok && s.Value == "" {
		d.errorf(s.Pos, path, CodeStructure, "%s must not be empty", what)
		return Name{}, false
	}
	return s, ok
}

// list decodes a list of string scalars; a null is an empty list.
func (d *decoder) list(n *yaml.Node, path string) ([]Name, bool) {
	n = d.resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return []Name{}, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(pos(n), path, CodeStructure, "expected a list, got %s", kindName(n))
		return nil, false
	}
	out := make([]Name, 0, len(n.Content))
	for i, item := range n.Content {
		if d.exhausted() {
			break
		}
		if s, ok := d.str(item, fmt.Sprintf("%s[%d]", path, i)); ok {
			s.Index = i
			out = append(out, s)
		}
	}
	return out, true
}

func (d *decoder) integer(n *yaml.Node, path string) (int64, Pos, bool) {
	n = d.resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(pos(n), path, CodeStructure, "expected an integer, got %s", kindName(n))
		return 0, pos(n), false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		d.errorf(pos(n), path, CodeStructure, "integer %q out of range", n.Value)
		return 0, pos(n), false
	}
	return v, pos(n), true
}

func (d *decoder) number(n *yaml.Node, path string) (float64, Pos, bool) {
	n = d.resolve(n)
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		d.errorf(pos(n), path, CodeStructure, "expected a number, got %s", kindName(n))
		return 0, pos(n), false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if n.Tag == "!!int" {
		var i int64
		i, err = strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		v = float64(i)
	}
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(pos(n), path, CodeStructure, "number %q is not a finite number", n.Value)
		return 0, pos(n), false
	}
	return v, pos(n), true
}

// top decodes the whole file.
func (d *decoder) top(n *yaml.Node, c *Config) {
	d.mapping(n, "", []field{
		{name: "version", required: true, value: func(p string, v *yaml.Node) {
			i, at, ok := d.integer(v, p)
			if ok && i != 1 {
				d.errorf(at, p, CodeStructure, "unsupported config version %d (this geofence reads version 1)", i)
			}
			if ok {
				c.Version = int(i)
			}
		}},
		{name: "default_region", required: true, value: func(p string, v *yaml.Node) {
			c.DefaultRegion, _ = d.str(v, p)
		}},
		{name: "regions", required: true, value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if r, ok := d.region(id, p, v); ok {
					c.Regions = append(c.Regions, r)
				}
			})
		}},
		{name: "plans", required: true, value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if pl, ok := d.plan(id, p, v); ok {
					c.Plans = append(c.Plans, pl)
				}
			})
		}},
		{name: "datacenters", required: true, value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if dc, ok := d.datacenter(id, p, v); ok {
					c.Datacenters = append(c.Datacenters, dc)
				}
			})
		}},
		{name: "routing", required: true, value: func(p string, v *yaml.Node) { d.routing(p, v, &c.Routing) }},
		{name: "residency", value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if r, ok := d.rule(id, p, v); ok {
					c.Residency = append(c.Residency, r)
				}
			})
		}},
		{name: "accounts", value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if a, ok := d.account(id, p, v); ok {
					c.Accounts = append(c.Accounts, a)
				}
			})
		}},
		{name: "stores", value: func(p string, v *yaml.Node) {
			c.Stores = []*Store{}
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if st, ok := d.store(id, p, v); ok {
					c.Stores = append(c.Stores, st)
				}
			})
		}},
	})
}

func (d *decoder) store(id Name, path string, n *yaml.Node) (*Store, bool) {
	st := &Store{ID: id.Value, Pos: id.Pos}
	good := true
	ok := d.mapping(n, path, []field{
		{name: "country", required: true, value: func(p string, v *yaml.Node) {
			s, ok := d.str(v, p)
			if !ok {
				good = false
				return
			}
			if _, known := geo.LookupCountry(s.Value); !known {
				// Kept, without a country, so that its regions still count as covered: the
				// model has no store for them and verify refuses the config.
				d.errorf(s.Pos, p, CodeStructure, "%q is not an assigned ISO 3166-1 alpha-2 country code%s", s.Value, upperHint(s.Value))
				return
			}
			st.Country = s
		}},
		{name: "regions", value: func(p string, v *yaml.Node) {
			st.Regions, _ = d.list(v, p)
			st.listsRegions = v.Kind != yaml.SequenceNode || len(v.Content) > 0
		}},
	})
	return st, ok && good
}

func (d *decoder) region(id Name, path string, n *yaml.Node) (*Region, bool) {
	r := &Region{ID: id.Value, Pos: id.Pos}
	ok := d.mapping(n, path, []field{
		{name: "name", value: func(p string, v *yaml.Node) { s, _ := d.str(v, p); r.Name = s.Value }},
		{name: "countries", required: true, value: func(p string, v *yaml.Node) {
			r.Countries = d.countries(v, p)
		}},
		{name: "peak", value: func(p string, v *yaml.Node) {
			i, at, ok := d.integer(v, p)
			if ok && i < 0 {
				d.errorf(at, p, CodeStructure, "peak must not be negative, got %d", i)
				return
			}
			r.Peak = i
		}},
	})
	return r, ok
}

// countries decodes a list of country codes, keeping only assigned ISO 3166-1 alpha-2 codes.
func (d *decoder) countries(n *yaml.Node, path string) []Name {
	names, _ := d.list(n, path)
	if names == nil {
		// Malformed: keep an empty, non-nil list so that a broken allow list allows nothing
		// rather than everything (fail closed, I4).
		return []Name{}
	}
	out := names[:0]
	seen := make(map[string]bool, len(names))
	for _, c := range names {
		p := fmt.Sprintf("%s[%d]", path, c.Index)
		if _, ok := geo.LookupCountry(c.Value); !ok {
			d.errorf(c.Pos, p, CodeStructure, "%q is not an assigned ISO 3166-1 alpha-2 country code%s", c.Value, upperHint(c.Value))
			continue
		}
		if seen[c.Value] {
			d.errorf(c.Pos, p, CodeStructure, "country %s is listed twice", c.Value)
			continue
		}
		seen[c.Value] = true
		out = append(out, c)
	}
	return out
}

func (d *decoder) plan(id Name, path string, n *yaml.Node) (*Plan, bool) {
	pl := &Plan{ID: id.Value, Pos: id.Pos}
	n = d.resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return pl, true // `basic:` with nothing after it
	}
	ok := d.mapping(n, path, []field{
		{name: "dedicated", value: func(p string, v *yaml.Node) {
			if s, ok := d.str(v, p); ok {
				if s.Value == "" {
					d.errorf(s.Pos, p, CodeStructure, "dedicated class must not be empty")
					return
				}
				pl.Dedicated = s
			}
		}},
		{name: "regions", value: func(p string, v *yaml.Node) {
			if l, ok := d.list(v, p); ok {
				pl.Regions = l
			}
		}},
	})
	return pl, ok
}

func (d *decoder) datacenter(id Name, path string, n *yaml.Node) (*Datacenter, bool) {
	dc := &Datacenter{ID: id.Value, Pos: id.Pos}
	good := true
	ok := d.mapping(n, path, []field{
		{name: "name", value: func(p string, v *yaml.Node) { s, _ := d.str(v, p); dc.Name = s.Value }},
		{name: "country", required: true, value: func(p string, v *yaml.Node) {
			s, ok := d.str(v, p)
			if !ok {
				good = false
				return
			}
			if _, known := geo.LookupCountry(s.Value); !known {
				d.errorf(s.Pos, p, CodeStructure, "%q is not an assigned ISO 3166-1 alpha-2 country code%s", s.Value, upperHint(s.Value))
				good = false
				return
			}
			dc.Country = s
		}},
		{name: "location", required: true, value: func(p string, v *yaml.Node) {
			v = d.resolve(v)
			dc.LocationPos = pos(v)
			if v.Kind != yaml.SequenceNode || len(v.Content) != 2 {
				d.errorf(pos(v), p, CodeStructure, "location must be [latitude, longitude], got %s", kindName(v))
				good = false
				return
			}
			lat, at, ok1 := d.number(v.Content[0], p+"[0]")
			if ok1 && (lat < -90 || lat > 90) {
				d.errorf(at, p+"[0]", CodeStructure, "latitude %g is out of range [-90, 90]", lat)
				ok1 = false
			}
			lon, at, ok2 := d.number(v.Content[1], p+"[1]")
			if ok2 && (lon < -180 || lon > 180) {
				d.errorf(at, p+"[1]", CodeStructure, "longitude %g is out of range [-180, 180]", lon)
				ok2 = false
			}
			if !ok1 || !ok2 {
				good = false
				return
			}
			dc.Location = geo.LatLon{Lat: lat, Lon: lon}
		}},
		{name: "capacity", required: true, value: func(p string, v *yaml.Node) {
			i, at, ok := d.integer(v, p)
			if ok && i <= 0 {
				d.errorf(at, p, CodeStructure, "capacity must be a positive number of participants, got %d", i)
				ok = false
			}
			if !ok {
				good = false
				return
			}
			dc.Capacity = i
		}},
		{name: "services", required: true, value: func(p string, v *yaml.Node) {
			l, _ := d.list(v, p)
			seen := map[string]bool{}
			for _, s := range l {
				ip := fmt.Sprintf("%s[%d]", p, s.Index)
				switch {
				case s.Value != string(Media) && s.Value != string(KMS):
					d.errorf(s.Pos, ip, CodeStructure, "unknown service %q (expected media or kms)", s.Value)
				case seen[s.Value]:
					d.errorf(s.Pos, ip, CodeStructure, "service %s is listed twice", s.Value)
				default:
					seen[s.Value] = true
					dc.Services = append(dc.Services, s)
				}
			}
		}},
		{name: "dedicated", value: func(p string, v *yaml.Node) {
			if s, ok := d.str(v, p); ok {
				if s.Value == "" {
					d.errorf(s.Pos, p, CodeStructure, "dedicated class must not be empty")
					return
				}
				dc.Dedicated = s
			}
		}},
	})
	// A DC with a missing or broken country, location or capacity is dropped, so later
	// checks never reason about a DC they cannot place.
	if ok && (dc.Country.Value == "" || !good || dc.Capacity == 0 || dc.LocationPos == (Pos{})) {
		ok = false
	}
	return dc, ok
}

func (d *decoder) routing(path string, n *yaml.Node, r *Routing) {
	d.mapping(n, path, []field{
		{name: "primary_count", value: func(p string, v *yaml.Node) {
			i, at, ok := d.integer(v, p)
			if ok && (i < 1 || i > 64) {
				d.errorf(at, p, CodeStructure, "primary_count must be between 1 and 64, got %d", i)
				return
			}
			if ok {
				r.PrimaryCount = int(i)
			}
		}},
		{name: "secondary_count", value: func(p string, v *yaml.Node) {
			i, at, ok := d.integer(v, p)
			if ok && (i < 0 || i > 64) {
				d.errorf(at, p, CodeStructure, "secondary_count must be between 0 and 64, got %d", i)
				return
			}
			if ok {
				r.SecondaryCount = int(i)
			}
		}},
		{name: "high_watermark", value: func(p string, v *yaml.Node) {
			f, at, ok := d.number(v, p)
			if ok && (f <= 0 || f > 1) {
				d.errorf(at, p, CodeStructure, "high_watermark must be in (0, 1], got %g", f)
				return
			}
			if ok {
				r.HighWatermark = f
			}
		}},
		{name: "regions", required: true, value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				rr := &RegionRouting{Region: id}
				ok := d.mapping(v, p, []field{
					{name: "primary", required: true, value: func(p string, v *yaml.Node) { rr.Primary, _ = d.list(v, p) }},
					{name: "secondary", value: func(p string, v *yaml.Node) { rr.Secondary, _ = d.list(v, p) }},
					{name: "kms", required: true, value: func(p string, v *yaml.Node) { rr.KMS, _ = d.list(v, p) }},
				})
				if ok {
					r.Regions = append(r.Regions, rr)
				}
			})
		}},
	})
}

func (d *decoder) rule(id Name, path string, n *yaml.Node) (*Rule, bool) {
	r := &Rule{ID: id.Value, Pos: id.Pos}
	ok := d.mapping(n, path, []field{
		{name: "applies_to", required: true, value: func(p string, v *yaml.Node) { r.AppliesTo, _ = d.list(v, p) }},
		{name: "except", value: func(p string, v *yaml.Node) { r.Except, _ = d.list(v, p) }},
		{name: "plans", value: func(p string, v *yaml.Node) {
			if l, ok := d.list(v, p); ok {
				r.Plans = l
			}
		}},
		{name: "allow", value: func(p string, v *yaml.Node) { r.Allow = d.countries(v, p) }},
		{name: "deny", value: func(p string, v *yaml.Node) { r.Deny = d.countries(v, p) }},
	})
	if ok && r.Allow == nil && r.Deny == nil {
		d.errorf(id.Pos, path, CodeStructure, "rule %s neither allows nor denies any country; give it allow, deny or both", id.Value)
	}
	return r, ok
}

func (d *decoder) account(id Name, path string, n *yaml.Node) (*Account, bool) {
	a := &Account{ID: id.Value, Pos: id.Pos}
	ok := d.mapping(n, path, []field{
		{name: "plan", required: true, value: func(p string, v *yaml.Node) { a.Plan, _ = d.id(v, p, "plan") }},
		// Optional: without it a meeting's data region is the region of its host's country
		// (DESIGN.md section 2).
		{name: "home_region", value: func(p string, v *yaml.Node) { a.HomeRegion, _ = d.id(v, p, "home_region") }},
		{name: "data_regions", value: func(p string, v *yaml.Node) {
			a.DataRegionsPos = pos(v)
			// A malformed list narrows to nothing rather than not at all (fail closed, I4).
			a.DataRegions, _ = d.list(v, p)
			if a.DataRegions == nil {
				a.DataRegions = []Name{}
			}
		}},
		{name: "keys", value: func(p string, v *yaml.Node) { a.Keys = d.accountKeys(v, p) }},
	})
	return a, ok
}

var kidRE = regexp.MustCompile(KIDPattern)

// accountKeys decodes an account's public keys, keeping only the well-formed ones: an account
// with a key struck off accepts fewer tokens, never more.
func (d *decoder) accountKeys(n *yaml.Node, path string) []AccountKey {
	n = d.resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(pos(n), path, CodeStructure, "expected a list of keys {kid, x}, got %s", kindName(n))
		return nil
	}
	var out []AccountKey
	seen := map[string]bool{}
	for i, item := range n.Content {
		if d.exhausted() {
			break
		}
		ip := fmt.Sprintf("%s[%d]", path, i)
		k := AccountKey{Pos: pos(d.resolve(item))}
		var kidPos Pos
		errs := len(d.errs)
		d.mapping(item, ip, []field{
			{name: "kid", required: true, value: func(p string, v *yaml.Node) {
				s, ok := d.str(v, p)
				switch {
				case !ok:
				case !kidRE.MatchString(s.Value):
					d.errorf(s.Pos, p, CodeStructure, "kid %q must be 1 to 128 letters, digits, '.', '_' or '-'", s.Value)
				default:
					k.KID, kidPos = s.Value, s.Pos
				}
			}},
			{name: "x", required: true, value: func(p string, v *yaml.Node) {
				s, ok := d.str(v, p)
				if !ok {
					return
				}
				b, err := base64.RawURLEncoding.Strict().DecodeString(s.Value)
				switch {
				case err != nil:
					d.errorf(s.Pos, p, CodeStructure, "x must be an Ed25519 public key in base64url without padding (RFC 8037): %v", err)
				case len(b) != ed25519.PublicKeySize:
					d.errorf(s.Pos, p, CodeStructure, "x is %d bytes, want the %d bytes of an Ed25519 public key", len(b), ed25519.PublicKeySize)
				default:
					k.X = s.Value
				}
			}},
		})
		// A kid written twice is an error even when one of the two keys is broken.
		if k.KID != "" {
			if seen[k.KID] {
				d.errorf(kidPos, ip+".kid", CodeStructure, "kid %q is used twice in %s; give each key its own kid", k.KID, path)
				continue
			}
			seen[k.KID] = true
		}
		// A key with any problem (an unknown member too: an "alg" or "use" this version does
		// not know may mean the key is not for join tokens) is dropped.
		if len(d.errs) == errs && k.KID != "" && k.X != "" {
			out = append(out, k)
		}
	}
	return out
}

// upperHint suggests the upper-case form of a country code written in lower case.
func upperHint(code string) string {
	if up := strings.ToUpper(code); up != code {
		if _, ok := geo.LookupCountry(up); ok {
			return fmt.Sprintf(" (codes are upper case: %s)", up)
		}
	}
	return ""
}
