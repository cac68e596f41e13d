package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/devstack/devstacktest"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/examples"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/verify"
	"github.com/geofence/geofence/wire"
)

func post(t *testing.T, url string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("X-Forwarded-For", "8.8.8.8")
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

// TestEvidenceOfAStack: the joins and keys of a dev stack are in its evidence logs, which
// the directory serves read-only and which verify over HTTP against the config in force.
func TestEvidenceOfAStack(t *testing.T) {
	c, errs := config.Parse("world.yaml", examples.World)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rep, m := verify.Config(c, nil, verify.Options{})
	dir := t.TempDir()
	st, err := devstack.New(devstack.Config{Model: m, Evidence: dir, ConfigDigest: audit.Digest(examples.World), Report: rep, NoAgents: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	for _, dc := range m.DCs {
		st.Core.ReportLoad(dc.ID, 0, true)
	}

	var mt wire.Meeting
	if code := post(t, st.URL+"/v1/meetings", map[string]string{"host_account": "acme"}, &mt); code != http.StatusCreated {
		t.Fatalf("create meeting: %d", code)
	}
	sk, err := keywrap.GenerateKey(keywrap.X25519)
	if err != nil {
		t.Fatal(err)
	}
	var tk wire.JoinResponse
	if code := post(t, st.URL+"/v1/meetings/"+mt.ID+"/join", map[string]string{"account": "acme", "participant": "alice",
		"public_key": sk.PublicKey().String()}, &tk); code != http.StatusOK {
		t.Fatalf("join: %d", code)
	}
	kmsURL := st.KMSURLs[tk.KMS[0].ID]
	if code := post(t, kmsURL+strings.Replace(wire.KeyPath, "{id}", mt.ID, 1), map[string]string{"token": tk.Token}, nil); code != http.StatusOK {
		t.Fatalf("key: %d", code)
	}
	// A key server the ticket does not list refuses, and says so in the log.
	if code := post(t, st.KMSURLs["eu-fra"]+strings.Replace(wire.KeyPath, "{id}", mt.ID, 1), map[string]string{"token": tk.Token}, nil); code != http.StatusForbidden {
		t.Fatalf("key from an unlisted key server: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Served again, read-only, from the folder the stack wrote.
	st2, err := devstack.New(devstack.Config{Model: m, Evidence: dir, ConfigDigest: audit.Digest(examples.World), Report: rep, NoAgents: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- st2.Run(ctx) }()
	defer func() {
		cancel()
		<-done2 // its logs closed before the folder is removed
	}()
	waitReady(t, st2.URL)
	region := mt.Region
	resp, err := http.Get(st2.URL + "/v1/audit/" + region + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	var cp bytes.Buffer
	cp.ReadFrom(resp.Body)
	resp.Body.Close()
	size := strings.Split(cp.String(), "\n")[1]
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/v1/audit", http.StatusOK},
		{"/v1/audit/vkeys", http.StatusOK},
		{"/v1/audit/" + region + "/checkpoint", http.StatusOK},
		{"/v1/audit/" + region + "/tile/0/000.p/" + size, http.StatusOK},
		{"/v1/audit/" + region + "/tile/entries/000.p/" + size, http.StatusOK},
		{"/v1/audit/" + region + "/.state/treeState", http.StatusBadRequest},
		{"/v1/audit/" + region + "/tile/../../keys/hash.key", http.StatusBadRequest},
		{"/v1/audit/keys/hash.key", http.StatusBadRequest},
		{"/v1/audit/keys/checkpoint", http.StatusBadRequest},
		{"/v1/audit/%2e%2e/keys/hash.key", http.StatusBadRequest},
		{"/v1/audit/nowhere/checkpoint", http.StatusNotFound},
	} {
		resp, err := http.Get(st2.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: got %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
	if resp, _ := http.Post(st2.URL+"/v1/audit/"+region+"/checkpoint", "text/plain", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to a log: got %d, want 405", resp.StatusCode)
	}

	cfg := &audit.Config{File: "world.yaml", Digest: audit.Digest(examples.World), Model: m, Report: rep}
	vk, _ := os.ReadFile(filepath.Join(dir, audit.VKeysFile))
	res, err := audit.Verify(ctx, audit.VerifyOptions{Source: audit.URL{Base: st2.URL + "/v1/audit/" + region}, VKeys: audit.ParseVKeys(vk),
		Configs: map[string]*audit.Config{cfg.Digest: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("the served log fails: %v", res.Failures)
	}
	// The config change of the first start (the second's may not be checkpointed yet), the
	// ticket and the key.
	want := map[string]int{audit.KindTicketIssued: 1, audit.KindKeyIssued: 1, audit.KindKeyRefused: 1}
	for k, n := range want {
		if res.Kinds[k] != n {
			t.Errorf("got %d %s entries, want %d (all: %v)", res.Kinds[k], k, n, res.Kinds)
		}
	}
}

func waitReady(t *testing.T, url string) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatal("the stack did not start")
}

func TestMain(m *testing.M) {
	audit.QuietTessera(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// TestStrictEvidence: with --strict-evidence and the log gone, the directory refuses joins
// and the key servers keys, 503 evidence_unavailable.
func TestStrictEvidence(t *testing.T) {
	c, errs := config.Parse("world.yaml", examples.World)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rep, m := verify.Config(c, nil, verify.Options{})
	st, err := devstack.New(devstack.Config{Model: m, Evidence: t.TempDir(), StrictEvidence: true, ConfigDigest: audit.Digest(examples.World), Report: rep, NoAgents: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, dc := range m.DCs {
		st.Core.ReportLoad(dc.ID, 0, true)
	}
	var mt wire.Meeting
	post(t, st.URL+"/v1/meetings", map[string]string{"host_account": "acme"}, &mt)
	sk, _ := keywrap.GenerateKey(keywrap.X25519)
	join := map[string]string{"account": "acme", "participant": "alice", "public_key": sk.PublicKey().String()}
	var tk wire.JoinResponse
	if code := post(t, st.URL+"/v1/meetings/"+mt.ID+"/join", join, &tk); code != http.StatusOK {
		t.Fatalf("join with the log up: %d", code)
	}
	st.Evidence.Close(context.Background()) // the log is gone
	var e wire.Error
	if code := post(t, st.URL+"/v1/meetings/"+mt.ID+"/join", join, &e); code != http.StatusServiceUnavailable || e.Error != wire.CodeEvidenceUnavailable {
		t.Errorf("join with the log down: got %d %q, want 503 %s", code, e.Error, wire.CodeEvidenceUnavailable)
	}
	e = wire.Error{}
	if code := post(t, st.KMSURLs[tk.KMS[0].ID]+strings.Replace(wire.KeyPath, "{id}", mt.ID, 1), map[string]string{"token": tk.Token}, &e); code != http.StatusServiceUnavailable || e.Error != wire.CodeEvidenceUnavailable {
		t.Errorf("key with the log down: got %d %q, want 503 %s", code, e.Error, wire.CodeEvidenceUnavailable)
	}
}

// TestFaultDown: the "down" fault fails a DC as the directory sees it, at once and across its
// agent's later reports (which say healthy), until the fault is cleared and the DC reports
// again.
func TestFaultDown(t *testing.T) {
	st := devstacktest.Start(t, devstack.Config{NoAgents: true})
	report := func(healthy bool) int {
		req, _ := http.NewRequest("PUT", st.URL+"/v1/datacenters/eu-ams/load", strings.NewReader(`{"participants":7,"healthy":`+map[bool]string{true: "true", false: "false"}[healthy]+`}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	down := func() bool {
		for _, d := range st.Core.Datacenters() {
			if d.ID == "eu-ams" {
				return d.Down
			}
		}
		t.Fatal("no eu-ams")
		return false
	}
	fault := func(mode string) int {
		resp, err := http.Post(st.URL+"/v1/dev/datacenters/eu-ams/fault", "application/json", strings.NewReader(`{"mode":"`+mode+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if report(true) != 204 || down() {
		t.Fatal("eu-ams is not up after a healthy report")
	}
	if s := fault("down"); s != 200 || !down() {
		t.Fatalf("fault down: %d, down %v; want 200 and down at once", s, down())
	}
	if report(true) != 204 || !down() {
		t.Error("a healthy report brought a DC failed with the down fault back")
	}
	if s := fault("none"); s != 200 {
		t.Fatalf("clear the fault: %d", s)
	}
	if report(true) != 204 || down() {
		t.Error("eu-ams still down after the fault was cleared and it reported")
	}
	if s := fault("blackhole"); s != 404 {
		t.Errorf("blackhole without an agent: %d, want 404", s)
	}
	if s := fault("sideways"); s != 400 {
		t.Errorf("unknown mode: %d, want 400", s)
	}
}
