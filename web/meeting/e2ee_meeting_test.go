package meetingui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/wire"
)

// e2eeState is the page's window.geofence.state.e2ee (src/e2ee.js KeyFlow.state): never a key.
type e2eeState struct {
	Leader   string  `json:"leader"`
	IsLeader bool    `json:"isLeader"`
	Epoch    *uint64 `json:"epoch"`
	Code     string  `json:"code"`
	Ignored  int     `json:"ignored"`
	Roster   int     `json:"roster"`
	Refused  []struct {
		Error       string `json:"error"`
		Participant string `json:"participant"`
	} `json:"refused"`
}

var codeShape = regexp.MustCompile(`^\d{5}( \d{5}){5}$`)

func createE2EEMeeting(t *testing.T, st *devstack.Stack, account string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"host_account": account, "mode": wire.ModeE2EE})
	r, err := http.Post(st.URL+"/v1/meetings", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var mt wire.Meeting
	if err := json.NewDecoder(r.Body).Decode(&mt); err != nil || r.StatusCode != http.StatusCreated || mt.Mode != wire.ModeE2EE {
		t.Fatalf("create an e2ee meeting: %d %v %+v", r.StatusCode, err, mt)
	}
	return mt.ID
}

// joinGoE2EE joins a Go participant (sfuclient running the leader flow) to an e2ee meeting.
func joinGoE2EE(t *testing.T, st *devstack.Stack, meeting, who, ip string) *sfuclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(client.Config{Directory: st.URL, ClientIP: ip})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := keywrap.GenerateKey(keywrap.X25519)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Join(ctx, meeting, "acme", who, priv.PublicKey().String())
	if err != nil {
		t.Fatalf("%s joins: %v", who, err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background(), res) })
	conn, err := sfuclient.Dial(ctx, sfuclient.Config{URL: res.Endpoint, Ticket: res.Token, Network: sfu.Network{Loopback: true},
		E2EE: &sfuclient.E2EE{Private: priv}})
	if err != nil {
		t.Fatalf("%s connects at %s: %v", who, res.Datacenter, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestMeetingE2EE: two pages, in Great Britain at the home and in the United States bridged to
// it, in an end-to-end encrypted meeting. alice, first in, leads: her page makes the key and
// wraps it to bob's (hybrid ML-KEM-768 + X25519) public key, the media servers relay it over
// the bridge, and each page decodes the other's video and audio with no decrypt failure. Both
// show the same 30-digit security code, which a Go participant holding the same key computes
// too (crypto/e2ee.SecurityCode, so JS and Go agree). That Go participant, not the leader,
// sends alice an envelope: the server refuses it and alice's page never sees it. A third page
// joins and leaves: the epoch and the code change, media goes on without a failure.
func TestMeetingE2EE(t *testing.T) {
	st := stack(t)
	id := createE2EEMeeting(t, st, "acme")
	b := browser(t)

	alice := page(t, b, pageURL(st.URL, id, "alice", ipGB, "home"))
	await(t, alice, "alice joins and leads", 30*time.Second, func(r report) bool {
		return r.Phase == "joined" && r.E2EE != nil && r.E2EE.IsLeader && r.Epoch != nil
	})
	bob := page(t, b, pageURL(st.URL, id, "bob", ipUS, "away", "suite=mlkem768x25519"))
	pages := map[string]context.Context{"alice": alice, "bob": bob}
	rs := awaitAll(t, "alice and bob decode each other", 90*time.Second, func(r report) bool {
		return decoding(30)(r) && r.E2EE != nil && r.E2EE.Roster == 2 && r.E2EE.Code != ""
	}, pages)
	ra, rb := rs["alice"], rs["bob"]
	if *ra.Bridged || !*rb.Bridged {
		t.Errorf("alice bridged %v, bob bridged %v: want bob through a bridge", *ra.Bridged, *rb.Bridged)
	}
	if rb.E2EE.Leader != ra.Self || rb.E2EE.IsLeader {
		t.Errorf("bob follows leader %q (leads %v), want alice %q", rb.E2EE.Leader, rb.E2EE.IsLeader, ra.Self)
	}
	for name, r := range rs {
		if n := r.failures(); n != 0 || len(r.WorkerErrors) > 0 {
			t.Errorf("%s: %d decrypt failures, worker errors %v: %+v", name, n, r.WorkerErrors, r.Workers)
		}
		if !codeShape.MatchString(r.E2EE.Code) {
			t.Errorf("%s shows code %q, want six groups of five digits", name, r.E2EE.Code)
		}
		shown, err := chromedp.Run(pages[name], chromedp.Evaluate[string](`document.getElementById('code').dataset.code`))
		if err != nil || shown != r.E2EE.Code {
			t.Errorf("%s's page shows %q (%v), want %q", name, shown, err, r.E2EE.Code)
		}
	}
	if ra.E2EE.Code != rb.E2EE.Code || *ra.Epoch != *rb.Epoch {
		t.Fatalf("alice shows %q at epoch %d, bob %q at epoch %d: want the same", ra.E2EE.Code, *ra.Epoch, rb.E2EE.Code, *rb.Epoch)
	}

	// A Go participant joins: it gets alice's key, and its code (Go's derivation) is the pages'
	// (JavaScript's) for the roster of three.
	gopher := joinGoE2EE(t, st, id, "gopher", ipGB)
	var goCode string
	rs = awaitAll(t, "the pages and the Go participant show one code", 30*time.Second, func(r report) bool {
		var err error
		goCode, err = gopher.SecurityCode()
		return err == nil && r.E2EE != nil && r.E2EE.Roster == 3 && r.E2EE.Code == goCode
	}, pages)
	t.Logf("security code of alice, bob and gopher at epoch %d: %s", *rs["alice"].Epoch, goCode)
	// gopher is not the leader: the server refuses its envelope, alice's page sees nothing.
	aliceRef := rs["alice"].Self
	if err := gopher.SendKey(context.Background(), aliceRef, wire.KeyEnvelope{Meeting: id, Epoch: *rs["alice"].Epoch + 1,
		Participant: aliceRef, Wrapped: "x25519-wrapped:AAAA"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(gopher.KeyRefusals()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if refs := gopher.KeyRefusals(); len(refs) != 1 || refs[0].Error != wire.CodeNotLeader {
		t.Errorf("the server answered gopher's envelope with %+v, want one %s", refs, wire.CodeNotLeader)
	}
	if r := getReport(t, alice); r.E2EE.Ignored != 0 || *r.Epoch != *rs["alice"].Epoch {
		t.Errorf("alice ignored %d envelopes and is at epoch %d: the forged one reached her", r.E2EE.Ignored, *r.Epoch)
	}
	gopher.Close()

	// carol joins and leaves: alice rotates; both pages switch, show a new, equal code, and
	// go on decoding without a failure.
	rs = awaitAll(t, "gopher gone", 30*time.Second, func(r report) bool { return r.E2EE.Roster == 2 }, pages)
	before := map[string]report{"alice": rs["alice"], "bob": rs["bob"]}
	carol := page(t, b, pageURL(st.URL, id, "carol", ipGB, "home"))
	await(t, carol, "carol decodes", 60*time.Second, func(r report) bool { return decoding(10)(r) && r.E2EE != nil && r.E2EE.Roster == 3 })
	if err := chromedp.Do(carol, chromedp.Click(chromedp.ID("leave"))); err != nil {
		t.Fatal(err)
	}
	bySelf := func(rs map[string]report) map[string]report {
		out := map[string]report{}
		for _, r := range rs {
			out[r.Self] = r
		}
		return out
	}
	prev := bySelf(before)
	rs = awaitAll(t, "alice and bob on a new epoch", 60*time.Second, func(r report) bool {
		return r.E2EE.Roster == 2 && *r.Epoch > *prev[r.Self].Epoch && r.decoded("video") > prev[r.Self].decoded("video")+10
	}, pages)
	ra, rb = rs["alice"], rs["bob"]
	if ra.E2EE.Code != rb.E2EE.Code || *ra.Epoch != *rb.Epoch {
		t.Errorf("after carol left: alice %q at %d, bob %q at %d; want the same", ra.E2EE.Code, *ra.Epoch, rb.E2EE.Code, *rb.Epoch)
	}
	if ra.E2EE.Code == before["alice"].E2EE.Code {
		t.Errorf("the code stayed %q across the new epoch", ra.E2EE.Code)
	}
	prev = bySelf(rs)
	rs = awaitAll(t, "media continues", 30*time.Second, func(r report) bool {
		return r.decoded("video") > prev[r.Self].decoded("video")+20 && r.decoded("audio") > prev[r.Self].decoded("audio")
	}, pages)
	for name, r := range rs {
		if n := r.failures(); n != 0 || len(r.WorkerErrors) > 0 {
			t.Errorf("%s after the rotation to epoch %d: %d decrypt failures, worker errors %v", name, *r.Epoch, n, r.WorkerErrors)
		}
		if r.E2EE.Ignored != 0 {
			t.Errorf("%s ignored %d envelopes", name, r.E2EE.Ignored)
		}
		if !r.loopbackPairs() {
			t.Errorf("%s: pairs %v, want 127.0.0.1 on both ends", name, r.Pairs)
		}
	}
}
