package client

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/identity"
)

var tokenT0 = time.Date(2026, 3, 14, 9, 26, 53, 500e6, time.UTC)

func tokenKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) }

func tokenVerifier(now time.Time) *identity.Verifier {
	pub := tokenKey().Public().(ed25519.PublicKey)
	return &identity.Verifier{
		Keys: identity.KeysFunc(func(account, kid string) (ed25519.PublicKey, error) {
			if account != "acme" {
				return nil, identity.ErrUnknownAccount
			}
			if kid != "acme-2026" {
				return nil, identity.ErrUnknownKey
			}
			return pub, nil
		}),
		Now: func() time.Time { return now },
	}
}

func TestMintJoinToken(t *testing.T) {
	clock := func() time.Time { return tokenT0 }
	iat := tokenT0.Truncate(time.Second)
	tests := []struct {
		name       string
		opts       JoinTokenOptions
		wantExpiry time.Time
		wantErr    string
	}{
		{"defaults", JoinTokenOptions{Now: clock}, iat.Add(time.Hour), ""},
		{"meeting and host", JoinTokenOptions{Meeting: "m-42", Host: true, TTL: 10 * time.Minute, Now: clock}, iat.Add(10 * time.Minute), ""},
		{"fractional ttl", JoinTokenOptions{TTL: 90*time.Second + 300*time.Millisecond, Now: clock}, iat.Add(90 * time.Second), ""},
		{"a day", JoinTokenOptions{TTL: 24 * time.Hour, Now: clock}, iat.Add(24 * time.Hour), ""},
		{"over a day", JoinTokenOptions{TTL: 25 * time.Hour, Now: clock}, time.Time{}, "mint join token: ttl 25h0m0s is over the maximum 24h0m0s"},
		{"negative", JoinTokenOptions{TTL: -time.Hour, Now: clock}, time.Time{}, "ttl -1h0m0s is under 1s"},
		{"sub-second", JoinTokenOptions{TTL: time.Millisecond, Now: clock}, time.Time{}, "ttl 1ms is under 1s"},
		{"bad meeting id", JoinTokenOptions{Meeting: "m 42", Now: clock}, time.Time{}, `meeting "m 42" is not an id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := MintJoinToken(tokenKey(), "acme-2026", "acme", "alice", tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id, err := tokenVerifier(tokenT0).Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := identity.Identity{Account: "acme", Participant: "alice", Meeting: tt.opts.Meeting, Host: tt.opts.Host, KID: "acme-2026", Expiry: tt.wantExpiry}
			if id != want {
				t.Errorf("got %+v, want %+v", id, want)
			}
		})
	}
}

func TestMintJoinTokenExpires(t *testing.T) {
	tok, err := MintJoinToken(tokenKey(), "acme-2026", "acme", "alice", JoinTokenOptions{TTL: time.Minute, Now: func() time.Time { return tokenT0 }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tokenVerifier(tokenT0.Add(2 * time.Minute)).Verify(tok)
	if !errors.Is(err, identity.ErrExpired) || !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("got error %v, want an expired token", err)
	}
}
