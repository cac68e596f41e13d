package config_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
)

// FuzzParse feeds arbitrary bytes to Parse (a config is untrusted input: it comes from a
// repository many people write to). Parse must never panic, every error must point inside the
// input, and whatever partial config it returns must be safe to model and verify.
//
// The seeds are whole configs of several KiB, whose minimization takes long; run it with
//
//	go test ./config -run '^$' -fuzz FuzzParse -fuzztime 60s -fuzzminimizetime 1s
func FuzzParse(f *testing.F) {
	for _, name := range []string{"world.yaml", "april-2020.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		// Broken variants of a real config: truncated, a flow list left open, a tab, a
		// duplicate key, a lower-case country code.
		f.Add(b[:len(b)/2])
		f.Add(bytes.Replace(b, []byte("[US, CA"), []byte("[US, CA\n"), 1))
		f.Add(bytes.Replace(b, []byte("  na:\n"), []byte("\tna:\n"), 1))
		f.Add(bytes.Replace(b, []byte("version: 1\n"), []byte("version: 1\nversion: 2\n"), 1))
		f.Add(bytes.Replace(b, []byte("country: CN"), []byte("country: cn"), 1))
	}
	for _, name := range []string{"valid.yaml", "many-errors.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(""))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("version: 1\ndefault_region: &r row\nregions: {row: {countries: [*r]}}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("{version: 1, default_region: x, regions: {x: {countries: []}}, plans: {p: }, datacenters: {}, routing: {regions: {}}}"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, errs := config.Parse("fuzz.yaml", data)
		if c == nil {
			t.Fatal("Parse returned a nil config")
		}
		lines := yamlLines(data)
		for _, e := range errs {
			if e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error %v: got position %d:%d, want a positive line and column", e, e.Pos.Line, e.Pos.Col)
			}
			if e.Pos.Line > len(lines) {
				t.Fatalf("error %v: got line %d, want at most %d (the input's line count)", e, e.Pos.Line, len(lines))
			}
			if max := utf8.RuneCount(lines[e.Pos.Line-1]) + 1; e.Pos.Col > max {
				t.Fatalf("error %v: got column %d, want at most %d (the line's length + 1)", e, e.Pos.Col, max)
			}
			if e.Code != config.CodeStructure && e.Code != config.CodeReference {
				t.Fatalf("error %v: got code %q, want structure or reference", e, e.Code)
			}
		}
		// Whatever Parse keeps of an account's keys is well-formed.
		kid := regexp.MustCompile(config.KIDPattern)
		for _, a := range c.Accounts {
			for _, k := range a.Keys {
				if b, err := base64.RawURLEncoding.DecodeString(k.X); err != nil || len(b) != 32 || !kid.MatchString(k.KID) {
					t.Fatalf("account %s: kept key %+v, want a valid kid and a 32-byte x", a.ID, k)
				}
			}
		}
		if _, err := policy.New(c); err != nil && len(errs) == 0 {
			t.Fatalf("policy.New: got %v for a config Parse accepted", err)
		}
		rep, _ := verify.Config(c, errs, verify.Options{})
		if len(errs) > 0 && rep.OK {
			t.Fatalf("verify.Config: got ok for a config with %d parse errors", len(errs))
		}
	})
}

// yamlLines splits data into lines the way YAML counts them (YAML 1.2 section 5.4): a line
// ends at CR LF, LF or CR, and YAML 1.1 parsers (libyaml, go-yaml) also break at NEL, LS and
// PS. After a final line break there is one more, empty, line.
func yamlLines(data []byte) [][]byte {
	var lines [][]byte
	start := 0
	for i := 0; i < len(data); {
		n := 0
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			n = 2
		case data[i] == '\r' || data[i] == '\n':
			n = 1
		case bytes.HasPrefix(data[i:], []byte("\u0085")), bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			_, n = utf8.DecodeRune(data[i:])
		}
		if n == 0 {
			i++
			continue
		}
		lines = append(lines, data[start:i])
		i += n
		start = i
	}
	return append(lines, data[start:])
}
