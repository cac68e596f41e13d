package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	josejson "github.com/go-jose/go-jose/v4/json"
)

const (
	// JoinAudience is the audience of every join token: its "aud" is this string, or an array
	// that holds it.
	JoinAudience = "geofence"

	// JoinTokenType is the "typ" header of the join tokens Geofence's own tools mint (explicit
	// typing, RFC 8725 section 3.11). Verifiers also accept "JWT", what JWT libraries write by
	// default, and no typ at all; never a ticket's type.
	JoinTokenType = "geofence-join+jwt"
)

// JoinClaims is the content of a join token (DESIGN.md section 10): a compact JWS with which
// an account's own backend vouches for one of its participants, signed with an Ed25519 key
// registered on the account (AccountKey). The directory takes the join's account and
// participant from it, never from the request body.
//
// On the wire the times are NumericDates (RFC 7519 section 2), in whole seconds:
//
//	{"iss":"acme","sub":"alice","aud":"geofence","iat":1773480413,"exp":1773484013,
//	 "meeting":"m-42","host":true}
//
// Members not named here are ignored, so that a backend may add claims of its own.
type JoinClaims struct {
	// Account is the id of the account whose backend signs the token (iss). Required.
	Account string `json:"iss"`
	// Participant is the participant's id within the account (sub). Required.
	Participant string `json:"sub"`
	// Audience must hold JoinAudience (aud). On the wire a one-element audience is a string;
	// a string or an array is read (RFC 7519 section 4.1.3).
	Audience []string `json:"aud"`
	// IssuedAt is when the token was signed (iat). Required.
	IssuedAt time.Time `json:"-"`
	// NotBefore, when set, is when the token becomes valid (nbf).
	NotBefore time.Time `json:"-"`
	// Expiry is when the token stops being valid (exp). Required; at most 24 hours after
	// IssuedAt.
	Expiry time.Time `json:"-"`
	// Meeting, when set, is the only meeting the token may join.
	Meeting string `json:"meeting,omitempty"`
	// Host says the participant may create and end meetings for the account.
	Host bool `json:"host,omitempty"`
}

// joinClaimsJSON is the wire form. Raw messages let UnmarshalJSON tell an absent member from
// a zero one and say exactly which member is malformed.
type joinClaimsJSON struct {
	Account     string          `json:"iss"`
	Participant string          `json:"sub"`
	Audience    json.RawMessage `json:"aud,omitempty"`
	IssuedAt    json.RawMessage `json:"iat,omitempty"`
	NotBefore   json.RawMessage `json:"nbf,omitempty"`
	Expiry      json.RawMessage `json:"exp,omitempty"`
	Meeting     *string         `json:"meeting,omitempty"`
	Host        bool            `json:"host,omitempty"`
}

// MarshalJSON encodes c with its times as NumericDates, a zero time left out, and a
// one-element audience as a string.
func (c JoinClaims) MarshalJSON() ([]byte, error) {
	w := joinClaimsJSON{Account: c.Account, Participant: c.Participant, Host: c.Host}
	var err error
	switch len(c.Audience) {
	case 0:
	case 1:
		w.Audience, err = json.Marshal(c.Audience[0])
	default:
		w.Audience, err = json.Marshal(c.Audience)
	}
	if err != nil {
		return nil, err
	}
	w.IssuedAt = appendDate(c.IssuedAt)
	w.NotBefore = appendDate(c.NotBefore)
	w.Expiry = appendDate(c.Expiry)
	if c.Meeting != "" {
		w.Meeting = &c.Meeting
	}
	return json.Marshal(w)
}

func appendDate(t time.Time) json.RawMessage {
	if t.IsZero() {
		return nil
	}
	return strconv.AppendInt(nil, t.Unix(), 10)
}

// maxNumericDate bounds the times UnmarshalJSON reads (year 2500), so that no arithmetic on
// them can overflow a time.Duration's range next to now.
const maxNumericDate = 16725225600

// UnmarshalJSON decodes c strictly: member names are case-sensitive, a duplicated member is an
// error (so that every JSON parser reads a token the same way, RFC 7515 section 10.12), times
// are whole seconds between 0 and the year 2500, aud is a string or an array of strings, and
// a meeting, when present, is not empty. Unknown members are ignored. Whether the claims are
// complete and valid is for the verifier to say (package identity).
func (c *JoinClaims) UnmarshalJSON(b []byte) error {
	var w joinClaimsJSON
	if err := josejson.Unmarshal(b, &w); err != nil {
		return err
	}
	out := JoinClaims{Account: w.Account, Participant: w.Participant, Host: w.Host}
	if len(w.Audience) > 0 {
		switch w.Audience[0] {
		case '"':
			var s string
			if err := josejson.Unmarshal(w.Audience, &s); err != nil {
				return fmt.Errorf("aud: %w", err)
			}
			out.Audience = []string{s}
		case '[':
			out.Audience = []string{}
			if err := josejson.Unmarshal(w.Audience, &out.Audience); err != nil {
				return fmt.Errorf("aud: %w", err)
			}
		default:
			return errors.New("aud is neither a string nor an array of strings")
		}
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
		t    *time.Time
	}{{"iat", w.IssuedAt, &out.IssuedAt}, {"nbf", w.NotBefore, &out.NotBefore}, {"exp", w.Expiry, &out.Expiry}} {
		if d.raw == nil {
			continue
		}
		n, err := strconv.ParseInt(string(d.raw), 10, 64)
		if err != nil || n < 0 || n > maxNumericDate {
			return fmt.Errorf("%s is %s, not a NumericDate: want whole seconds since 1970", d.name, d.raw)
		}
		*d.t = time.Unix(n, 0).UTC()
	}
	if w.Meeting != nil {
		if *w.Meeting == "" {
			return errors.New(`meeting is empty: leave it out for a token good for any meeting`)
		}
		out.Meeting = *w.Meeting
	}
	*c = out
	return nil
}
