package sfu_test

import (
	"context"
	"encoding/json"
	"github.com/geofence/geofence/sfu"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

// exchange opens a raw signalling connection to dc, sends msgs, and returns the first
// message the server answers with.
func exchange(t *testing.T, w *world, dc string, msgs ...any) wire.Signal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(w.url(dc), "http") + wire.RTCPath
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for _, m := range msgs {
		b, ok := m.([]byte)
		if !ok {
			b, _ = json.Marshal(m)
		}
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var s wire.Signal
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	// The server closes the connection after an error.
	if s.Type == wire.SignalError {
		if _, _, err := ws.Read(ctx); err == nil {
			t.Errorf("the connection stays open after %s", b)
		}
	}
	return s
}

func TestRefusals(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	for _, dc := range []string{"de-fra", "fr-par", "us-nyc"} {
		w.start(dc, loopback)
	}
	other, err := ticket.NewSigner(testIssuer, detRand(9), nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Sign(wire.Claims{Meeting: "m-1", Participant: "anna", Account: "acme", Mode: wire.ModeE2EE,
		Region: "eu", Home: "de-fra", Primary: []wire.DC{{ID: "de-fra", Country: "DE"}},
		Context: wire.Context{ParticipantCountry: "DE", ParticipantRegion: "eu", ParticipantPlan: "basic",
			MeetingRegion: "eu", HostAccount: "acme", HostPlan: "basic"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		dc       string
		msgs     []any
		wantCode string
		wantRule string
	}{
		{"no ticket", "de-fra", []any{wire.Signal{Type: wire.SignalJoin}}, wire.CodeBadRequest, ""},
		{"not JSON", "de-fra", []any{[]byte("hello")}, wire.CodeBadRequest, ""},
		{"an offer first", "de-fra", []any{wire.Signal{Type: wire.SignalOffer, Target: wire.TargetPublisher, SDP: "v=0"}}, wire.CodeBadRequest, ""},
		{"forged ticket", "de-fra", []any{wire.Signal{Type: wire.SignalJoin, Ticket: forged}}, wire.CodeInvalidTicket, ""},
		{"ticket for other DCs", "fr-par", []any{wire.Signal{Type: wire.SignalJoin, Ticket: w.ticketFor(anna, []string{"de-fra"}, nil)}}, wire.CodeNotListed, ""},
		{"European meeting in the US", "us-nyc", []any{wire.Signal{Type: wire.SignalJoin, Ticket: w.ticketFor(sam, []string{"us-nyc"}, nil)}},
			wire.CodeResidencyConflict, "eu-stays-in-eu"},
		{"Swiss participant in Paris", "fr-par", []any{wire.Signal{Type: wire.SignalJoin, Ticket: w.ticketFor(heidi, []string{"fr-par"}, nil)}},
			wire.CodeResidencyConflict, "swiss-data-in-ch-and-de"},
		{"bridge without credential", "de-fra", []any{wire.Signal{Type: wire.SignalBridge, Datacenter: "fr-par",
			Ticket: w.ticketFor(felix, []string{"fr-par"}, nil), Participant: &wire.Participant{Ref: "p1"}}}, wire.CodeUnauthorized, ""},
		{"bridge with another DC's credential", "de-fra", []any{wire.Signal{Type: wire.SignalBridge, Datacenter: "fr-par", Credential: w.creds["nl-ams"],
			Ticket: w.ticketFor(felix, []string{"fr-par"}, nil), Participant: &wire.Participant{Ref: "p1"}}}, wire.CodeUnauthorized, ""},
		{"bridge from a DC the meeting may not use", "de-fra", []any{wire.Signal{Type: wire.SignalBridge, Datacenter: "us-nyc", Credential: w.creds["us-nyc"],
			Ticket: w.ticketFor(sam, []string{"us-nyc"}, nil), Participant: &wire.Participant{Ref: "p1"}}}, wire.CodeResidencyConflict, "eu-stays-in-eu"},
		{"bridge to a DC that is not the home", "fr-par", []any{wire.Signal{Type: wire.SignalBridge, Datacenter: "nl-ams", Credential: w.creds["nl-ams"],
			Ticket: w.ticketFor(nora, []string{"nl-ams"}, nil), Participant: &wire.Participant{Ref: "p1"}}}, wire.CodeNotListed, ""},
		{"bridge for a ticket that does not list the bridging DC", "de-fra", []any{wire.Signal{Type: wire.SignalBridge, Datacenter: "fr-par", Credential: w.creds["fr-par"],
			Ticket: w.ticketFor(felix, []string{"nl-ams"}, nil), Participant: &wire.Participant{Ref: "p1"}}}, wire.CodeNotListed, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := exchange(t, w, c.dc, c.msgs...)
			if got.Type != wire.SignalError || got.Error == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if got.Error.Error != c.wantCode {
				t.Errorf("code = %q (%s), want %q", got.Error.Error, got.Error.Message, c.wantCode)
			}
			if c.wantRule != "" && !slices.Contains(got.Error.Rules, c.wantRule) {
				t.Errorf("rules = %q, want %q", got.Error.Rules, c.wantRule)
			}
		})
	}
}

// A ticket replayed holds one session: the second connection replaces the first, which is
// told why.
func TestReplayedTicketReplacesTheSession(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	s := w.start("de-fra", loopback)
	tok := w.ticketFor(anna, []string{"de-fra"}, nil)
	first, err := w.tryJoin(anna, "de-fra", tok)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := w.tryJoin(anna, "de-fra", tok); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-first.conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first connection is still open after the ticket was replayed")
	}
	var e *sfuclient.Error
	if err := first.conn.Err(); !asError(err, &e) || e.Body.Error != wire.CodeUnknownSession {
		t.Errorf("first connection ended with %v, want %s", err, wire.CodeUnknownSession)
	}
	eventually(t, "one session", 5*time.Second, func() bool { return s.Load().Sessions == 1 })
}

func asError(err error, target **sfuclient.Error) bool {
	e, ok := err.(*sfuclient.Error)
	if ok {
		*target = e
	}
	return ok
}

// A connection that says nothing is closed after the join timeout.
func TestSilentConnectionIsClosed(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback, func(c *sfuConfig) { c.JoinTimeout = 200 * time.Millisecond })
	got := exchange(t, w, "de-fra")
	if got.Type != wire.SignalError || got.Error.Error != wire.CodeBadRequest {
		t.Errorf("got %+v, want a bad_request error", got)
	}
}

type sfuConfig = sfu.Config

// A connection that floods the server with messages, or sends one too large, is closed
// with limit_reached or bad_request; the session it held is released.
func TestFloodsAndOversizedMessages(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	s := w.start("de-fra", loopback)
	join := wire.Signal{Type: wire.SignalJoin, Ticket: w.ticketFor(anna, []string{"de-fra"}, nil)}
	flood := []any{join}
	for range 400 {
		flood = append(flood, wire.Signal{Type: wire.SignalCandidate, Target: wire.TargetPublisher})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		name string
		msgs []any
		want string
	}{
		{"flood", flood, wire.CodeLimit},
		{"oversized", []any{join, []byte(`{"type":"leave","pad":"` + strings.Repeat("x", wire.MaxSignalSize) + `"}`)}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := "ws" + strings.TrimPrefix(w.url("de-fra"), "http") + wire.RTCPath
			ws, _, err := websocket.Dial(ctx, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			got := make(chan []string, 1)
			go func() {
				var codes []string
				for {
					_, b, err := ws.Read(ctx)
					if err != nil {
						got <- codes
						return
					}
					var m wire.Signal
					json.Unmarshal(b, &m)
					if m.Type == wire.SignalError {
						codes = append(codes, m.Error.Error)
					}
				}
			}()
			for _, m := range c.msgs {
				b, ok := m.([]byte)
				if !ok {
					b, _ = json.Marshal(m)
				}
				if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
					break // the server closed first
				}
			}
			codes := <-got
			if c.want != "" && !slices.Contains(codes, c.want) {
				t.Errorf("errors %q, want %q", codes, c.want)
			}
			eventually(t, "the session released", 5*time.Second, func() bool { return s.Load().Sessions == 0 })
		})
	}
}

// A participant whose PeerConnections close ends its session, even with its signalling
// connection still open.
func TestSessionEndsWithItsPeerConnection(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	s := w.start("de-fra", loopback)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	a.publish(ctx)
	f := w.join(felix, "de-fra", []string{"de-fra"}, nil)
	eventually(t, "felix receiving anna", 10*time.Second, func() bool { return f.received("anna", "video") > 5 })
	a.conn.Publisher().Close()
	select {
	case <-a.conn.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("anna's session outlived her publisher PeerConnection")
	}
	eventually(t, "one session left", 5*time.Second, func() bool { return s.Load().Sessions == 1 })
}
