package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/geofence/geofence/wire"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/ticket"
)

// dcDirectory is a directory stand-in for `geofence dc`: the key set, and load reports.
type dcDirectory struct {
	url     string
	signer  *ticket.Signer
	mu      sync.Mutex
	reports []string // "Authorization header|body"
}

func newDCDirectory(t *testing.T) *dcDirectory {
	t.Helper()
	s, err := ticket.NewSigner(Issuer, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &dcDirectory{signer: s}
	mux := http.NewServeMux()
	mux.Handle("GET "+ticket.JWKSPath, s.Handler())
	mux.HandleFunc("PUT /v1/datacenters/{id}/load", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.reports = append(d.reports, r.PathValue("id")+"|"+r.Header.Get("Authorization")+"|"+string(b))
		d.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

// startDC runs `geofence dc` until the test ends and returns the address it prints.
func startDC(t *testing.T, args ...string) string {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr strings.Builder
	var mu sync.Mutex
	go func() {
		done <- runDC(ctx, Env{Stdout: pw, Stderr: lockedWriter{&mu, &stderr}, Getenv: func(string) string { return "" }}, args)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	if err != nil {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("geofence dc printed no address: %v; stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("geofence dc: exit %d after an interrupt, want 0", code)
		}
	})
	_, addr, ok := strings.Cut(strings.TrimSpace(line), " listening on ")
	if !ok {
		t.Fatalf("got first line %q, want `dc ID listening on URL`", line)
	}
	return addr
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestDCCommand(t *testing.T) {
	d := newDCDirectory(t)
	cred := filepath.Join(t.TempDir(), "cred")
	if err := os.WriteFile(cred, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startDC(t, "--id", "us-sjc", "--config", "../../examples/world.yaml", "--directory", d.url, "--credential-file", cred,
		"--session-ttl", "45s")

	c := wire.Claims{Meeting: "m-1", Participant: "alice", Account: "globex", Mode: wire.ModeE2EE, Region: "na", Home: "us-sjc",
		Primary: []wire.DC{{ID: "us-sjc", Country: "US"}},
		Context: wire.Context{ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic",
			MeetingRegion: "na", HostAccount: "globex", HostPlan: "basic"}}
	tok, err := d.signer.Sign(c, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/v1/connect", "application/json", strings.NewReader(`{"token":"`+tok+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got wire.Connected
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || got.Datacenter != "us-sjc" || got.Session == "" || got.SessionTTL != 45 {
		t.Fatalf("connect: got %d %+v, want a session of us-sjc with the TTL of --session-ttl", resp.StatusCode, got)
	}

	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`geofence_agent_participants{datacenter="us-sjc"} 1`,
		`geofence_agent_config_unverified{datacenter="us-sjc"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The first report goes at start, with the credential.
	var first string
	for deadline := time.Now().Add(30 * time.Second); first == "" && time.Now().Before(deadline); {
		d.mu.Lock()
		if len(d.reports) > 0 {
			first = d.reports[0]
		}
		d.mu.Unlock()
		time.Sleep(5 * time.Millisecond) // until the agent's first report arrives
	}
	if !strings.HasPrefix(first, "us-sjc|Bearer s3cret|") {
		t.Errorf("got first load report %q, want one for us-sjc with the credential", first)
	}
}

func TestDCCommandUnverified(t *testing.T) {
	d := newDCDirectory(t)
	base := startDC(t, "--id", "cn-pek", "--config", "../../examples/april-2020.yaml", "--directory", d.url, "--allow-unverified")
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `geofence_agent_config_unverified{datacenter="cn-pek"} 1`; !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %q", want)
	}
}

func TestDCCommandUsage(t *testing.T) {
	d := newDCDirectory(t)
	world := "../../examples/world.yaml"
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no --id", []string{"--config", world, "--directory", d.url}, ExitUsage, "geofence dc: --id is required"},
		{"no --directory", []string{"--id", "us-sjc", "--config", world}, ExitUsage, "geofence dc: --directory is required"},
		{"unknown datacenter", []string{"--id", "us-lax", "--config", world, "--directory", d.url}, ExitUsage, `datacenter "us-lax" is not in the config`},
		{"config does not verify", []string{"--id", "cn-pek", "--config", "../../examples/april-2020.yaml", "--directory", d.url}, ExitUsage, "does not verify"},
		{"missing config", []string{"--id", "us-sjc", "--config", "testdata/no-such-file.yaml", "--directory", d.url}, ExitUsage, "no such file"},
		{"missing credential file", []string{"--id", "us-sjc", "--config", world, "--directory", d.url, "--credential-file", "testdata/no-such-cred"}, ExitUsage, "no such file"},
		{"plain http directory", []string{"--id", "us-sjc", "--config", world, "--directory", "http://directory.example"}, ExitUsage, "https"},
		{"bad fault", []string{"--id", "us-sjc", "--config", world, "--directory", d.url, "--fault", "flaky"}, ExitUsage, "--fault"},
		{"session ttl under a second", []string{"--id", "us-sjc", "--config", world, "--directory", d.url, "--session-ttl", "500ms"}, ExitUsage, "--session-ttl must be at least 1s"},
		{"bad listen address", []string{"--id", "us-sjc", "--config", world, "--directory", d.url, "--listen", "256.0.0.1:0"}, ExitUsage, "256.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t.Context(), runDC, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("got exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.wantCode, tt.wantStderr)
			}
		})
	}
}
