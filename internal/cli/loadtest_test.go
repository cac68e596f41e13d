package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/geofence/geofence/internal/devstack/devstacktest"

	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/internal/leaktest"
)

func TestLoadtestUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no directory", nil, "--directory is required"},
		{"no publisher", []string{"--directory", "http://127.0.0.1:1", "--publishers", "0"}, "--publishers must be at least 1"},
		{"bad bitrate", []string{"--directory", "http://127.0.0.1:1", "--bitrate", "fast"}, `--bitrate: "fast" is not a bit rate`},
		{"bitrate too low", []string{"--directory", "http://127.0.0.1:1", "--bitrate", "1k"}, "is under 30 bytes a frame"},
		{"bad fps", []string{"--directory", "http://127.0.0.1:1", "--fps", "0"}, "--fps 0: want 1 to 120"},
		{"bad --from", []string{"--directory", "http://127.0.0.1:1", "--from", "Atlantis"}, "neither an IP address nor an ISO 3166-1 alpha-2 country code"},
		{"bad max loss", []string{"--directory", "http://127.0.0.1:1", "--max-loss", "2"}, "--max-loss 2: want a fraction"},
		{"kid without key", []string{"--directory", "http://127.0.0.1:1", "--kid", "k1"}, "--kid goes with --key"},
		{"directory not http", []string{"--directory", "ftp://x"}, "is not an http(s) base URL"},
		{"positional", []string{"--directory", "http://127.0.0.1:1", "extra"}, "unexpected arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t.Context(), runLoadtest, tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "usage: geofence loadtest") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q with the usage", code, stderr, tt.want)
			}
		})
	}
	for in, want := range map[string]int{"1M": 1_000_000, "1.5M": 1_500_000, "500k": 500_000, "64000": 64_000} {
		if got, err := parseBitrate(in); err != nil || got != want {
			t.Errorf("parseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

// TestLoadtestCommand runs the command against the whole system in process (the directory,
// key servers and media servers of devstack, WebRTC on 127.0.0.1).
func TestLoadtestCommand(t *testing.T) {
	leaktest.Check(t)
	st := devstacktest.Start(t, devstack.Config{})
	for _, dc := range st.Core.Model().DCs {
		st.Core.ReportLoad(dc.ID, 0, true)
	}
	code, stdout, stderr := runCmd(t.Context(), runLoadtest, "--directory", st.URL, "--publishers", "1", "--subscribers", "2",
		"--bitrate", "200k", "--fps", "10", "--duration", "1s", "--warmup", "200ms", "--from", "8.8.8.8", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var rep struct {
		Meeting         string               `json:"meeting"`
		TracksExpected  int                  `json:"tracks_expected"`
		TracksReceived  int                  `json:"tracks_received"`
		DecryptFailures uint64               `json:"decrypt_failures"`
		Setup           map[string]any       `json:"setup"`
		Video           struct{ Frames int } `json:"video"`
		CandidatePairs  map[string]int       `json:"candidate_pairs"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if rep.Meeting == "" || rep.TracksExpected != 2 || rep.TracksReceived != 2 || rep.Video.Frames == 0 || rep.DecryptFailures != 0 {
		t.Errorf("got %+v", rep)
	}
	for p := range rep.CandidatePairs {
		if p != "127.0.0.1 -> 127.0.0.1" {
			t.Errorf("candidate pair %q, want loopback only", p)
		}
	}
	if !strings.Contains(stderr, "measure start") || !strings.Contains(stderr, "measure end") {
		t.Errorf("stderr lacks the measured window's marks:\n%s", stderr)
	}
}
