package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAllowUnverifiedFailsClosed: --allow-unverified serves a config whose routing lists break
// the rules (the run-time layers refuse them), but never one whose rules themselves are
// malformed, since a dropped deny list would widen residency (I4).
func TestAllowUnverifiedFailsClosed(t *testing.T) {
	april, err := os.ReadFile("../../examples/april-2020.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, bytes.Replace(april, []byte("    deny: [CN]"), []byte("    deny: CN"), 1), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a process that does start returns at once
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"lists break the rules, refused", []string{"dev", "--config", "../../examples/april-2020.yaml", "--listen", "127.0.0.1:0", "--no-agents", "--evidence", dir}, ExitUsage, "does not verify"},
		{"lists break the rules, allowed", []string{"dev", "--config", "../../examples/april-2020.yaml", "--listen", "127.0.0.1:0", "--no-agents", "--allow-unverified", "--evidence", dir}, ExitOK, "WARNING"},
		{"malformed rule, refused even when allowed", []string{"dev", "--config", bad, "--listen", "127.0.0.1:0", "--no-agents", "--allow-unverified", "--evidence", dir}, ExitUsage, "cannot be served, even with --allow-unverified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(ctx, tt.args, Env{Stdout: &out, Stderr: &errb})
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errb.String())
			}
		})
	}
}
