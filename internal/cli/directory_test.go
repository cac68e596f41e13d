package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geofence/geofence/internal/cli"
)

// TestDirectoryRefusesToStart: a production directory refuses what would make it unsafe or
// broken, at start rather than at the first request: no operator token, a short one, a ticket
// lifetime over 24 h, and no GeoIP database unless told --no-geoip.
func TestDirectoryRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(good, []byte("an-operator-token-of-at-least-32-characters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short-token")
	if err := os.WriteFile(short, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nodb := filepath.Join(dir, "no.mmdb")
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no operator token", []string{"--config", world, "--no-geoip"}, "--admin-token-file is required"},
		{"short operator token", []string{"--config", world, "--no-geoip", "--admin-token-file", short}, "--admin-token-file"},
		{"ticket ttl over 24h", []string{"--config", world, "--no-geoip", "--admin-token-file", good, "--ticket-ttl", "25h"}, "--ticket-ttl"},
		{"no geoip database", []string{"--config", world, "--admin-token-file", good, "--geoip", nodb}, "--no-geoip"},
		{"geoip and no-geoip", []string{"--config", world, "--admin-token-file", good, "--geoip", nodb, "--no-geoip"}, "contradict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(append([]string{"directory", "--listen", "127.0.0.1:0"}, tt.args...)...)
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d; stdout %q stderr:\n%s", code, cli.ExitUsage, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr)
			}
		})
	}
}
