package cli

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionText(t *testing.T) {
	goLine := "  go        " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "geofence (unknown)\n" + goLine},
		{"a test binary", &debug.BuildInfo{}, "geofence (unknown)\n" + goLine},
		{"go run in a checkout without VCS stamping", &debug.BuildInfo{GoVersion: runtime.Version(), Main: debug.Module{Version: "(devel)"}},
			"geofence (devel)\n" + goLine},
		{"go install from a clean checkout", &debug.BuildInfo{
			GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/geofence/geofence", Version: "v0.3.0"},
			Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "darwin"}, {Key: "GOARCH", Value: "arm64"},
				{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "3bf32b5c0e1f2a3b4c5d6e7f8091a2b3c4d5e6f7"},
				{Key: "vcs.time", Value: "2026-12-01T19:30:14Z"}, {Key: "vcs.modified", Value: "false"},
			}},
			"geofence v0.3.0\n  go        go1.26.8 darwin/arm64\n  revision  3bf32b5c0e1f2a3b4c5d6e7f8091a2b3c4d5e6f7\n  committed 2026-12-01T19:30:14Z\n"},
		{"a modified checkout", &debug.BuildInfo{
			GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.1-0.20261201193014-3bf32b5c0e1f+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
				{Key: "vcs.revision", Value: "3bf32b5c0e1f"}, {Key: "vcs.modified", Value: "true"},
			}},
			"geofence v0.3.1-0.20261201193014-3bf32b5c0e1f+dirty\n  go        go1.26.8 linux/amd64\n  revision  3bf32b5c0e1f (with local modifications)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionText(tt.bi); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
