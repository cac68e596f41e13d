// Package wire is the one definition of everything that crosses a process boundary in
// Geofence (DESIGN.md section 7): the JSON bodies of the directory, the DC agents and the key
// servers, the error codes every one of them answers with, and the claims a ticket carries.
// Servers and the client SDK import it; none defines a body of its own.
//
// It has no dependency on the model (packages config and policy): a body is data, and what it
// means is decided by the package that reads it. Field documentation here is the contract
// other people's clients rely on.
//
// Request bodies from participants ignore unknown members (a newer client works with an older
// server); operator bodies are decoded strictly by the servers.
package wire

import "time"

// Error codes: the "error" member of every error body. Each is defined once, here.
const (
	// 400: the request is malformed; Message says what is wrong.
	CodeBadRequest = "bad_request"
	// 401: a credential (token, ticket, operator token) is missing, malformed, expired or
	// signed by a key that is not registered.
	CodeUnauthorized = "unauthorized"
	// 403: the credential is valid but does not allow this request.
	CodeForbidden = "forbidden"
	// 404: no such meeting, account, datacenter, session.
	CodeUnknownMeeting    = "unknown_meeting"
	CodeUnknownAccount    = "unknown_account"
	CodeUnknownDatacenter = "unknown_datacenter"
	CodeUnknownSession    = "unknown_session"
	// 403: the residency rules allow no datacenter of the meeting's lists (I1), or the meeting
	// is homed where this participant may not go. Rules names the rules.
	CodeResidencyConflict = "residency_conflict"
	// 403: a dedicated-class clash (I3).
	CodePlanConflict = "plan_conflict"
	// 503: every allowed datacenter is down or full (I4); RetryAfter says when to retry.
	CodeNoCapacity = "no_capacity"
	// 409: the account is defined in the config, which the API cannot change.
	CodeConfigAccount = "config_account"
	// 409: the meeting refers to an account or region the config in force no longer has.
	CodeMeetingStale = "meeting_stale"
	// 429: a per-account or per-participant bound was reached (open meetings, sessions).
	CodeLimit = "limit_reached"
	// 503: the directory's shared store cannot be reached; what needs it (a new meeting, a
	// home moved) is refused, never decided without it. RetryAfter says when to retry.
	CodeStoreUnavailable = "store_unavailable"
	// 500: a bug; never expected.
	CodeInternal = "internal"
	// CodeEvidenceUnavailable: 503, the decision could not be written to the evidence log
	// and the server runs the log in strict mode (I6).
	CodeEvidenceUnavailable = "evidence_unavailable"
	// CodeNotFound: 404, no such evidence log resource (a tile not yet written).
	CodeNotFound = "not_found"

	// Tickets at a DC or key server.
	CodeInvalidTicket   = "invalid_ticket"   // 401: signature, issuer or lifetime
	CodeNotListed       = "not_listed"       // 403: the ticket does not list this datacenter
	CodeKeysUnavailable = "keys_unavailable" // 503: the ticket key set cannot be fetched

	// Key servers.
	CodeBadPublicKey      = "bad_public_key"      // 400: the ticket carries no usable public key
	CodeMeetingMismatch   = "meeting_mismatch"    // 403: the ticket is for another meeting
	CodePublicKeyMismatch = "public_key_mismatch" // 403: the request names another public key
	CodeLeft              = "left_meeting"        // 403: the ticket was presented to leave
	CodeE2EEMeeting       = "e2ee_meeting"        // 409: an E2EE meeting has no server-held key
	CodeUnknownEpoch      = "unknown_epoch"       // 404: no such epoch (yet)
	CodeEpochExpired      = "epoch_expired"       // 410: superseded and past retention
)

// Error is the body of every error answer of every Geofence server.
type Error struct {
	// Error is one of the Code constants.
	Error string `json:"error"`
	// Message says, for a person, what is wrong and how to fix it.
	Message string `json:"message"`
	// Rules names the residency rules behind a refusal. It is present in every 403 of the
	// DC agents and key servers, as [rule] when a rule is the reason and as [] otherwise, and
	// in the directory's residency_conflict and plan_conflict answers.
	Rules []string `json:"rules,omitzero"`
	// RetryAfter is the number of seconds to wait before retrying (503 no_capacity); the
	// Retry-After header says the same.
	RetryAfter int `json:"retry_after,omitempty"`
	// CurrentEpoch is a meeting's current key epoch, in a key server's answer to a request
	// for an epoch it does not have.
	CurrentEpoch uint64 `json:"current_epoch,omitempty"`
}

// Meeting modes (DESIGN.md section 2).
const (
	// ModeManaged meetings get their key from a key server listed in the ticket.
	ModeManaged = "managed"
	// ModeE2EE meetings get their key from the leader's client; no server ever holds it.
	ModeE2EE = "e2ee"
)

// CreateMeeting is the body of POST /v1/meetings.
type CreateMeeting struct {
	// HostAccount is the host's account. With a join token it must be the token's account
	// and may be left out.
	HostAccount string `json:"host_account,omitempty"`
	// Mode is ModeManaged (the default) or ModeE2EE.
	Mode string `json:"mode,omitempty"`
}

// Meeting is a meeting as the directory describes it (201 to POST /v1/meetings, GET
// /v1/meetings/{id}).
type Meeting struct {
	ID          string `json:"id"`
	Region      string `json:"region"`
	Mode        string `json:"mode"`
	HostAccount string `json:"host_account"`
	// Home is the meeting's home DC; empty until the first join.
	Home string `json:"home,omitempty"`
	// Revision is the fencing token of the meeting's record: it grows with every change of
	// the home, and tickets carry it.
	Revision int64 `json:"revision,omitempty"`
}

// JoinRequest is the body of POST /v1/meetings/{id}/join. With a join token (Authorization:
// Bearer) the account and participant come from the token and these members are ignored.
type JoinRequest struct {
	Account     string `json:"account,omitempty"`
	Participant string `json:"participant,omitempty"`
	// PublicKey is the participant's HPKE public key in keywrap's text form; the key
	// servers wrap the meeting key to it.
	PublicKey string `json:"public_key,omitempty"`
}

// JoinResponse is the 200 answer to a join: the ticket's lists in the clear, for the client to
// compare with the signed Token. Lists are always arrays, never null.
type JoinResponse struct {
	Meeting   string    `json:"meeting"`
	Region    string    `json:"region"`
	Home      string    `json:"home"`
	Primary   []DC      `json:"primary"`
	Secondary []DC      `json:"secondary"`
	KMS       []DC      `json:"kms"`
	Expires   time.Time `json:"expires"`
	Token     string    `json:"token"`
}

// LoadReport is the body of PUT /v1/datacenters/{id}/load, sent by a DC's agent or media
// server with the DC's credential. Participants and Healthy are required.
type LoadReport struct {
	Participants *int64 `json:"participants"`
	Healthy      *bool  `json:"healthy"`
	// Media is what the DC's media server carries; absent from a DC that runs no media
	// server (a bare DC agent).
	Media *MediaLoad `json:"media,omitempty"`
}

// MediaLoad is a media server's load: sessions, tracks and bit rates, and its bridges.
type MediaLoad struct {
	// Sessions is the number of media sessions (participants connected over WebRTC).
	Sessions int64 `json:"sessions"`
	// Meetings is the number of meetings with at least one session here.
	Meetings int64 `json:"meetings"`
	// TracksIn is the number of tracks received (from participants and bridges).
	TracksIn int64 `json:"tracks_in"`
	// TracksOut is the number of tracks sent (to participants and bridges).
	TracksOut int64 `json:"tracks_out"`
	// BitsInPerSecond and BitsOutPerSecond are the RTP bit rates over the last report
	// interval.
	BitsInPerSecond  int64 `json:"bits_in_per_second"`
	BitsOutPerSecond int64 `json:"bits_out_per_second"`
	// Bridges are the bridges this media server holds, one entry per peer datacenter.
	Bridges []BridgeLoad `json:"bridges,omitempty"`
}

// BridgeLoad is the bridges a media server holds with one other datacenter.
type BridgeLoad struct {
	// Datacenter is the other end's datacenter id.
	Datacenter string `json:"datacenter"`
	// Direction is "out" when this datacenter opened the bridges (it is not the meetings'
	// home) and "in" when the other one did.
	Direction string `json:"direction"`
	// Meetings is the number of meetings bridged.
	Meetings int64 `json:"meetings"`
	// TracksIn and TracksOut count the tracks received and sent over them.
	TracksIn  int64 `json:"tracks_in"`
	TracksOut int64 `json:"tracks_out"`
}

// Datacenter is one entry of GET /v1/datacenters.
type Datacenter struct {
	ID           string    `json:"id"`
	Country      string    `json:"country"`
	Region       string    `json:"region"`
	Capacity     int64     `json:"capacity"`
	Services     []string  `json:"services"`
	Dedicated    string    `json:"dedicated,omitempty"`
	Participants int64     `json:"participants"`
	Placed       int64     `json:"placed"`
	Utilization  float64   `json:"utilization"`
	Healthy      bool      `json:"healthy"`
	Down         bool      `json:"down"`
	LastReport   time.Time `json:"last_report,omitzero"`
	// Media is what the DC's media server carried at its last load report (sessions, tracks,
	// bit rates, bridges); absent when the DC runs no media server or has not reported.
	Media *MediaLoad `json:"media,omitempty"`
}

// AccountKey is a public key that signs an account's join tokens: Ed25519, the 32-byte key in
// base64url without padding (the "x" of an OKP JWK, RFC 8037).
type AccountKey struct {
	KID string `json:"kid"`
	X   string `json:"x"`
}

// Account is the body of PUT /v1/accounts/{id} and the answer of GET /v1/accounts/{id}.
type Account struct {
	ID   string `json:"id,omitempty"`
	Plan string `json:"plan"`
	// HomeRegion is where the account is headquartered; empty: a meeting's region is then
	// the region of its host's country.
	HomeRegion string `json:"home_region,omitempty"`
	// DataRegions narrows the account's meetings to these regions' DCs; absent (null): no
	// narrowing; an empty array allows no DC at all.
	DataRegions []string `json:"data_regions,omitzero"`
	// Keys verify the account's join tokens.
	Keys []AccountKey `json:"keys,omitzero"`
	// Source is "config" or "api" in answers; ignored in requests.
	Source string `json:"source,omitempty"`
}

// Accounts is the answer of GET /v1/accounts.
type Accounts struct {
	Accounts []Account `json:"accounts"`
}

// Paths of a DC's media service (the DC agent, later the media server) and of a key server
// (docs/agent.md). KeyPath and LeavePath are net/http.ServeMux patterns: {id} is the
// meeting's id, path-escaped.
const (
	ConnectPath    = "/v1/connect"
	HeartbeatPath  = "/v1/heartbeat"
	DisconnectPath = "/v1/disconnect"
	KeyPath        = "/v1/meetings/{id}/key"
	LeavePath      = "/v1/meetings/{id}/leave"
)

// Connect is the body of POST /v1/connect at a DC: the participant's ticket.
type Connect struct {
	Token string `json:"token"`
}

// Connected is the 200 answer to a connect: the session the participant holds at the DC. A DC
// holds one session per participant and meeting: a later connect with a ticket for the same
// participant and meeting replaces this one, whose id then stops working. The session ends
// with a disconnect, or when no heartbeat came for SessionTTL seconds.
type Connected struct {
	Datacenter  string `json:"datacenter"`
	Participant string `json:"participant"`
	// Session is the session's id: 128 random bits, base64url. It is a bearer secret: whoever
	// holds it can renew and end the session.
	Session string `json:"session"`
	// SessionTTL is how long, in seconds, the session lives without a heartbeat; a client
	// sends one every third of it. Absent (0) from a DC that expires no sessions.
	SessionTTL int `json:"session_ttl,omitempty"`
}

// Session names a session at a DC: the body of POST /v1/heartbeat (which renews it for
// another SessionTTL and answers 204) and of POST /v1/disconnect (which ends it and answers
// 204). Both answer 404 unknown_session for a session that was disconnected, replaced or has
// expired.
type Session struct {
	Session string `json:"session"`
}

// KeyRequest is the body of POST /v1/meetings/{id}/key at a key server.
type KeyRequest struct {
	// Token is the participant's ticket. Required.
	Token string `json:"token"`
	// PublicKey, when set, must be the public key the ticket carries (keywrap's text form):
	// a client may state which key it expects the meeting key wrapped to, never choose another.
	PublicKey string `json:"public_key,omitempty"`
	// Epoch asks for a given epoch: the current one or a superseded one still retained. Nil
	// asks for the current epoch, creating the meeting's first key (epoch 1) when it has none.
	Epoch *uint64 `json:"epoch,omitempty"`
}

// KeyResponse is the 200 answer to POST /v1/meetings/{id}/key.
type KeyResponse struct {
	Meeting string `json:"meeting"`
	Epoch   uint64 `json:"epoch"`
	// Suite is the keywrap suite of the participant's key: "x25519" or "mlkem768x25519".
	Suite string `json:"suite"`
	// Wrapped is the meeting key wrapped to the ticket's public key with keywrap, bound to
	// (meeting, epoch, participant), in keywrap's text form.
	Wrapped string `json:"wrapped"`
	// KMS is the id of the datacenter of the key server that issued it.
	KMS string `json:"kms"`
	// RotateAt, when set, is when a rotation already decided (someone left) starts the next
	// epoch: ask again for the current epoch then.
	RotateAt time.Time `json:"rotate_at,omitzero"`
}

// LeaveRequest is the body of POST /v1/meetings/{id}/leave at a key server.
type LeaveRequest struct {
	// Token is the leaving participant's ticket. Required.
	Token string `json:"token"`
}

// LeaveResponse is the 200 answer to a leave: the meeting's current epoch, or 0 when the key
// server holds no key for the meeting. The leaving ticket is retired at once. The meeting
// rotates to a new epoch at most once per rotate interval (DESIGN.md section 8): when it
// rotated within the last interval, this leave is coalesced with the others of the interval
// into one rotation, and RotateAt says when that next epoch starts.
type LeaveResponse struct {
	Meeting  string    `json:"meeting"`
	Epoch    uint64    `json:"epoch"`
	RotateAt time.Time `json:"rotate_at,omitzero"`
}

// AppendJoinResponse appends the JSON of the join answer for a signed ticket, followed by a
// newline, exactly as encoding/json encodes the JoinResponse with those values: the DC lists
// are copied from the ticket's own encoded claims (always arrays), not encoded a second time.
func AppendJoinResponse(b []byte, signed EncodedClaims, meeting, region, home string, expires time.Time, token string) []byte {
	b = append(b, `{"meeting":`...)
	b = appendString(b, meeting)
	b = append(b, `,"region":`...)
	b = appendString(b, region)
	b = append(b, `,"home":`...)
	b = appendString(b, home)
	b = append(b, `,"primary":`...)
	b = append(b, signed.List(ListPrimary)...)
	b = append(b, `,"secondary":`...)
	b = append(b, signed.List(ListSecondary)...)
	b = append(b, `,"kms":`...)
	b = append(b, signed.List(ListKMS)...)
	b = append(b, `,"expires":"`...)
	b = expires.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","token":`...)
	if isCompactJWS(token) {
		// A compact JWS is base64url and dots: nothing to escape, and it is most of the answer.
		b = append(b, '"')
		b = append(b, token...)
		b = append(b, '"')
	} else {
		b = appendString(b, token)
	}
	return append(b, "}\n"...)
}

// isCompactJWS reports whether s holds only base64url characters and dots.
func isCompactJWS(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
