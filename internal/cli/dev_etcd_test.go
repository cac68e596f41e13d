package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

// TestDevOnEtcd runs `geofence dev --store etcd`: an embedded etcd, two directories on it.
// The DCs' agents report to the first only; a participant joins the banner's meeting through
// the second, which knows the DCs through etcd, and another through the first: both get a
// ticket the DCs accept (one signer's keys), and reach a DC.
func TestDevOnEtcd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"dev", "--store", "etcd", "--listen", "127.0.0.1:0", "--evidence", t.TempDir()},
			Env{Stdout: &out, Stderr: &errb})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("geofence dev did not stop")
		}
	}()
	dirRE := regexp.MustCompile(`(?m)^  directory  (http://127\.0\.0\.1:\d+)$`)
	peerRE := regexp.MustCompile(`directory  (http://127\.0\.0\.1:\d+) \(a second one`)
	meetingRE := regexp.MustCompile(`--meeting (\w+) --account acme`)
	var dir, peer, meeting string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := meetingRE.FindStringSubmatch(out.String()); m != nil {
			dir, peer, meeting = dirRE.FindStringSubmatch(out.String())[1], peerRE.FindStringSubmatch(out.String())[1], m[1]
			break
		}
	}
	if peer == "" {
		t.Fatalf("no second directory in the banner:\n%s\n%s", out.String(), errb.String())
	}
	join := func(d string) (int, joinOutput, string) {
		var o, e bytes.Buffer
		code := Main(ctx, []string{"join", "--directory", d, "--meeting", meeting, "--account", "acme", "--client-ip", "8.8.8.8", "--json"}, Env{Stdout: &o, Stderr: &e})
		var j joinOutput
		json.Unmarshal(o.Bytes(), &j)
		return code, j, o.String() + e.String()
	}
	// The agents report within a second or two, and the second directory hears of them
	// through etcd: retry until a join through it gets a ticket.
	var (
		code int
		text string
	)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, _, text = join(peer); code == ExitOK {
			break
		}
	}
	if code != ExitOK {
		t.Fatalf("join through the second directory: exit %d:\n%s", code, text)
	}
	if code, _, text = join(dir); code != ExitOK {
		t.Fatalf("join through the first directory: exit %d:\n%s", code, text)
	}
}
