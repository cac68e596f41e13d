package repotest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/geofence/geofence/verify"
)

// TestEveryPackageHasADocComment: each package says what it is and what it is not.
func TestEveryPackageHasADocComment(t *testing.T) {
	root := "../.."
	checked := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "var" || name == "node_modules") {
			return filepath.SkipDir
		}
		// One package per directory (tests of package x_test aside): the doc comment may be in
		// any of its non-test files.
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		name, documented := "", false
		for _, f := range entries {
			if f.IsDir() || !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(path, f.Name()), nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			name = file.Name.Name
			if doc := file.Doc.Text(); strings.HasPrefix(doc, "Package "+name+" ") || name == "main" && strings.HasPrefix(doc, "Command ") {
				documented = true
			}
		}
		if name == "" {
			return nil
		}
		checked++
		if !documented {
			t.Errorf("package %s in %s has no doc comment (// Package %s is ...)", name, path, name)
		}
		return nil
	})
	if checked < 20 {
		t.Fatalf("checked %d packages; the walk is broken", checked)
	}
}

// TestExamplesVerify: the example world verifies clean and the April 2020 world fails with
// exactly its 13 residency errors.
func TestExamplesVerify(t *testing.T) {
	for _, tt := range []struct {
		file       string
		wantOK     bool
		wantErrors int
	}{
		{"../../examples/world.yaml", true, 0},
		{"../../examples/april-2020.yaml", false, 13},
	} {
		rep, _, err := verify.File(tt.file, verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		errs := 0
		for _, f := range rep.Findings {
			if f.Severity == verify.Error {
				errs++
			}
		}
		if rep.OK != tt.wantOK || errs != tt.wantErrors || tt.wantOK && len(rep.Findings) != 0 {
			t.Errorf("%s: ok %v with %d errors and %d findings, want ok %v with %d errors", tt.file, rep.OK, errs, len(rep.Findings), tt.wantOK, tt.wantErrors)
		}
	}
}

// TestMetricsDocumented: every metric name the code registers is documented in
// docs/metrics.md (package directory also lints its names against a live registry).
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`"(geofence_[a-z0-9_]+)"`)
	found := 0
	filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			found++
			if !strings.Contains(string(doc), "`"+m[1]+"`") {
				t.Errorf("%s registers metric %s, which docs/metrics.md does not document", path, m[1])
			}
		}
		return nil
	})
	if found < 15 {
		t.Fatalf("found %d metric names in the code; the scan is broken", found)
	}
}
