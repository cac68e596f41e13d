package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// TicketIssuer is the "iss" of every ticket: the name the directories sign as and every
// media server, key server and client expects.
const TicketIssuer = "geofence"

// The lists of a ticket, as returned by [Claims.Lists].
const (
	ListPrimary   = "primary"
	ListSecondary = "secondary"
	ListKMS       = "kms"
)

// DC is a datacenter named by a ticket.
type DC struct {
	// ID is the datacenter's id in the config. Required.
	ID string `json:"id"`
	// Country is the ISO 3166-1 alpha-2 code of the country the DC is in. Required.
	Country string `json:"country"`
	// Endpoint is where the client connects, when the DC has one.
	Endpoint string `json:"endpoint,omitempty"`
}

// Context is what a DC or key server needs to check residency (I1) and dedicated isolation (I3)
// again, with its own copy of the policy, without asking the directory.
type Context struct {
	// ParticipantCountry is the country the participant's address geolocates to; empty when
	// the GeoIP database does not know the address (the participant is then in the default
	// region).
	ParticipantCountry string `json:"participant_country"`
	// ParticipantRegion is the participant's region. Required.
	ParticipantRegion string `json:"participant_region"`
	// ParticipantPlan is the plan of the participant's account. Required.
	ParticipantPlan string `json:"participant_plan"`
	// MeetingRegion is the meeting's data region. Required.
	MeetingRegion string `json:"meeting_region"`
	// HostAccount is the id of the host's account. Required.
	HostAccount string `json:"host_account"`
	// HostPlan is the plan of the host's account. Required.
	HostPlan string `json:"host_plan"`
	// HostDataRegions is the host account's data_regions narrowing: absent (nil) means no
	// narrowing; an empty array allows no datacenter (DESIGN.md section 2: it can only narrow).
	HostDataRegions []string `json:"host_data_regions,omitzero"`
}

// Claims is the content of a ticket. The directory fills every field but the registered
// claims that [Signer.Sign] sets (Issuer, IssuedAt, NotBefore, Expiry, ID); [Verifier.Verify]
// returns them all.
//
// On the wire the times are NumericDates (RFC 7519 section 2): whole seconds since the epoch.
type Claims struct {
	// Meeting is the meeting's id. Required.
	Meeting string `json:"meeting"`
	// Participant is the participant's id. It is the JWT subject. Required.
	Participant string `json:"sub"`
	// Account is the id of the participant's account. Required.
	Account string `json:"account"`
	// Mode is ModeManaged or ModeE2EE. Required.
	Mode string `json:"mode"`
	// Region is the meeting's data region. Required.
	Region string `json:"region"`
	// Home is the id of the meeting's home DC. Required.
	Home string `json:"home"`
	// HomeCountry is the country of the home DC, so that a client can pin it like every
	// other DC its media reaches (through a bridge).
	HomeCountry string `json:"home_country,omitempty"`
	// Revision is the meeting record's revision when the ticket was signed: a fencing token
	// that lets a media server tell a ticket naming an old home from a current one.
	Revision int64 `json:"rev,omitempty"`
	// Primary lists the DCs the client tries first, in order. Primary and Secondary together
	// must name at least one DC.
	Primary []DC `json:"primary"`
	// Secondary lists the backup DCs the client tries when every primary fails.
	Secondary []DC `json:"secondary,omitempty"`
	// KMS lists the key servers that may issue the meeting's key. At least one is required in
	// ModeManaged.
	KMS []DC `json:"kms,omitempty"`
	// Context is what the residency and isolation decisions were made on.
	Context Context `json:"context"`
	// PublicKey is the participant's HPKE public key, as the client sent it (opaque here).
	PublicKey string `json:"public_key,omitempty"`

	// Issuer is the directory's issuer name; set by Sign.
	Issuer string `json:"iss"`
	// Audience names who may accept the ticket. Optional; see [Verifier.Audience].
	Audience []string `json:"aud,omitempty"`
	// IssuedAt is the signing time, to the second; set by Sign.
	IssuedAt time.Time `json:"-"`
	// NotBefore is when the ticket becomes valid (the signing time); set by Sign.
	NotBefore time.Time `json:"-"`
	// Expiry is when the ticket stops being valid; set by Sign.
	Expiry time.Time `json:"-"`
	// ID is a random unique id (jti) that key servers and the audit log can key on; set by Sign.
	ID string `json:"jti"`
}

// Lists returns the lists of c that name the DC id, in the order primary, secondary, kms, or
// nil when none does. A DC that runs both media and a key server can be in two lists, so a
// media server asks whether the result holds ListPrimary or ListSecondary and a key server
// whether it holds ListKMS.
func (c Claims) Lists(id string) []string {
	var lists []string
	for _, l := range []struct {
		name string
		dcs  []DC
	}{{ListPrimary, c.Primary}, {ListSecondary, c.Secondary}, {ListKMS, c.KMS}} {
		for _, dc := range l.dcs {
			if dc.ID == id {
				lists = append(lists, l.name)
				break
			}
		}
	}
	return lists
}

// claimsFields is Claims without its methods, so that UnmarshalJSON can embed it.
type claimsFields Claims

type claimsJSON struct {
	claimsFields
	IssuedAt  int64 `json:"iat,omitempty"`
	NotBefore int64 `json:"nbf,omitempty"`
	Expiry    int64 `json:"exp,omitempty"`
}

// MarshalJSON encodes c with its times as NumericDates. It is [Claims.AppendJSON]; signers
// call that directly, since encoding/json validates and re-compacts whatever a MarshalJSON
// method returns.
func (c Claims) MarshalJSON() ([]byte, error) {
	return c.AppendJSON(nil).JSON, nil
}

// EncodedClaims is the JSON of a Claims, with where each of its DC lists is in it, so that a
// server can copy a list into another body (the join answer repeats the ticket's lists)
// instead of encoding it again.
type EncodedClaims struct {
	// JSON is the encoding: compact, and byte for byte what json.Marshal of the Claims
	// produces.
	JSON []byte

	primary, secondary, kms span
}

// span is where a list's array is in EncodedClaims.JSON; the zero span is an absent list.
type span struct{ start, end int }

// List returns the JSON array of the named list (ListPrimary, ListSecondary or ListKMS) as
// it is in e.JSON, without copying: "[]" when the list is empty, whether the claims omit it
// or encode a nil Primary as null, since the join answer's lists are always arrays. It returns
// nil for any other name.
func (e EncodedClaims) List(name string) []byte {
	var s span
	switch name {
	case ListPrimary:
		s = e.primary
	case ListSecondary:
		s = e.secondary
	case ListKMS:
		s = e.kms
	default:
		return nil
	}
	if s.end == 0 {
		return []byte("[]")
	}
	return e.JSON[s.start:s.end:s.end]
}

// AppendJSON appends the JSON encoding of c to b, the bytes json.Marshal(c) produces, in one
// pass without reflection, and returns it as the JSON of the result, which shares b's
// backing array when it has room. The members come in the order of the struct's fields, with iat,
// nbf and exp (NumericDates, omitted when zero) last. TestClaimsJSONMatchesReflection and
// FuzzClaimsJSON hold it to encoding/json's output, HTML escaping included.
func (c *Claims) AppendJSON(b []byte) EncodedClaims {
	var e EncodedClaims
	b0 := len(b)
	b = append(b, `{"meeting":`...)
	b = appendString(b, c.Meeting)
	b = append(b, `,"sub":`...)
	b = appendString(b, c.Participant)
	b = append(b, `,"account":`...)
	b = appendString(b, c.Account)
	b = append(b, `,"mode":`...)
	b = appendString(b, c.Mode)
	b = append(b, `,"region":`...)
	b = appendString(b, c.Region)
	b = append(b, `,"home":`...)
	b = appendString(b, c.Home)
	if c.HomeCountry != "" {
		b = append(b, `,"home_country":`...)
		b = appendString(b, c.HomeCountry)
	}
	if c.Revision != 0 {
		b = append(b, `,"rev":`...)
		b = strconv.AppendInt(b, c.Revision, 10)
	}
	b = append(b, `,"primary":`...)
	if c.Primary == nil {
		b = append(b, "null"...)
	} else {
		e.primary.start = len(b)
		b = appendDCs(b, c.Primary)
		e.primary.end = len(b)
	}
	if len(c.Secondary) > 0 {
		b = append(b, `,"secondary":`...)
		e.secondary.start = len(b)
		b = appendDCs(b, c.Secondary)
		e.secondary.end = len(b)
	}
	if len(c.KMS) > 0 {
		b = append(b, `,"kms":`...)
		e.kms.start = len(b)
		b = appendDCs(b, c.KMS)
		e.kms.end = len(b)
	}
	x := &c.Context
	b = append(b, `,"context":{"participant_country":`...)
	b = appendString(b, x.ParticipantCountry)
	b = append(b, `,"participant_region":`...)
	b = appendString(b, x.ParticipantRegion)
	b = append(b, `,"participant_plan":`...)
	b = appendString(b, x.ParticipantPlan)
	b = append(b, `,"meeting_region":`...)
	b = appendString(b, x.MeetingRegion)
	b = append(b, `,"host_account":`...)
	b = appendString(b, x.HostAccount)
	b = append(b, `,"host_plan":`...)
	b = appendString(b, x.HostPlan)
	if x.HostDataRegions != nil { // omitzero: an empty array is a narrowing to nothing
		b = append(b, `,"host_data_regions":`...)
		b = appendStrings(b, x.HostDataRegions)
	}
	b = append(b, '}')
	if c.PublicKey != "" {
		b = append(b, `,"public_key":`...)
		b = appendString(b, c.PublicKey)
	}
	b = append(b, `,"iss":`...)
	b = appendString(b, c.Issuer)
	if len(c.Audience) > 0 {
		b = append(b, `,"aud":`...)
		b = appendStrings(b, c.Audience)
	}
	b = append(b, `,"jti":`...)
	b = appendString(b, c.ID)
	for _, t := range []struct {
		name string
		v    int64
	}{{`,"iat":`, numericDate(c.IssuedAt)}, {`,"nbf":`, numericDate(c.NotBefore)}, {`,"exp":`, numericDate(c.Expiry)}} {
		if t.v != 0 {
			b = append(b, t.name...)
			b = strconv.AppendInt(b, t.v, 10)
		}
	}
	b = append(b, '}')
	e.JSON = b[b0:]
	for _, s := range []*span{&e.primary, &e.secondary, &e.kms} {
		if s.end != 0 {
			s.start -= b0
			s.end -= b0
		}
	}
	return e
}

func appendDCs(b []byte, dcs []DC) []byte {
	b = append(b, '[')
	for i := range dcs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, dcs[i].ID)
		b = append(b, `,"country":`...)
		b = appendString(b, dcs[i].Country)
		if dcs[i].Endpoint != "" {
			b = append(b, `,"endpoint":`...)
			b = appendString(b, dcs[i].Endpoint)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendStrings(b []byte, s []string) []byte {
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json's Marshal writes it: with
// its HTML escaping (<, > and & as \u003c, \u003e, \u0026), U+2028 and U+2029 escaped, the
// short escapes it uses, and each byte of invalid UTF-8 replaced by \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// UnmarshalJSON decodes c strictly: member names are case-sensitive and a duplicated member
// is an error, so that every JSON parser reads a ticket the same way (go-jose's json, RFC 7515
// section 10.12). Unknown members are ignored, so that a newer directory can add claims.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var w claimsJSON
	if err := josejson.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Claims(w.claimsFields)
	c.IssuedAt = fromNumericDate(w.IssuedAt)
	c.NotBefore = fromNumericDate(w.NotBefore)
	c.Expiry = fromNumericDate(w.Expiry)
	return nil
}

func numericDate(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromNumericDate(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// Check reports every required field of c that is missing, in one error. It does not check
// the registered claims a signer sets.
func (c *Claims) Check() error {
	var missing []string
	need := func(v, name string) {
		if v == "" {
			missing = append(missing, name)
		}
	}
	need(c.Meeting, "meeting")
	need(c.Participant, "sub")
	need(c.Account, "account")
	need(c.Region, "region")
	need(c.Home, "home")
	need(c.Context.ParticipantRegion, "context.participant_region")
	need(c.Context.ParticipantPlan, "context.participant_plan")
	need(c.Context.MeetingRegion, "context.meeting_region")
	need(c.Context.HostAccount, "context.host_account")
	need(c.Context.HostPlan, "context.host_plan")
	// When every primary is down or full a participant gets secondaries only (DESIGN.md
	// section 4), so a ticket needs a media DC on either list.
	if len(c.Primary)+len(c.Secondary) == 0 {
		missing = append(missing, "primary or secondary")
	}
	// A managed meeting's key comes from a listed key server (design section 8); a ticket
	// without one could only fail later, at the client.
	if c.Mode == ModeManaged && len(c.KMS) == 0 {
		missing = append(missing, "kms")
	}
	for _, l := range []struct {
		name string
		dcs  []DC
	}{{ListPrimary, c.Primary}, {ListSecondary, c.Secondary}, {ListKMS, c.KMS}} {
		for i, dc := range l.dcs {
			if dc.ID == "" {
				missing = append(missing, fmt.Sprintf("%s[%d].id", l.name, i))
			}
			if dc.Country == "" {
				missing = append(missing, fmt.Sprintf("%s[%d].country", l.name, i))
			}
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing "+strings.Join(missing, ", "))
	}
	if c.Mode != ModeManaged && c.Mode != ModeE2EE {
		problems = append(problems, fmt.Sprintf("mode %q is neither %q nor %q", c.Mode, ModeManaged, ModeE2EE))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
