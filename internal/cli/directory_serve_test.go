package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDirectoryServesWithCredentials starts `geofence directory` as the README says and tries
// it as an attacker would: operator endpoints and joins without a credential, with a wrong
// one, then as the operator.
func TestDirectoryServesWithCredentials(t *testing.T) {
	const adminToken = "an-operator-token-of-at-least-32-characters"
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := startDirectory(t, "--config", "../../examples/world.yaml", "--no-geoip", "--admin-token-file", tokenFile, "--listen", "127.0.0.1:0")

	do := func(method, path, token, body string) int {
		t.Helper()
		return call(t, method, url+path, token, body, nil)
	}
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"create an account without a credential", "PUT", "/v1/accounts/mallory", "", `{"plan":"enterprise"}`, 401},
		{"create an account with a guessed token", "PUT", "/v1/accounts/mallory", strings.Repeat("x", 40), `{"plan":"enterprise"}`, 401},
		{"list accounts anonymously", "GET", "/v1/accounts", "", "", 401},
		{"read DC state anonymously", "GET", "/v1/datacenters", "", "", 401},
		{"report load without the DC's credential", "PUT", "/v1/datacenters/us-sjc/load", "", `{"participants":0,"healthy":true}`, 401},
		{"create a meeting anonymously", "POST", "/v1/meetings", "", `{"host_account":"acme"}`, 401},
		{"join anonymously", "POST", "/v1/meetings/X/join", "", `{"account":"acme"}`, 401},
		{"the key set is public", "GET", "/.well-known/jwks.json", "", "", 200},
		{"open the dashboard anonymously", "GET", "/ui/", "", "", 401},
		{"ask the dashboard what if anonymously", "POST", "/v1/dashboard/impact", "", `{"down":["us-sjc"]}`, 401},
		{"open the dashboard as the operator", "GET", "/ui/", adminToken, "", 200},
		{"ask the dashboard what if as the operator", "POST", "/v1/dashboard/impact", adminToken, `{"down":["us-sjc"]}`, 200},
		{"create an account as the operator", "PUT", "/v1/accounts/hooli", adminToken, `{"plan":"pro"}`, 201},
		{"create a meeting as the operator", "POST", "/v1/meetings", adminToken, `{"host_account":"hooli"}`, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := do(tt.method, tt.path, tt.token, tt.body); got != tt.want {
				t.Errorf("%s %s: %d, want %d", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

// startDirectory runs `geofence directory` with args until the test ends and returns the URL
// it prints.
func startDirectory(t *testing.T, args ...string) string {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr strings.Builder
	var mu sync.Mutex
	go func() {
		done <- runDirectory(ctx, Env{Stdout: pw, Stderr: lockedWriter{&mu, &stderr}, Getenv: func(string) string { return "" }}, args)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("geofence directory did not stop")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("geofence directory printed no address: %v\nstderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	return strings.Fields(strings.TrimPrefix(line, "directory listening on "))[0]
}

// call sends a request with a bearer token ("" for none), decodes a JSON answer into out
// when given, and returns the status.
func call(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}
