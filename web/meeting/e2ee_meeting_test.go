package meetingui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/ticket"
	meetingui "github.com/geofence/geofence/web/meeting"
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

// sameCode waits until the two pages show the same code at the same epoch, and returns their
// reports: each page switches when its own envelope arrives.
func sameCode(t *testing.T, a, b context.Context) (report, report) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ra, rb := getReport(t, a), getReport(t, b)
		if ra.E2EE != nil && rb.E2EE != nil && ra.E2EE.Code != "" && ra.E2EE.Code == rb.E2EE.Code && *ra.Epoch == *rb.Epoch {
			return ra, rb
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pages show %+v and %+v, want one code", ra.E2EE, rb.E2EE)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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

// leader opens alice's page in Great Britain, at the home of e2ee meeting id, and waits for it
// to join and lead.
func leader(t *testing.T, b context.Context, st *devstack.Stack, id string) context.Context {
	t.Helper()
	alice := page(t, b, pageURL(st.URL, id, "alice", ipGB, "home"))
	await(t, alice, "alice joins and leads", 30*time.Second, func(r report) bool {
		return r.Phase == "joined" && r.E2EE != nil && r.E2EE.IsLeader && r.Epoch != nil
	})
	return alice
}

// TestMeetingE2EE: two pages, in Great Britain at the home and in the United States bridged to
// it, in an end-to-end encrypted meeting. alice, first in, leads: her page makes the key and
// wraps it to bob's (hybrid ML-KEM-768 + X25519) public key, the media servers relay it over
// the bridge, and each page decodes the other's video and audio with no decrypt failure. Both
// show the same 30-digit security code, which a Go participant holding the same key computes
// too (crypto/e2ee.SecurityCode, so JS and Go agree). That Go participant, not the leader,
// sends alice an envelope: the server refuses it and alice's page never sees it. A third page
// joins and leaves: the epoch and the code change, media goes on without a failure. Last,
// alice leaves: bob's page takes over as the leader, above every epoch in use.
func TestMeetingE2EE(t *testing.T) {
	st := stack(t)
	id := createE2EEMeeting(t, st, "acme")
	b := browser(t)

	alice := leader(t, b, st, id)
	bob := page(t, b, pageURL(st.URL, id, "bob", ipUS, "away", "suite=mlkem768x25519"))
	pages := map[string]context.Context{"alice": alice, "bob": bob}
	rs := awaitAll(t, "alice and bob decode each other", 90*time.Second, func(r report) bool {
		return decoding(30)(r) && r.E2EE != nil && r.E2EE.Roster == 2 && r.E2EE.Code != ""
	}, pages)
	ra, rb := rs["alice"], rs["bob"]
	if rb.FirstFrameMs != nil {
		// docs/benchmarks.md: from opening the page to the first decrypted remote frame, the
		// key from the leader over the signalling.
		t.Logf("bob, joining alice's e2ee meeting: first remote video frame decoded %.0f ms after the page opened", *rb.FirstFrameMs)
	}
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
	withGopher := *rs["alice"].Epoch
	rs = awaitAll(t, "gopher gone, a new epoch", 30*time.Second, func(r report) bool {
		return r.E2EE.Roster == 2 && *r.Epoch > withGopher
	}, pages)
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
	ra, rb = sameCode(t, alice, bob)
	if *ra.Epoch != *prev[ra.Self].Epoch+1 {
		t.Errorf("after carol joined and left: epoch %d, want %d", *ra.Epoch, *prev[ra.Self].Epoch+1)
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

	// alice, the leader, leaves: the home names bob, who takes over above every epoch in use.
	last := *rs["bob"].Epoch
	if err := chromedp.Do(alice, chromedp.Click(chromedp.ID("leave"))); err != nil {
		t.Fatal(err)
	}
	rb = await(t, bob, "bob takes over", 30*time.Second, func(r report) bool {
		return r.E2EE.IsLeader && r.E2EE.Leader == r.Self && *r.Epoch > last && r.E2EE.Roster == 1
	})
	if n := rb.failures(); n != 0 {
		t.Errorf("bob, leading at epoch %d: %d decrypt failures", *rb.Epoch, n)
	}
}

// TestMeetingE2EEMaliciousRelay: the page against a directory and a media server that lie
// (played here by a test server, signing its own tickets): it announces a leader and then
// relays that leader's envelope for another participant, an envelope from someone who is not
// the leader, one whose epoch it rewrote, and, after the page holds an epoch, a replay of an
// older one. The page ignores each and counts it; it takes only the envelope that is its own.
func TestMeetingE2EEMaliciousRelay(t *testing.T) {
	signer, err := ticket.NewSigner("geofence", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const meeting = "m-relay"
	var base string
	var victimKey atomic.Value // the page's public key, from its join
	mux := http.NewServeMux()
	mux.Handle(meetingui.PagePath, http.StripPrefix(meetingui.PagePath, meetingui.Handler()))
	mux.Handle(ticket.JWKSPath, signer.Handler())
	mux.HandleFunc("POST /v1/meetings/{id}/join", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			PublicKey   string `json:"public_key"`
			Participant string `json:"participant"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		victimKey.Store(body.PublicKey)
		tok, err := signer.Sign(wire.Claims{Meeting: meeting, Participant: body.Participant, Account: "acme", Mode: wire.ModeE2EE,
			Region: "eu", Home: "dc-x", HomeCountry: "GB", PublicKey: body.PublicKey,
			Primary: []wire.DC{{ID: "dc-x", Country: "GB", Endpoint: base}},
			Context: wire.Context{ParticipantCountry: "GB", ParticipantRegion: "eu", ParticipantPlan: "basic", MeetingRegion: "eu",
				HostAccount: "acme", HostPlan: "basic"}}, 5*time.Minute)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"token": tok, "home": "dc-x", "meeting": meeting})
	})
	evil, err := keywrap.GenerateKey(keywrap.X25519)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	mux.HandleFunc("GET "+wire.RTCPath, func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		if _, _, err := ws.Read(ctx); err != nil { // join
			return
		}
		pub, err := keywrap.ParsePublicKey(victimKey.Load().(string))
		if err != nil {
			t.Errorf("the page's public key: %v", err)
			return
		}
		wrap := func(epoch uint64, participant string) string {
			w, err := keywrap.Wrap(pub, e2ee.NewMeetingKey(), keywrap.Binding{Meeting: meeting, Epoch: epoch, Participant: participant})
			if err != nil {
				t.Error(err)
			}
			return w.String()
		}
		key := func(from string, e wire.KeyEnvelope) wire.Signal {
			return wire.Signal{Type: wire.SignalKey, Participant: &wire.Participant{Ref: from}, Key: &e}
		}
		msgs := []wire.Signal{
			{Type: wire.SignalJoined, Joined: &wire.Joined{Datacenter: "dc-x", Meeting: meeting, Home: "dc-x", Mode: wire.ModeE2EE,
				Participant:  wire.Participant{Ref: "pvictim", ID: "victim", Account: "acme", Datacenter: "dc-x"},
				Participants: []wire.Participant{{Ref: "pevil", ID: "mallory", Account: "acme", Datacenter: "dc-x", PublicKey: evil.PublicKey().String()}},
				Leader:       &wire.Leader{Ref: "pevil"}}},
			// The leader's envelope for someone else, relayed to the page.
			key("pevil", wire.KeyEnvelope{Meeting: meeting, Epoch: 2, Participant: "pother", Wrapped: wrap(2, "pother")}),
			// An envelope from someone who is not the leader.
			key("pother", wire.KeyEnvelope{Meeting: meeting, Epoch: 2, Participant: "pvictim", Wrapped: wrap(2, "pvictim")}),
			// The page's own envelope with its epoch rewritten (the wrap binds the epoch).
			key("pevil", wire.KeyEnvelope{Meeting: meeting, Epoch: 3, Participant: "pvictim", Wrapped: wrap(2, "pvictim")}),
			// The page's own: taken.
			key("pevil", wire.KeyEnvelope{Meeting: meeting, Epoch: 2, Participant: "pvictim", Wrapped: wrap(2, "pvictim")}),
			// An older epoch, replayed: stale.
			key("pevil", wire.KeyEnvelope{Meeting: meeting, Epoch: 1, Participant: "pvictim", Wrapped: wrap(1, "pvictim")}),
		}
		for _, m := range msgs {
			b, _ := json.Marshal(m)
			if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
				return
			}
		}
		close(sent)
		for { // what the page sends next (its offer, candidates) goes nowhere
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base = srv.URL

	b := browser(t)
	p := page(t, b, srv.URL+meetingui.PagePath+"?meeting="+meeting+"&account=acme&participant=victim")
	r := await(t, p, "the page takes its own envelope", 30*time.Second, func(r report) bool {
		return r.E2EE != nil && r.E2EE.Epoch != nil && r.E2EE.Ignored >= 4
	})
	<-sent
	if *r.E2EE.Epoch != 2 || r.E2EE.Ignored != 4 || r.E2EE.Leader != "pevil" || r.E2EE.IsLeader {
		b, _ := json.MarshalIndent(r.E2EE, "", " ")
		t.Errorf("the page's e2ee state:\n%s\nwant epoch 2, 4 envelopes ignored, following pevil", b)
	}
	if !codeShape.MatchString(r.E2EE.Code) {
		t.Errorf("code %q, want 30 digits", r.E2EE.Code)
	}
}

// TestMeetingE2EEGoaway: in an end-to-end encrypted meeting, bob's DC drains. His page gets a
// goaway and joins again through another DC of its ticket; alice, the leader, hands the key
// to his new connection, and the two decode each other again with no decrypt failure, showing
// one security code.
func TestMeetingE2EEGoaway(t *testing.T) {
	st := stack(t)
	id := createE2EEMeeting(t, st, "acme")
	b := browser(t)
	alice := leader(t, b, st, id)
	bob := page(t, b, pageURL(st.URL, id, "bob", ipUS, "away"))
	pages := map[string]context.Context{"alice": alice, "bob": bob}
	rs := awaitAll(t, "alice and bob decode each other", 90*time.Second, func(r report) bool {
		return decoding(10)(r) && r.E2EE != nil && r.E2EE.Roster == 2
	}, pages)
	first := rs["bob"].Datacenter
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st.Media[first].Drain(ctx)
	rb := await(t, bob, "bob moves on", 60*time.Second, func(r report) bool {
		return r.Phase == "joined" && r.Datacenter != "" && r.Datacenter != first && decoding(10)(r) && r.E2EE != nil && r.E2EE.Code != ""
	})
	ra := await(t, alice, "alice decodes bob again", 60*time.Second, func(r report) bool {
		return r.E2EE != nil && r.E2EE.Code == rb.E2EE.Code && decodesVideoOf(rb.Self)(r)
	})
	t.Logf("alice on %s (was %s, home %s); bob moved from %s to %s (bridged %v); epoch %d, code %s",
		ra.Datacenter, rs["alice"].Datacenter, ra.Home, first, rb.Datacenter, *rb.Bridged, *ra.Epoch, ra.E2EE.Code)
	if !ra.E2EE.IsLeader || rb.E2EE.Leader != ra.Self {
		t.Errorf("alice leads %v, bob follows %q: want alice %q still leading", ra.E2EE.IsLeader, rb.E2EE.Leader, ra.Self)
	}
	for name, r := range map[string]report{"alice": ra, "bob": rb} {
		if n := r.failures(); n != 0 || len(r.WorkerErrors) > 0 {
			t.Errorf("%s: %d decrypt failures, worker errors %v", name, n, r.WorkerErrors)
		}
		if !r.loopbackPairs() {
			t.Errorf("%s: pairs %v, want 127.0.0.1 on both ends", name, r.Pairs)
		}
	}
}
