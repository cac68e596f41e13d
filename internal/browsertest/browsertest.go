// Package browsertest opens pages in a real headless Chromium (Debian's chromium package)
// for tests: the DOM a page has once its scripts ran, and a screenshot. It drives the browser
// through its command line (--dump-dom, --screenshot), each call in a fresh profile, with the
// flags that keep it off the network (DESIGN.md: tests never reach outside this machine).
//
// When no Chromium is installed a test is skipped with a message; under CI (the CI
// environment variable set) it fails instead, since .ci/run installs one. It is for tests
// only.
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// candidates are the names Debian's packages install the browser under.
var candidates = []string{"chromium", "chromium-headless-shell", "chromium-browser"}

// Path returns the Chromium binary, skipping (or, under CI, failing) t when there is none.
func Path(t testing.TB) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no Chromium on PATH (tried %v): .ci/run installs Debian's chromium package", candidates)
	}
	t.Skipf("skipping: no Chromium on PATH (tried %v); apt-get install -y chromium", candidates)
	return ""
}

// flags keep the browser headless, sandbox-free (tests run as root), off the GPU and off the
// network: no background connections, no component updates, no sync.
func flags(profile string) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
		"--user-data-dir=" + profile,
	}
}

// run runs the browser with args in a fresh profile and returns its standard output.
func run(t testing.TB, timeout time.Duration, args ...string) []byte {
	t.Helper()
	bin := Path(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, append(flags(profile), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\nstderr:\n%s", filepath.Base(bin), args, err, stderr.String())
	}
	return stdout.Bytes()
}

// DOM loads url (a file:// or loopback http:// address) and returns the page's DOM after its
// scripts ran for up to budget of virtual time.
func DOM(t testing.TB, url string, budget time.Duration) string {
	t.Helper()
	return string(run(t, time.Minute, "--virtual-time-budget="+itoa(budget.Milliseconds()), "--dump-dom", url))
}

// Screenshot loads url in a width x height window and writes a PNG of it to png.
func Screenshot(t testing.TB, url, png string, width, height int) {
	t.Helper()
	run(t, time.Minute, "--virtual-time-budget=2000", "--window-size="+itoa(int64(width))+","+itoa(int64(height)),
		"--screenshot="+png, url)
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Fatalf("screenshot of %s: no PNG at %s (%v)", url, png, err)
	}
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
