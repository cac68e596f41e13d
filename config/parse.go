package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/internal/yamlstrict"
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
	d := &decoder{Decoder: yamlstrict.Decoder{File: file, What: "config", MaxNodes: maxNodes}}
	c := &Config{File: file}
	c.Routing.PrimaryCount = DefaultPrimaryCount
	c.Routing.SecondaryCount = DefaultSecondaryCount
	c.Routing.HighWatermark = DefaultHighWatermark
	if len(data) > MaxSize {
		d.Errorf(Pos{Line: 1, Col: 1}, "", CodeStructure, "config is %d bytes, larger than the %d-byte limit", len(data), MaxSize)
		return c, d.Errs
	}
	root, ok := d.Document(data)
	if ok {
		d.top(root, c)
		d.check(c)
	}
	d.SortErrors()
	return c, d.Errs
}

type decoder struct {
	yamlstrict.Decoder
	// declared holds, per section path, the ids written there, including entries dropped
	// for their own errors, so a reference to one is not also reported as unknown.
	declared map[string]map[string]bool
}

type field = yamlstrict.Field

func pos(n *yaml.Node) Pos { return yamlstrict.PosOf(n) }

func kindName(n *yaml.Node) string { return yamlstrict.KindName(n) }

// ids are the keys of the config's sections.
var ids = yamlstrict.Keys{Noun: "id", Want: "non-empty names", NullOK: true}

// entries walks a mapping of ids to values, in file order.
func (d *decoder) entries(n *yaml.Node, path string, each func(id Name, path string, v *yaml.Node)) {
	keys := ids
	keys.Check = func(k Name, p string) bool {
		if !validID(k.Value) {
			d.Errorf(k.Pos, p, CodeStructure, "id %q has characters other than letters, digits, '-', '_' and '.'", k.Value)
			return false
		}
		return true
	}
	d.Entries(n, path, keys, func(id Name, p string, v *yaml.Node) {
		if d.declared == nil {
			d.declared = map[string]map[string]bool{}
		}
		if d.declared[path] == nil {
			d.declared[path] = map[string]bool{}
		}
		d.declared[path][id.Value] = true
		each(id, p, v)
	})
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

// id decodes a reference that must not be empty (what names an optional reference leaves it
// out rather than writing "").
func (d *decoder) id(n *yaml.Node, path, what string) (Name, bool) {
	s, ok := d.Str(n, path)
	if ok && s.Value == "" {
		d.Errorf(s.Pos, path, CodeStructure, "%s must not be empty", what)
		return Name{}, false
	}
	return s, ok
}

// list decodes a list of string scalars; a null is an empty list.
func (d *decoder) list(n *yaml.Node, path string) ([]Name, bool) {
	n = d.Resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return []Name{}, true
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(pos(n), path, CodeStructure, "expected a list, got %s", kindName(n))
		return nil, false
	}
	out := make([]Name, 0, len(n.Content))
	for i, item := range n.Content {
		if d.Exhausted() {
			break
		}
		if s, ok := d.Str(item, fmt.Sprintf("%s[%d]", path, i)); ok {
			s.Index = i
			out = append(out, s)
		}
	}
	return out, true
}

// top decodes the whole file.
func (d *decoder) top(n *yaml.Node, c *Config) {
	d.Mapping(n, "", []field{
		{Name: "version", Required: true, Value: func(p string, v *yaml.Node) {
			i, at, ok := d.Integer(v, p)
			if ok && i != 1 {
				d.Errorf(at, p, CodeStructure, "unsupported config version %d (this geofence reads version 1)", i)
			}
			if ok {
				c.Version = int(i)
			}
		}},
		{Name: "default_region", Required: true, Value: func(p string, v *yaml.Node) {
			c.DefaultRegion, _ = d.Str(v, p)
		}},
		{Name: "regions", Required: true, Value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if r, ok := d.region(id, p, v); ok {
					c.Regions = append(c.Regions, r)
				}
			})
		}},
		{Name: "plans", Required: true, Value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if pl, ok := d.plan(id, p, v); ok {
					c.Plans = append(c.Plans, pl)
				}
			})
		}},
		{Name: "datacenters", Required: true, Value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if dc, ok := d.datacenter(id, p, v); ok {
					c.Datacenters = append(c.Datacenters, dc)
				}
			})
		}},
		{Name: "routing", Required: true, Value: func(p string, v *yaml.Node) { d.routing(p, v, &c.Routing) }},
		{Name: "residency", Value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if r, ok := d.rule(id, p, v); ok {
					c.Residency = append(c.Residency, r)
				}
			})
		}},
		{Name: "accounts", Value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				if a, ok := d.account(id, p, v); ok {
					c.Accounts = append(c.Accounts, a)
				}
			})
		}},
		{Name: "stores", Value: func(p string, v *yaml.Node) {
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
	ok := d.Mapping(n, path, []field{
		{Name: "country", Required: true, Value: func(p string, v *yaml.Node) {
			s, ok := d.Str(v, p)
			if !ok {
				good = false
				return
			}
			if _, known := geo.LookupCountry(s.Value); !known {
				// Kept, without a country, so that its regions still count as covered: the
				// model has no store for them and verify refuses the config.
				d.Errorf(s.Pos, p, CodeStructure, "%q is not an assigned ISO 3166-1 alpha-2 country code%s", s.Value, upperHint(s.Value))
				return
			}
			st.Country = s
		}},
		{Name: "regions", Value: func(p string, v *yaml.Node) {
			st.Regions, _ = d.list(v, p)
			st.listsRegions = v.Kind != yaml.SequenceNode || len(v.Content) > 0
		}},
	})
	return st, ok && good
}

func (d *decoder) region(id Name, path string, n *yaml.Node) (*Region, bool) {
	r := &Region{ID: id.Value, Pos: id.Pos}
	ok := d.Mapping(n, path, []field{
		{Name: "name", Value: func(p string, v *yaml.Node) { s, _ := d.Str(v, p); r.Name = s.Value }},
		{Name: "countries", Required: true, Value: func(p string, v *yaml.Node) {
			r.Countries = d.countries(v, p)
		}},
		{Name: "peak", Value: func(p string, v *yaml.Node) {
			i, at, ok := d.Integer(v, p)
			if ok && i < 0 {
				d.Errorf(at, p, CodeStructure, "peak must not be negative, got %d", i)
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
			d.Errorf(c.Pos, p, CodeStructure, "%q is not an assigned ISO 3166-1 alpha-2 country code%s", c.Value, upperHint(c.Value))
			continue
		}
		if seen[c.Value] {
			d.Errorf(c.Pos, p, CodeStructure, "country %s is listed twice", c.Value)
			continue
		}
		seen[c.Value] = true
		out = append(out, c)
	}
	return out
}

func (d *decoder) plan(id Name, path string, n *yaml.Node) (*Plan, bool) {
	pl := &Plan{ID: id.Value, Pos: id.Pos}
	n = d.Resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return pl, true // `basic:` with nothing after it
	}
	ok := d.Mapping(n, path, []field{
		{Name: "dedicated", Value: func(p string, v *yaml.Node) {
			if s, ok := d.Str(v, p); ok {
				if s.Value == "" {
					d.Errorf(s.Pos, p, CodeStructure, "dedicated class must not be empty")
					return
				}
				pl.Dedicated = s
			}
		}},
		{Name: "regions", Value: func(p string, v *yaml.Node) {
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
	ok := d.Mapping(n, path, []field{
		{Name: "name", Value: func(p string, v *yaml.Node) { s, _ := d.Str(v, p); dc.Name = s.Value }},
		{Name: "country", Required: true, Value: func(p string, v *yaml.Node) {
			s, ok := d.Str(v, p)
			if !ok {
				good = false
				return
			}
			if _, known := geo.LookupCountry(s.Value); !known {
				d.Errorf(s.Pos, p, CodeStructure, "%q is not an assigned ISO 3166-1 alpha-2 country code%s", s.Value, upperHint(s.Value))
				good = false
				return
			}
			dc.Country = s
		}},
		{Name: "location", Required: true, Value: func(p string, v *yaml.Node) {
			v = d.Resolve(v)
			dc.LocationPos = pos(v)
			if v.Kind != yaml.SequenceNode || len(v.Content) != 2 {
				d.Errorf(pos(v), p, CodeStructure, "location must be [latitude, longitude], got %s", kindName(v))
				good = false
				return
			}
			lat, at, ok1 := d.Number(v.Content[0], p+"[0]")
			if ok1 && (lat < -90 || lat > 90) {
				d.Errorf(at, p+"[0]", CodeStructure, "latitude %g is out of range [-90, 90]", lat)
				ok1 = false
			}
			lon, at, ok2 := d.Number(v.Content[1], p+"[1]")
			if ok2 && (lon < -180 || lon > 180) {
				d.Errorf(at, p+"[1]", CodeStructure, "longitude %g is out of range [-180, 180]", lon)
				ok2 = false
			}
			if !ok1 || !ok2 {
				good = false
				return
			}
			dc.Location = geo.LatLon{Lat: lat, Lon: lon}
		}},
		{Name: "capacity", Required: true, Value: func(p string, v *yaml.Node) {
			i, at, ok := d.Integer(v, p)
			if ok && i <= 0 {
				d.Errorf(at, p, CodeStructure, "capacity must be a positive number of participants, got %d", i)
				ok = false
			}
			if !ok {
				good = false
				return
			}
			dc.Capacity = i
		}},
		{Name: "services", Required: true, Value: func(p string, v *yaml.Node) {
			l, _ := d.list(v, p)
			seen := map[string]bool{}
			for _, s := range l {
				ip := fmt.Sprintf("%s[%d]", p, s.Index)
				switch {
				case s.Value != string(Media) && s.Value != string(KMS):
					d.Errorf(s.Pos, ip, CodeStructure, "unknown service %q (expected media or kms)", s.Value)
				case seen[s.Value]:
					d.Errorf(s.Pos, ip, CodeStructure, "service %s is listed twice", s.Value)
				default:
					seen[s.Value] = true
					dc.Services = append(dc.Services, s)
				}
			}
		}},
		{Name: "dedicated", Value: func(p string, v *yaml.Node) {
			if s, ok := d.Str(v, p); ok {
				if s.Value == "" {
					d.Errorf(s.Pos, p, CodeStructure, "dedicated class must not be empty")
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
	d.Mapping(n, path, []field{
		{Name: "primary_count", Value: func(p string, v *yaml.Node) {
			i, at, ok := d.Integer(v, p)
			if ok && (i < 1 || i > 64) {
				d.Errorf(at, p, CodeStructure, "primary_count must be between 1 and 64, got %d", i)
				return
			}
			if ok {
				r.PrimaryCount = int(i)
			}
		}},
		{Name: "secondary_count", Value: func(p string, v *yaml.Node) {
			i, at, ok := d.Integer(v, p)
			if ok && (i < 0 || i > 64) {
				d.Errorf(at, p, CodeStructure, "secondary_count must be between 0 and 64, got %d", i)
				return
			}
			if ok {
				r.SecondaryCount = int(i)
			}
		}},
		{Name: "high_watermark", Value: func(p string, v *yaml.Node) {
			f, at, ok := d.Number(v, p)
			if ok && (f <= 0 || f > 1) {
				d.Errorf(at, p, CodeStructure, "high_watermark must be in (0, 1], got %g", f)
				return
			}
			if ok {
				r.HighWatermark = f
			}
		}},
		{Name: "regions", Required: true, Value: func(p string, v *yaml.Node) {
			d.entries(v, p, func(id Name, p string, v *yaml.Node) {
				rr := &RegionRouting{Region: id}
				ok := d.Mapping(v, p, []field{
					{Name: "primary", Required: true, Value: func(p string, v *yaml.Node) { rr.Primary, _ = d.list(v, p) }},
					{Name: "secondary", Value: func(p string, v *yaml.Node) { rr.Secondary, _ = d.list(v, p) }},
					{Name: "kms", Required: true, Value: func(p string, v *yaml.Node) { rr.KMS, _ = d.list(v, p) }},
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
	ok := d.Mapping(n, path, []field{
		{Name: "applies_to", Required: true, Value: func(p string, v *yaml.Node) { r.AppliesTo, _ = d.list(v, p) }},
		{Name: "except", Value: func(p string, v *yaml.Node) { r.Except, _ = d.list(v, p) }},
		{Name: "plans", Value: func(p string, v *yaml.Node) {
			if l, ok := d.list(v, p); ok {
				r.Plans = l
			}
		}},
		{Name: "allow", Value: func(p string, v *yaml.Node) { r.Allow = d.countries(v, p) }},
		{Name: "deny", Value: func(p string, v *yaml.Node) { r.Deny = d.countries(v, p) }},
	})
	if ok && r.Allow == nil && r.Deny == nil {
		d.Errorf(id.Pos, path, CodeStructure, "rule %s neither allows nor denies any country; give it allow, deny or both", id.Value)
	}
	return r, ok
}

func (d *decoder) account(id Name, path string, n *yaml.Node) (*Account, bool) {
	a := &Account{ID: id.Value, Pos: id.Pos}
	ok := d.Mapping(n, path, []field{
		{Name: "plan", Required: true, Value: func(p string, v *yaml.Node) { a.Plan, _ = d.id(v, p, "plan") }},
		// Optional: without it a meeting's data region is the region of its host's country
		// (DESIGN.md section 2).
		{Name: "home_region", Value: func(p string, v *yaml.Node) { a.HomeRegion, _ = d.id(v, p, "home_region") }},
		{Name: "data_regions", Value: func(p string, v *yaml.Node) {
			a.DataRegionsPos = pos(v)
			// A malformed list narrows to nothing rather than not at all (fail closed, I4).
			a.DataRegions, _ = d.list(v, p)
			if a.DataRegions == nil {
				a.DataRegions = []Name{}
			}
		}},
		{Name: "keys", Value: func(p string, v *yaml.Node) { a.Keys = d.accountKeys(v, p) }},
	})
	return a, ok
}

var kidRE = regexp.MustCompile(KIDPattern)

// accountKeys decodes an account's public keys, keeping only the well-formed ones: an account
// with a key struck off accepts fewer tokens, never more.
func (d *decoder) accountKeys(n *yaml.Node, path string) []AccountKey {
	n = d.Resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(pos(n), path, CodeStructure, "expected a list of keys {kid, x}, got %s", kindName(n))
		return nil
	}
	var out []AccountKey
	seen := map[string]bool{}
	for i, item := range n.Content {
		if d.Exhausted() {
			break
		}
		ip := fmt.Sprintf("%s[%d]", path, i)
		k := AccountKey{Pos: pos(d.Resolve(item))}
		var kidPos Pos
		errs := len(d.Errs)
		d.Mapping(item, ip, []field{
			{Name: "kid", Required: true, Value: func(p string, v *yaml.Node) {
				s, ok := d.Str(v, p)
				switch {
				case !ok:
				case !kidRE.MatchString(s.Value):
					d.Errorf(s.Pos, p, CodeStructure, "kid %q must be 1 to 128 letters, digits, '.', '_' or '-'", s.Value)
				default:
					k.KID, kidPos = s.Value, s.Pos
				}
			}},
			{Name: "x", Required: true, Value: func(p string, v *yaml.Node) {
				s, ok := d.Str(v, p)
				if !ok {
					return
				}
				b, err := base64.RawURLEncoding.Strict().DecodeString(s.Value)
				switch {
				case err != nil:
					d.Errorf(s.Pos, p, CodeStructure, "x must be an Ed25519 public key in base64url without padding (RFC 8037): %v", err)
				case len(b) != ed25519.PublicKeySize:
					d.Errorf(s.Pos, p, CodeStructure, "x is %d bytes, want the %d bytes of an Ed25519 public key", len(b), ed25519.PublicKeySize)
				default:
					k.X = s.Value
				}
			}},
		})
		// A kid written twice is an error even when one of the two keys is broken.
		if k.KID != "" {
			if seen[k.KID] {
				d.Errorf(kidPos, ip+".kid", CodeStructure, "kid %q is used twice in %s; give each key its own kid", k.KID, path)
				continue
			}
			seen[k.KID] = true
		}
		// A key with any problem (an unknown member too: an "alg" or "use" this version does
		// not know may mean the key is not for join tokens) is dropped.
		if len(d.Errs) == errs && k.KID != "" && k.X != "" {
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
