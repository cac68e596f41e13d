package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/sharedtest"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestDevEndToEnd runs `geofence dev` on the April 2020 world (--allow-unverified) with
// MaxMind's test database, and joins as a new user would with `geofence join`: North American
// participants reach North American DCs and keys, fail over to European secondaries when their
// primaries are black-holed, and are never handed anything in China; a participant from China
// is refused.
func TestDevEndToEnd(t *testing.T) {
	db := sharedtest.Path(t, "geoip/GeoIP2-Country-Test.mmdb")
	evidence := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"dev", "--config", "../../examples/april-2020.yaml", "--allow-unverified",
			"--geoip", db, "--listen", "127.0.0.1:0", "--evidence", evidence}, Env{Stdout: &out, Stderr: &errb})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("geofence dev did not stop")
		}
	}()
	dirRE := regexp.MustCompile(`directory  (http://127\.0\.0\.1:\d+)`)
	meetingRE := regexp.MustCompile(`--meeting (\w+) --account acme`)
	var dir, meeting string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := meetingRE.FindStringSubmatch(out.String()); m != nil {
			dir, meeting = dirRE.FindStringSubmatch(out.String())[1], m[1]
			break
		}
	}
	if dir == "" {
		t.Fatalf("geofence dev printed no directory; stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	// Wait until every agent has reported.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(dir + "/v1/datacenters")
		if err != nil {
			t.Fatal(err)
		}
		var dcs []struct{ Down bool }
		json.NewDecoder(resp.Body).Decode(&dcs)
		resp.Body.Close()
		up := 0
		for _, d := range dcs {
			if !d.Down {
				up++
			}
		}
		if up == len(dcs) && up > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d datacenters up", up, len(dcs))
		}
	}

	join := func(ip string) (int, joinOutput, string) {
		var o, e bytes.Buffer
		code := Main(ctx, []string{"join", "--directory", dir, "--meeting", meeting, "--account", "initech", "--client-ip", ip, "--json"}, Env{Stdout: &o, Stderr: &e})
		var j joinOutput
		json.Unmarshal(o.Bytes(), &j)
		return code, j, o.String() + e.String()
	}
	noChina := func(j joinOutput, text string) {
		t.Helper()
		for _, a := range j.Attempts {
			if strings.HasPrefix(a.Datacenter, "cn-") {
				t.Fatalf("a North American participant was sent to %s:\n%s", a.Datacenter, text)
			}
		}
		if j.Key == nil || j.Key.Country == "CN" || j.Key.KMS == "" {
			t.Fatalf("key %+v: want one from a key server outside China:\n%s", j.Key, text)
		}
	}

	// The real path the banner prints: a join token of the example account's backend.
	tokenRE := regexp.MustCompile(`--token (\S+)`)
	tm := tokenRE.FindStringSubmatch(out.String())
	if tm == nil {
		t.Fatalf("the banner prints no join token:\n%s", out.String())
	}
	{
		var o, e bytes.Buffer
		code := Main(ctx, []string{"join", "--directory", dir, "--meeting", meeting, "--token", tm[1], "--client-ip", "216.160.83.57", "--json"}, Env{Stdout: &o, Stderr: &e})
		var j joinOutput
		json.Unmarshal(o.Bytes(), &j)
		if code != ExitOK || j.Datacenter == "" || strings.HasPrefix(j.Datacenter, "cn-") {
			t.Fatalf("join with the banner's token: exit %d, reached %q:\n%s%s", code, j.Datacenter, o.String(), e.String())
		}
		// A tampered token is refused even from loopback: a token sent is always verified.
		code = Main(ctx, []string{"join", "--directory", dir, "--meeting", meeting, "--token", tm[1][:len(tm[1])-4] + "AAAA", "--client-ip", "216.160.83.57"}, Env{Stdout: &o, Stderr: &e})
		if code != ExitFinding || !strings.Contains(e.String(), "unauthorized") {
			t.Fatalf("join with a tampered token: exit %d:\n%s", code, e.String())
		}
	}

	code, j, text := join("216.160.83.57") // US in MaxMind's test database
	if code != ExitOK || j.List != "primary" {
		t.Fatalf("US participant: exit %d list %q, want a primary:\n%s", code, j.List, text)
	}
	noChina(j, text)

	for _, dc := range []string{"us-sjc", "us-den", "us-nyc", "us-iad", "ca-yyz", "ca-yvr"} {
		resp, err := http.Post(dir+"/v1/dev/datacenters/"+dc+"/fault", "application/json", strings.NewReader(`{"mode":"blackhole"}`))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("fault %s: %v %v", dc, err, resp)
		}
		resp.Body.Close()
	}
	code, j, text = join("216.160.83.57")
	if code != ExitOK || j.List != "secondary" || !strings.HasPrefix(j.Datacenter, "eu-") {
		t.Fatalf("primaries black-holed: exit %d reached %s (%s), want a European secondary:\n%s", code, j.Datacenter, j.List, text)
	}
	noChina(j, text)

	code, _, text = join("175.16.199.7") // CN in MaxMind's test database
	if code != ExitFinding || !strings.Contains(text, "residency_conflict") {
		t.Fatalf("participant from China: exit %d, want a residency_conflict refusal:\n%s", code, text)
	}
}
