// Package sharedtest finds the files tests read from ../shared (the RFC test vectors and
// MaxMind's test databases) beside the repository. They are never copied into the repository.
//
// When the files are missing a test is skipped with a message saying so; under CI (the CI
// environment variable set) it fails instead, so that a missing ../shared can never pass
// silently.
package sharedtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns the absolute path of rel (for example "vectors/sframe-rfc9605-test-vectors.json")
// inside ../shared next to the module root, skipping or failing t when it does not exist.
func Path(t testing.TB, rel string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		missing(t, rel, err.Error())
		return ""
	}
	p := filepath.Join(filepath.Dir(root), "shared", rel)
	if _, err := os.Stat(p); err != nil {
		missing(t, rel, err.Error())
		return ""
	}
	return p
}

func missing(t testing.TB, rel, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("shared test file %s is missing (%s): CI must run with ../shared beside the repository", rel, why)
	}
	t.Skipf("skipping: shared test file %s not found (%s); put ../shared beside the repository to run this test", rel, why)
}

// moduleRoot walks up from the working directory (a package directory under go test) to the
// directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
