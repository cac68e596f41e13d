package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"github.com/geofence/geofence/wire"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/kms"
	"github.com/geofence/geofence/ticket"
)

const kmsWorld = "../../examples/world.yaml"

// kmsEnv returns an Env whose GEOFENCE_KMS_KEK is kek ("" for unset).
func kmsEnv(stdout, stderr io.Writer, kek string) Env {
	return Env{Stdout: stdout, Stderr: stderr, Getenv: func(k string) string {
		if k == kms.EnvKEK {
			return kek
		}
		return ""
	}}
}

var testKEKHex = hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func TestKMSUsageErrors(t *testing.T) {
	dir := "http://127.0.0.1:1"
	tests := []struct {
		name    string
		args    []string
		kek     string
		want    string // part of stderr
		wantErr int
	}{
		{"no --dc", []string{"--config", kmsWorld, "--directory", dir}, testKEKHex, "geofence kms: --dc is required", ExitUsage},
		{"no --config", []string{"--dc", "us-sjc", "--directory", dir}, testKEKHex, "geofence kms: --config is required", ExitUsage},
		{"no --directory", []string{"--dc", "us-sjc", "--config", kmsWorld}, testKEKHex, "geofence kms: --directory is required", ExitUsage},
		{"positional argument", []string{"--dc", "us-sjc", "--config", kmsWorld, "--directory", dir, "extra"}, testKEKHex, "unexpected arguments", ExitUsage},
		{"no KEK", []string{"--dc", "us-sjc", "--config", kmsWorld, "--directory", dir}, "", "set GEOFENCE_KMS_KEK", ExitUsage},
		{"bad KEK", []string{"--dc", "us-sjc", "--config", kmsWorld, "--directory", dir}, "abc", "in no accepted form", ExitUsage},
		{"missing KEK file", []string{"--dc", "us-sjc", "--config", kmsWorld, "--directory", dir, "--kek-file", "testdata/no-such-kek"}, testKEKHex, "no such file", ExitUsage},
		{"plain http to a remote directory", []string{"--dc", "us-sjc", "--config", kmsWorld, "--directory", "http://directory.example"}, testKEKHex, "use https", ExitUsage},
		{"unknown datacenter", []string{"--dc", "us-lax", "--config", kmsWorld, "--directory", dir}, testKEKHex, `datacenter "us-lax" is not in the config`, ExitUsage},
		{"media-only datacenter", []string{"--dc", "us-den", "--config", kmsWorld, "--directory", dir}, testKEKHex, "does not run the kms service", ExitUsage},
		{"missing config", []string{"--dc", "us-sjc", "--config", "testdata/no-such-file.yaml", "--directory", dir}, testKEKHex, "no such file", ExitUsage},
		{"zero retain", []string{"--dc", "us-sjc", "--config", kmsWorld, "--directory", dir, "--retain", "0s"}, testKEKHex, "--retain must be positive", ExitUsage},
		{"zero rotate interval", []string{"--dc", "us-sjc", "--config", kmsWorld, "--directory", dir, "--rotate-interval", "0s"}, testKEKHex, "--rotate-interval must be positive", ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runKMS(context.Background(), kmsEnv(&stdout, &stderr, tt.kek), tt.args)
			if code != tt.wantErr {
				t.Errorf("got exit status %d, want %d; stderr:\n%s", code, tt.wantErr, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("got stderr %q, want it to contain %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("got stdout %q, want nothing", stdout.String())
			}
			if strings.Contains(stderr.String(), testKEKHex) {
				t.Errorf("stderr quotes the KEK")
			}
		})
	}
}

// TestKMSServes starts `geofence kms` for us-sjc against a directory's key set on loopback,
// gets a key with a ticket that directory signed, and stops it.
func TestKMSServes(t *testing.T) {
	signer, err := ticket.NewSigner(Issuer, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ticket.JWKSPath, signer.Handler())
	directory := httptest.NewServer(mux)
	defer directory.Close()

	pr, pw := io.Pipe()
	var stderr bytes.Buffer // written only by runKMS's goroutine; read after it returns
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runKMS(ctx, kmsEnv(pw, &stderr, testKEKHex),
			[]string{"--dc", "us-sjc", "--config", kmsWorld, "--directory", directory.URL + "/", "--rotate-interval", "1m"})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("reading the address: %v (exit %d, stderr:\n%s)", err, <-done, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	_, rest, ok := strings.Cut(line, " listening on ")
	base, _, _ := strings.Cut(rest, " ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("got %q, want kms us-sjc listening on http://127.0.0.1:PORT", line)
	}

	priv, err := keywrap.GenerateKey(keywrap.X25519)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Sign(wire.Claims{
		Meeting: "m-1", Participant: "alice", Account: "acme", Mode: wire.ModeManaged,
		Region: "na", Home: "us-sjc",
		Primary: []wire.DC{{ID: "us-sjc", Country: "US"}},
		KMS:     []wire.DC{{ID: "us-sjc", Country: "US"}},
		Context: wire.Context{
			ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic",
			MeetingRegion: "na", HostAccount: "acme", HostPlan: "enterprise",
		},
		PublicKey: priv.PublicKey().String(),
	}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(wire.KeyRequest{Token: tok})
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(base+"/v1/meetings/m-1/key", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("key: got %d %s", resp.StatusCode, raw)
	}
	var k wire.KeyResponse
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	w, err := keywrap.ParseWrapped(k.Wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keywrap.Unwrap(priv, w, keywrap.Binding{Meeting: "m-1", Epoch: k.Epoch, Participant: "alice"}); err != nil {
		t.Errorf("unwrap: %v", err)
	}
	resp, err = hc.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `geofence_kms_issuances_total{datacenter="us-sjc",suite="x25519"} 1`) {
		t.Errorf("metrics lack the issuance:\n%s", raw)
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("got exit status %d, want %d; stderr:\n%s", code, ExitOK, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("geofence kms did not stop after its context ended")
	}
	if strings.Contains(stderr.String(), testKEKHex) {
		t.Errorf("the log quotes the KEK")
	}
	if !strings.Contains(stderr.String(), "rotate_interval=1m0s") {
		t.Errorf("the log does not say the --rotate-interval in force:\n%s", stderr.String())
	}
}
