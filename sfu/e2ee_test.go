package sfu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// keyed is a participant of an e2ee meeting running the leader flow (sfuclient.E2EE).
type keyed struct {
	who  person
	dc   string
	conn *sfuclient.Conn
	priv keywrap.PrivateKey
}

// ticketWith signs a ticket for p like ticketFor, edited by edit.
func (w *world) ticketWith(p person, primary []string, edit func(*wire.Claims)) string {
	w.t.Helper()
	c := wire.Claims{
		Meeting: "m-1", Participant: p.id, Account: "acme", Mode: wire.ModeE2EE, Region: "eu", Home: "de-fra",
		HomeCountry: "DE",
		Context: wire.Context{ParticipantCountry: p.country, ParticipantRegion: p.region, ParticipantPlan: "basic",
			MeetingRegion: "eu", HostAccount: "acme", HostPlan: "basic"},
	}
	for _, id := range primary {
		d, _ := w.model.DC(id)
		c.Primary = append(c.Primary, wire.DC{ID: id, Country: w.model.DCs[d].Country.Code(), Endpoint: w.url(id)})
	}
	edit(&c)
	tok, err := w.signer.Sign(c, 5*time.Minute)
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// joinKeyed joins p at dc with a new key pair whose public key its ticket carries.
func (w *world) joinKeyed(p person, dc string, edit ...func(*sfuclient.E2EE)) *keyed {
	w.t.Helper()
	priv, err := keywrap.GenerateKey(keywrap.X25519)
	if err != nil {
		w.t.Fatal(err)
	}
	tok := w.ticketWith(p, []string{dc}, func(c *wire.Claims) { c.PublicKey = priv.PublicKey().String() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := &sfuclient.E2EE{Private: priv}
	for _, e := range edit {
		e(keys)
	}
	conn, err := sfuclient.Dial(ctx, sfuclient.Config{URL: w.url(dc), Ticket: tok, Network: w.clientNet(), E2EE: keys})
	if err != nil {
		w.t.Fatalf("%s joins at %s: %v", p.id, dc, err)
	}
	w.t.Cleanup(func() { conn.Close() })
	return &keyed{who: p, dc: dc, conn: conn, priv: priv}
}

func (k *keyed) ref() string { return k.conn.Joined().Participant.Ref }

func (k *keyed) key(t testing.TB) e2ee.EpochKey {
	t.Helper()
	key, err := k.conn.Key()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// leaderOf is the member the others follow, once they agree on one who leads.
func leaderOf(ms []*keyed) *keyed {
	for _, m := range ms {
		if _, self := m.conn.Leader(); self {
			return m
		}
	}
	return nil
}

// converged reports whether every member of ms follows one leader among them and holds its
// current key, and the security codes are the same.
func converged(t testing.TB, ms []*keyed) bool {
	t.Helper()
	l := leaderOf(ms)
	if l == nil {
		return false
	}
	want := l.key(t)
	code, err := l.conn.SecurityCode()
	if err != nil {
		return false
	}
	for _, m := range ms {
		if ref, _ := m.conn.Leader(); ref != l.ref() || !m.key(t).Equal(want) {
			return false
		}
		if c, err := m.conn.SecurityCode(); err != nil || c != code {
			return false
		}
	}
	return true
}

func waitConverged(t testing.TB, what string, ms []*keyed) {
	t.Helper()
	eventually(t, what, 20*time.Second, func() bool { return converged(t, ms) })
}

// waitRotated waits until ms converged on an epoch above epoch: after a leave, they agree on
// the old epoch until the leader's rotation arrives.
func waitRotated(t testing.TB, what string, ms []*keyed, epoch uint64) {
	t.Helper()
	eventually(t, what, 20*time.Second, func() bool { return converged(t, ms) && leaderOf(ms).key(t).Epoch() > epoch })
}

// At one datacenter: the first participant leads, the others get its key, a join keeps the
// epoch (and changes the code, whose roster changed), a leave rotates, and the one who left
// never gets the new epoch.
func TestKeyRelayAtOneDatacenter(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback)
	a := w.joinKeyed(anna, "de-fra")
	if j := a.conn.Joined(); j.Mode != wire.ModeE2EE || j.Leader == nil || j.Leader.Ref != a.ref() {
		t.Fatalf("anna joined %+v, want her the leader of an e2ee meeting", j)
	}
	f := w.joinKeyed(felix, "de-fra")
	waitConverged(t, "felix holding anna's key", []*keyed{a, f})
	if j := f.conn.Joined(); len(j.Participants) != 1 || j.Participants[0].PublicKey != a.priv.PublicKey().String() {
		t.Errorf("felix's joined lists %+v, want anna with the public key of her ticket", j.Participants)
	}
	code2, _ := a.conn.SecurityCode()
	n := w.joinKeyed(nora, "de-fra")
	waitConverged(t, "nora holding anna's key", []*keyed{a, f, n})
	if got := a.key(t).Epoch(); got != e2ee.FirstEpoch {
		t.Errorf("epoch after joins = %d, want %d: a join does not rotate", got, e2ee.FirstEpoch)
	}
	code3, _ := a.conn.SecurityCode()
	if code3 == code2 || len(strings.ReplaceAll(code3, " ", "")) != 30 {
		t.Errorf("codes %q then %q: want 30 digits, changed by the join", code2, code3)
	}
	before := f.key(t)
	f.conn.Close()
	waitRotated(t, "a new epoch after felix left", []*keyed{a, n}, before.Epoch())
	if got := a.key(t).Epoch(); got != before.Epoch()+1 {
		t.Errorf("epoch after the leave = %d, want %d", got, before.Epoch()+1)
	}
	if k, _ := f.conn.Key(); !k.Equal(before) {
		t.Error("felix, who left, holds a newer key")
	}
	for _, m := range []*keyed{a, n} {
		if m.conn.IgnoredKeys() != 0 || len(m.conn.KeyRefusals()) != 0 {
			t.Errorf("%s: %d envelopes ignored, refusals %v; want none", m.who.id, m.conn.IgnoredKeys(), m.conn.KeyRefusals())
		}
	}
}

// Across bridges both ways: felix at fr-par leads first, so his envelopes cross his bridge to
// anna at the home and on to nora at nl-ams; when he leaves, anna (admitted next) takes over
// above his epochs, and her envelopes cross the bridge to nora.
func TestKeyRelayAcrossBridgesAndHandover(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	for _, dc := range []string{"de-fra", "fr-par", "nl-ams"} {
		w.start(dc, loopback)
	}
	f := w.joinKeyed(felix, "fr-par")
	eventually(t, "felix named leader by the home", 10*time.Second, func() bool { _, self := f.conn.Leader(); return self })
	a := w.joinKeyed(anna, "de-fra")
	waitConverged(t, "anna holding felix's key", []*keyed{f, a})
	n := w.joinKeyed(nora, "nl-ams")
	waitConverged(t, "nora holding felix's key", []*keyed{f, a, n})
	if l := leaderOf([]*keyed{f, a, n}); l != f {
		t.Fatalf("the leader is %s, want felix (admitted first)", l.who.id)
	}
	old := f.key(t)
	f.conn.Close()
	waitRotated(t, "anna leading after felix left", []*keyed{a, n}, old.Epoch())
	if l := leaderOf([]*keyed{a, n}); l != a {
		t.Fatalf("the new leader is %s, want anna (admitted next)", l.who.id)
	}
	if got := a.key(t).Epoch(); got <= old.Epoch() {
		t.Errorf("the new leader's epoch %d is not above the old one's %d", got, old.Epoch())
	}
	if n.conn.IgnoredKeys() != 0 {
		t.Errorf("nora ignored %d envelopes, want none", n.conn.IgnoredKeys())
	}
	// A leave at a bridged datacenter rotates too.
	h := w.joinKeyed(person{"hans", "DE", "eu"}, "nl-ams")
	waitConverged(t, "hans holding anna's key", []*keyed{a, n, h})
	e := a.key(t).Epoch()
	h.conn.Close()
	waitRotated(t, "a new epoch after hans left", []*keyed{a, n}, e)
	if got := n.key(t).Epoch(); got != e+1 {
		t.Errorf("nora's epoch after hans left = %d, want %d", got, e+1)
	}
}

// The server refuses every envelope it must not relay, tells the sender why with the target's
// Ref, keeps the connection, and the target gets nothing.
func TestKeyRelayRefusals(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	for _, dc := range []string{"de-fra", "fr-par"} {
		w.start(dc, loopback)
	}
	a := w.joinKeyed(anna, "de-fra")
	f := w.joinKeyed(felix, "fr-par")
	n := w.joinKeyed(nora, "de-fra")
	ms := []*keyed{a, f, n}
	waitConverged(t, "everyone holding anna's key", ms)
	valid := func(to *keyed) wire.KeyEnvelope {
		return wire.KeyEnvelope{Meeting: "m-1", Epoch: 9, Participant: to.ref(), Wrapped: "x25519-wrapped:AAAA"}
	}
	tests := []struct {
		name     string
		from, to *keyed
		target   string
		edit     func(*wire.KeyEnvelope)
		code     string
	}{
		{name: "not the leader, here", from: n, to: f, code: wire.CodeNotLeader},
		{name: "not the leader, across the bridge", from: f, to: n, code: wire.CodeNotLeader},
		{name: "unknown ref", from: a, target: "p-nobody", code: wire.CodeUnknownParticipant},
		{name: "to the leader itself", from: a, to: a, code: wire.CodeUnknownParticipant},
		{name: "another meeting", from: a, to: f, edit: func(e *wire.KeyEnvelope) { e.Meeting = "m-2" }, code: wire.CodeEnvelopeMismatch},
		{name: "another participant", from: a, to: f, edit: func(e *wire.KeyEnvelope) { e.Participant = n.ref() }, code: wire.CodeEnvelopeMismatch},
		{name: "epoch zero", from: a, to: f, edit: func(e *wire.KeyEnvelope) { e.Epoch = 0 }, code: wire.CodeEnvelopeMismatch},
		{name: "oversized", from: a, to: f, edit: func(e *wire.KeyEnvelope) { e.Wrapped = "x25519-wrapped:" + strings.Repeat("A", wire.MaxWrappedKey) }, code: wire.CodeLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			var e wire.KeyEnvelope
			if tt.to != nil {
				target, e = tt.to.ref(), valid(tt.to)
			} else {
				e = wire.KeyEnvelope{Meeting: "m-1", Epoch: 9, Participant: target, Wrapped: "x25519-wrapped:AAAA"}
			}
			if tt.edit != nil {
				tt.edit(&e)
			}
			seen := len(tt.from.conn.KeyRefusals())
			if err := tt.from.conn.SendKey(context.Background(), target, e); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the refusal", 5*time.Second, func() bool { return len(tt.from.conn.KeyRefusals()) > seen })
			if got := tt.from.conn.KeyRefusals()[seen].Error; got != tt.code {
				t.Errorf("refused with %q, want %q", got, tt.code)
			}
			if err := tt.from.conn.Err(); err != nil {
				t.Errorf("the sender's connection ended: %v", err)
			}
		})
	}
	for _, m := range ms {
		if m.conn.IgnoredKeys() != 0 {
			t.Errorf("%s saw %d refused envelopes: the server relayed one", m.who.id, m.conn.IgnoredKeys())
		}
	}
	if !converged(t, ms) {
		t.Error("the refused envelopes changed someone's key")
	}
	// A rotation of a big meeting is a burst of envelopes, above the bound of other messages
	// (200 at once) but within that of keys: the leader's connection stays, and they arrive.
	for i := range 210 {
		e := valid(f)
		e.Epoch = uint64(100 + i)
		if err := a.conn.SendKey(context.Background(), f.ref(), e); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "felix receiving 210 envelopes", 10*time.Second, func() bool { return f.conn.IgnoredKeys() == 210 })
	if err := a.conn.Err(); err != nil {
		t.Errorf("the leader's connection ended after a burst of envelopes: %v", err)
	}
}

// A managed meeting's keys come from its key servers: the media server relays none.
func TestManagedMeetingRefusesKeys(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback)
	managed := func(c *wire.Claims) {
		c.Mode = wire.ModeManaged
		c.KMS = []wire.DC{{ID: "de-fra", Country: "DE", Endpoint: "http://127.0.0.1:1"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conns []*sfuclient.Conn
	for _, p := range []person{anna, felix} {
		c, err := sfuclient.Dial(ctx, sfuclient.Config{URL: w.url("de-fra"), Ticket: w.ticketWith(p, []string{"de-fra"}, managed), Network: loopback})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	if j := conns[0].Joined(); j.Mode != wire.ModeManaged || j.Leader != nil {
		t.Errorf("joined %+v: want a managed meeting without a leader", j)
	}
	to := conns[1].Joined().Participant.Ref
	if err := conns[0].SendKey(ctx, to, wire.KeyEnvelope{Meeting: "m-1", Epoch: 1, Participant: to, Wrapped: "x25519-wrapped:AAAA"}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m := <-conns[0].Events():
			if m.Type != wire.SignalError {
				continue
			}
			if m.Error.Error != wire.CodeNotE2EE || m.Participant == nil || m.Participant.Ref != to {
				t.Errorf("refusal %+v for %+v, want %s for %s", m.Error, m.Participant, wire.CodeNotE2EE, to)
			}
			return
		case <-ctx.Done():
			t.Fatal("no refusal")
		}
	}
}

// Joins and leaves in random order over three datacenters with bridges: whoever remains ends
// with the leader's key, and none who left ever holds an epoch dealt after it left.
func TestKeyFlowRandomized(t *testing.T) {
	leaktest.Check(t)
	sd := *seed // -sfu.seed replays a run
	if sd == 0 {
		sd = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-sfu.seed to replay)", sd)
	rng := rand.New(rand.NewPCG(sd, 7))
	w := newWorld(t)
	dcs := []string{"de-fra", "fr-par", "nl-ams"}
	country := map[string]string{"de-fra": "DE", "fr-par": "FR", "nl-ams": "NL"}
	for _, dc := range dcs {
		w.start(dc, loopback)
	}
	type gone struct {
		k   *keyed
		key e2ee.EpochKey
	}
	var in []*keyed
	var left []gone
	next := 0
	for step := range 14 {
		if len(in) < 2 || (len(in) < 6 && rng.IntN(3) > 0) {
			dc := dcs[rng.IntN(len(dcs))]
			next++
			in = append(in, w.joinKeyed(person{fmt.Sprintf("p%d", next), country[dc], "eu"}, dc))
		} else {
			i := rng.IntN(len(in))
			k := in[i]
			in = slices.Delete(in, i, i+1)
			key := k.key(t)
			k.conn.Close()
			left = append(left, gone{k, key})
			waitRotated(t, fmt.Sprintf("step %d: %s left, %d rotate", step, k.who.id, len(in)), in, key.Epoch())
			continue
		}
		waitConverged(t, fmt.Sprintf("step %d: %d participants on one key", step, len(in)), in)
	}
	final := leaderOf(in).key(t)
	for _, g := range left {
		if k, _ := g.k.conn.Key(); !k.Equal(g.key) {
			t.Errorf("%s holds epoch %d, dealt after it left at epoch %d", g.k.who.id, k.Epoch(), g.key.Epoch())
		}
		if g.key.Epoch() >= final.Epoch() {
			t.Errorf("%s left at epoch %d, not below the final %d", g.k.who.id, g.key.Epoch(), final.Epoch())
		}
	}
	for _, m := range in {
		if n := m.conn.IgnoredKeys(); n != 0 {
			t.Errorf("%s ignored %d envelopes", m.who.id, n)
		}
	}
}

// keyOutcomes reads geofence_sfu_key_envelopes_total by outcome from reg.
func keyOutcomes(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "geofence_sfu_key_envelopes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// A bridge may relay only the envelopes of a leader it carries: one naming the home's own
// leader as its sender, or a participant who is not the leader, is refused and counted, and
// its target gets nothing.
func TestKeyRelayForgedOnABridge(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	reg := prometheus.NewRegistry()
	w.start("de-fra", loopback, func(c *sfu.Config) { c.Registry = reg })
	a := w.joinKeyed(anna, "de-fra")
	n := w.joinKeyed(nora, "de-fra")
	waitConverged(t, "nora holding anna's key", []*keyed{a, n})

	// fr-par's bridge, carrying felix, opened by hand.
	priv, _ := keywrap.GenerateKey(keywrap.X25519)
	tok := w.ticketWith(felix, []string{"fr-par"}, func(c *wire.Claims) { c.PublicKey = priv.PublicKey().String() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.url("de-fra"), "http")+wire.RTCPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(m wire.Signal) {
		b, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	send(wire.Signal{Type: wire.SignalBridge, Datacenter: "fr-par", Credential: w.creds["fr-par"], Ticket: tok, Participant: &wire.Participant{Ref: "pfelix"}})
	_, b, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"joined"`) {
		t.Fatalf("bridge answered %s, %v; want joined", b, err)
	}
	go func() { // what the home sends next is not read here
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	env := wire.KeyEnvelope{Meeting: "m-1", Epoch: 7, Participant: n.ref(), Wrapped: "x25519-wrapped:AAAA"}
	send(wire.Signal{Type: wire.SignalKey, From: a.ref(), Participant: &wire.Participant{Ref: n.ref()}, Key: &env})
	send(wire.Signal{Type: wire.SignalKey, From: "pfelix", Participant: &wire.Participant{Ref: n.ref()}, Key: &env})
	eventually(t, "two refusals counted", 5*time.Second, func() bool { return keyOutcomes(t, reg)[wire.CodeNotLeader] == 2 })
	if got := n.conn.IgnoredKeys(); got != 0 {
		t.Errorf("nora saw %d forged envelopes", got)
	}
	if !converged(t, []*keyed{a, n}) {
		t.Error("the forged envelopes changed a key")
	}
}

// The server relays the public keys tickets carry and invents none: a participant whose ticket
// has none is listed without one and is never the key leader.
func TestLeaderNeedsAPublicKey(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback)
	keyless := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	if j := keyless.conn.Joined(); j.Leader == nil || j.Leader.Ref != "" || j.Participant.PublicKey != "" {
		t.Errorf("anna, without a public key, joined %+v / %+v: want no leader and no key", j.Leader, j.Participant)
	}
	f := w.joinKeyed(felix, "de-fra")
	if j := f.conn.Joined(); j.Leader == nil || j.Leader.Ref != f.ref() {
		t.Errorf("felix joined with leader %+v, want himself: anna has no public key", j.Leader)
	} else if len(j.Participants) != 1 || j.Participants[0].PublicKey != "" {
		t.Errorf("felix's joined lists %+v, want anna without a public key", j.Participants)
	}
	eventually(t, "anna told of the leader", 5*time.Second, func() bool {
		for {
			select {
			case m := <-keyless.conn.Events():
				if m.Type == wire.SignalLeader && m.Leader.Ref == f.ref() {
					return true
				}
			default:
				return false
			}
		}
	})
}

// Only the home's media server names the leader: a participant that sends "leader" is
// refused and its connection closed.
func TestParticipantCannotNameTheLeader(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback)
	a := w.joinKeyed(anna, "de-fra")
	priv, _ := keywrap.GenerateKey(keywrap.X25519)
	tok := w.ticketWith(felix, []string{"de-fra"}, func(c *wire.Claims) { c.PublicKey = priv.PublicKey().String() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.url("de-fra"), "http")+wire.RTCPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for _, m := range []wire.Signal{{Type: wire.SignalJoin, Ticket: tok}, {Type: wire.SignalLeader, Leader: &wire.Leader{Ref: "pfelix"}}} {
		b, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("the connection closed without an error message: %v", err)
		}
		var s wire.Signal
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if s.Type == wire.SignalError {
			if s.Error.Error != wire.CodeBadRequest {
				t.Errorf("refused with %+v, want %s", s.Error, wire.CodeBadRequest)
			}
			break
		}
	}
	if ref, self := a.conn.Leader(); ref != a.ref() || !self {
		t.Errorf("the leader is %q, want anna %q still", ref, a.ref())
	}
}

// Leaves that come together cost one rotation: the leader waits E2EE.Coalesce after a leave
// for more before it deals a new epoch to those who remain.
func TestLeavesCoalesce(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback)
	w.start("fr-par", loopback)
	a := w.joinKeyed(anna, "de-fra", func(e *sfuclient.E2EE) { e.Coalesce = 2 * time.Second })
	ms := []*keyed{a}
	for i, dc := range []string{"de-fra", "fr-par", "fr-par", "de-fra"} {
		ms = append(ms, w.joinKeyed(person{fmt.Sprintf("p%d", i), map[string]string{"de-fra": "DE", "fr-par": "FR"}[dc], "eu"}, dc))
	}
	waitConverged(t, "five on anna's key", ms)
	before := a.key(t).Epoch()
	for _, m := range ms[2:4] { // both at fr-par: the bridge carries their leaves
		m.conn.Close()
	}
	ms[4].conn.Close()
	rest := []*keyed{a, ms[1]}
	waitRotated(t, "one rotation for three leaves", rest, before)
	if got := a.key(t).Epoch(); got != before+1 {
		t.Errorf("epoch %d after three leaves within the coalescing window, want %d", got, before+1)
	}
}

// A bridged datacenter that loses its bridge to the home no longer knows the leader: it says
// so, and its participants keep the key they hold but take no envelope until the home names
// a leader again.
func TestLeaderUnknownWithoutTheHome(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback)
	w.start("fr-par", loopback)
	a := w.joinKeyed(anna, "de-fra")
	f := w.joinKeyed(felix, "fr-par")
	waitConverged(t, "felix holding anna's key", []*keyed{a, f})
	held := f.key(t)
	w.kill("de-fra")
	eventually(t, "fr-par saying no leader is known", 15*time.Second, func() bool {
		ref, self := f.conn.Leader()
		return ref == "" && !self
	})
	// While the home drained it may have named felix before his bridge closed: then he holds
	// the key he dealt, of a later epoch.
	if k := f.key(t); k.IsZero() || k.Epoch() < held.Epoch() {
		t.Errorf("felix holds %v, want the key of epoch %d or a later one", k, held.Epoch())
	}
}
