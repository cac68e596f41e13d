package client

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/wire"
)

// DefaultJoinTokenTTL is the lifetime MintJoinToken gives a token when told none: long
// enough for a participant to open the meeting page and join, short enough that a leaked
// token is soon worthless.
const DefaultJoinTokenTTL = time.Hour

// JoinTokenOptions are the optional parts of a join token.
type JoinTokenOptions struct {
	// Meeting, when set, is the only meeting the token may join.
	Meeting string
	// Host lets the participant create and end the account's meetings.
	Host bool
	// TTL is how long the token is valid, in whole seconds; zero means DefaultJoinTokenTTL,
	// and more than identity.MaxLifetime (24 h) is an error.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MintJoinToken makes a join token (DESIGN.md section 10) for participant of account, signed
// with key, whose public half is registered on the account under kid. It is what a customer's
// backend runs when one of its users opens a meeting: the token goes to that user's client,
// which sends it to the directory as Authorization: Bearer. The key never leaves the backend.
//
// It wraps identity.Mint: the token is issued now (truncated to the second), expires TTL
// later, and has audience "geofence".
func MintJoinToken(key ed25519.PrivateKey, kid, account, participant string, opts JoinTokenOptions) (string, error) {
	ttl := opts.TTL
	switch {
	case ttl == 0:
		ttl = DefaultJoinTokenTTL
	case ttl < time.Second:
		return "", fmt.Errorf("mint join token: ttl %v is under 1s", ttl)
	case ttl > identity.MaxLifetime:
		return "", fmt.Errorf("mint join token: ttl %v is over the maximum %v", ttl, identity.MaxLifetime)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	iat := now().Truncate(time.Second)
	return identity.Mint(key, kid, wire.JoinClaims{
		Account:     account,
		Participant: participant,
		Audience:    []string{wire.JoinAudience},
		IssuedAt:    iat,
		Expiry:      iat.Add(ttl.Truncate(time.Second)),
		Meeting:     opts.Meeting,
		Host:        opts.Host,
	})
}
