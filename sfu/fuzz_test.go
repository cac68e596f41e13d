package sfu_test

import (
	"encoding/json"
	"testing"

	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/wire"
)

// FuzzParseSignal: any bytes a peer sends either parse into a message of a known type with
// the members that type needs, or are refused with an error; never a panic.
func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","ticket":"eyJ"}`,
		`{"type":"bridge","datacenter":"fr-par","credential":"c","ticket":"t","participant":{"ref":"p1"}}`,
		`{"type":"offer","target":"publisher","sdp":"v=0\r\n"}`,
		`{"type":"candidate","target":"subscriber","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"candidate","target":"publisher"}`,
		`{"type":"withheld","withheld":{"track":{"id":"t1"},"datacenter":"fr-par","code":"residency_conflict"}}`,
		`{"type":"leave"}`, `{"type":"x"}`, `{}`, `[]`, `{"type":"join"} {}`, `{"type":"track_published","track":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := sfu.ParseSignal(b)
		if err != nil {
			return
		}
		switch s.Type {
		case wire.SignalJoin, wire.SignalBridgeJoin:
			if s.Ticket == "" {
				t.Fatalf("%q parsed without a ticket", b)
			}
		case wire.SignalOffer, wire.SignalAnswer:
			if s.SDP == "" || (s.Target != wire.TargetPublisher && s.Target != wire.TargetSubscriber) {
				t.Fatalf("%q parsed without an sdp or target", b)
			}
		case wire.SignalKey:
			if s.Key == nil || s.Participant == nil || s.Participant.Ref == "" {
				t.Fatalf("%q parsed without a key or target", b)
			}
		case wire.SignalLeader:
			if s.Leader == nil {
				t.Fatalf("%q parsed without a leader", b)
			}
		case wire.SignalTrackPublished, wire.SignalTrackUnpublished:
			if s.Track == nil || s.Track.ID == "" {
				t.Fatalf("%q parsed without a track", b)
			}
		}
		// What parses survives a round trip.
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sfu.ParseSignal(out); err != nil {
			t.Fatalf("%q parsed, but its re-encoding %q does not: %v", b, out, err)
		}
	})
}
