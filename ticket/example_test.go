package ticket_test

import (
	"context"
	"fmt"
	"github.com/geofence/geofence/wire"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/geofence/geofence/ticket"
)

func Example() {
	now := func() time.Time { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }

	// The directory: sign the answer to a join and publish the keys.
	signer, err := ticket.NewSigner("https://directory.example", nil, now)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ticket.JWKSPath, signer.Handler())
	directory := httptest.NewTLSServer(mux)
	defer directory.Close()

	token, err := signer.Sign(wire.Claims{
		Meeting: "m-42", Participant: "p-7", Account: "acme", Mode: wire.ModeManaged,
		Region: "eu", Home: "fra1",
		Primary: []wire.DC{{ID: "fra1", Country: "DE", Endpoint: "wss://fra1.example"}},
		KMS:     []wire.DC{{ID: "fra1", Country: "DE"}},
		Context: wire.Context{
			ParticipantCountry: "FR", ParticipantRegion: "eu", ParticipantPlan: "basic",
			MeetingRegion: "eu", HostAccount: "acme", HostPlan: "basic",
		},
	}, 5*time.Minute)
	if err != nil {
		panic(err)
	}

	// A key server in fra1: verify the ticket with the directory's published keys, then check
	// that the ticket names it as a key server. Checking that fra1 is allowed for
	// c.Context is the policy's job, not this package's.
	keys, err := ticket.NewRemoteKeys(directory.URL+ticket.JWKSPath, directory.Client(), "https://directory.example", now)
	if err != nil {
		panic(err)
	}
	c, err := keys.Verify(context.Background(), token)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Meeting, c.Participant, c.Lists("fra1"), c.Expiry)
	// Output: m-42 p-7 [primary kms] 2026-03-14 09:05:00 +0000 UTC
}
