package wire

// The media server's signalling (DESIGN.md section 8, docs/rtc.md): JSON text messages over a
// WebSocket at RTCPath. Every message is one Signal; its Type says which members it uses.
//
// A participant's connection starts with SignalJoin (its ticket) and the server answers
// SignalJoined or SignalError. Media flows over two PeerConnections per connection: the
// "publisher" one, which the participant offers (SignalOffer with Target TargetPublisher, the
// server answers), carries what the participant sends; the "subscriber" one, which the server
// offers (SignalOffer with Target TargetSubscriber, the participant answers), carries what it
// receives. Each side offers on one PeerConnection only, so offers never cross (no glare).
//
// A bridge (cascade) between two media servers is a connection of the same protocol, opened
// by the bridging datacenter to the meeting's home with SignalBridge (its credential and the
// ticket of its first participant); it announces every further participant with
// SignalBridgeJoin and SignalBridgeLeave, and carries all of them on its two PeerConnections.
//
// In an end-to-end encrypted meeting (ModeE2EE, DESIGN.md section 8) the signalling also
// carries the leader flow: every participant's public key (from its ticket) in Joined and in
// participant events, the meeting's key leader (SignalLeader, chosen by the home's media
// server), and the leader's wrapped keys to each participant (SignalKey). The servers relay
// the wrapped keys and check who sends them to whom; nothing they relay is secret.

// RTCPath is the media server's signalling WebSocket.
const RTCPath = "/v1/rtc"

// Signal types. The direction is participant (or bridging server) to server (→) or server to
// participant (←).
const (
	// → first message of a participant: Ticket.
	SignalJoin = "join"
	// → first message of a bridge: Datacenter (the bridging DC), Credential (its credential),
	// Ticket and Participant (the ticket and Ref of a participant at the bridging DC whose
	// meeting's home is here), and in an e2ee meeting Leader, whose Epoch is the highest key
	// epoch the bridging DC relayed.
	SignalBridge = "bridge"
	// → on a bridge: another participant of the bridging DC in the meeting: Ticket and
	// Participant (its Ref).
	SignalBridgeJoin = "bridge_join"
	// → on a bridge: that participant left: Participant (its Ref).
	SignalBridgeLeave = "bridge_leave"
	// ← the connection is admitted: Joined.
	SignalJoined = "joined"
	// ↔ an SDP offer for Target: SDP. The participant offers on TargetPublisher, the server on
	// TargetSubscriber.
	SignalOffer = "offer"
	// ↔ the SDP answer to an offer for Target: SDP.
	SignalAnswer = "answer"
	// ↔ a trickled ICE candidate for Target: Candidate. A null Candidate ends the gathering.
	SignalCandidate = "candidate"
	// ← a participant joined the meeting (here or at another DC): Participant.
	SignalParticipantJoined = "participant_joined"
	// ← a participant left the meeting: Participant.
	SignalParticipantLeft = "participant_left"
	// ← a track is published and will arrive on the subscriber PeerConnection: Track.
	SignalTrackPublished = "track_published"
	// ← a track is no longer published: Track.
	SignalTrackUnpublished = "track_unpublished"
	// ← a track is not forwarded to this datacenter because its publisher's rules do not
	// allow it (I1 per publisher, a named degradation, I4): Withheld.
	SignalWithheld = "withheld"
	// → the participant's sender changed its media key: the server asks it for a key frame
	// on every video track it publishes (DESIGN.md section 8), so that receivers on the new
	// key can decode at once.
	SignalRekeyed = "rekeyed"
	// ← the meeting's key leader (e2ee meetings): Leader. The home's media server chooses it
	// (the earliest-admitted participant still in the meeting, across bridges) and sends it
	// when it changes, to its participants and on every bridge; a bridged datacenter relays
	// it to its own. A Leader with no Ref means none is known yet.
	SignalLeader = "leader"
	// ↔ an envelope of the meeting key (e2ee meetings): Key. → from the leader, Participant
	// is the target's Ref; ← to the target, Participant is the sender's (the leader's) Ref. On
	// a bridge (both ways) Participant is the target and From the sender. The server refuses
	// it, with an error whose Participant is the target's Ref and which leaves the connection
	// open, when the sender is not the leader (CodeNotLeader), the target is not in the
	// meeting (CodeUnknownParticipant), Key's Meeting or Participant is not the meeting's id
	// or the target's Ref (CodeEnvelopeMismatch), the envelope is larger than the bounds
	// below (CodeLimit), or the meeting is not end-to-end encrypted (CodeNotE2EE).
	SignalKey = "key"
	// → the participant leaves; the server closes the connection.
	SignalLeave = "leave"
	// ← the server is draining (shutting down or its datacenter leaving service): reconnect
	// to another datacenter of the ticket. RetryAfter may be set. The server closes next.
	SignalGoaway = "goaway"
	// ← a refusal or a protocol error: Error. The server closes the connection after it.
	SignalError = "error"
)

// PeerConnection targets of SignalOffer, SignalAnswer and SignalCandidate.
const (
	TargetPublisher  = "publisher"
	TargetSubscriber = "subscriber"
)

// Track kinds.
const (
	KindAudio = "audio"
	KindVideo = "video"
)

// Signal is one signalling message. Only the members its Type lists are set; a receiver
// ignores members it does not know (a newer peer works with an older one).
type Signal struct {
	// Type is one of the Signal* constants. Required.
	Type string `json:"type"`

	// Ticket is the participant's ticket (join, bridge, bridge_join).
	Ticket string `json:"ticket,omitempty"`
	// Datacenter is the bridging datacenter's id (bridge).
	Datacenter string `json:"datacenter,omitempty"`
	// Credential is the bridging datacenter's credential (bridge).
	Credential string `json:"credential,omitempty"`

	// Target is TargetPublisher or TargetSubscriber (offer, answer, candidate).
	Target string `json:"target,omitempty"`
	// SDP is a session description (offer, answer).
	SDP string `json:"sdp,omitempty"`
	// Candidate is an ICE candidate in the form of the WebRTC RTCIceCandidateInit (candidate).
	Candidate *ICECandidate `json:"candidate,omitempty"`

	// Joined answers join and bridge.
	Joined *Joined `json:"joined,omitempty"`
	// Participant is the participant that joined or left (participant_joined,
	// participant_left, bridge_leave), the one offered on a bridge (bridge, bridge_join: its
	// Ref at the bridging datacenter), or, in an error on a bridge, the one refused.
	Participant *Participant `json:"participant,omitempty"`
	// Track is the track published or unpublished.
	Track *Track `json:"track,omitempty"`
	// Withheld is the track withheld.
	Withheld *Withheld `json:"withheld,omitempty"`

	// Error is the refusal or error (error).
	Error *Error `json:"error,omitempty"`
	// RetryAfter is how many seconds to wait before reconnecting here (goaway); 0 means
	// reconnect elsewhere at once.
	RetryAfter int `json:"retry_after,omitempty"`

	// Leader is the meeting's key leader (leader), or the bridging DC's highest relayed epoch
	// (bridge).
	Leader *Leader `json:"leader,omitempty"`
	// Key is a wrapped meeting key (key).
	Key *KeyEnvelope `json:"key,omitempty"`
	// From is the sender's Ref of a key relayed on a bridge (key).
	From string `json:"from,omitempty"`
}

// Leader names an e2ee meeting's key leader: the participant that generates the meeting key,
// wraps it to everyone's public key and sends the envelopes (DESIGN.md section 8).
type Leader struct {
	// Ref is the leader's Ref; empty when no leader is known yet.
	Ref string `json:"ref,omitempty"`
	// Epoch is the highest key epoch the announcing server has relayed in the meeting. A
	// new leader starts above it and above every epoch it holds, so that no participant
	// refuses its keys as stale.
	Epoch uint64 `json:"epoch,omitempty"`
}

// KeyEnvelope is one participant's copy of an e2ee meeting key, wrapped to its public key:
// the JSON form of crypto/e2ee's Envelope. Meeting, Epoch and Participant are bound into
// Wrapped, so a relay that changes them makes it fail to open.
type KeyEnvelope struct {
	// Meeting is the meeting's id.
	Meeting string `json:"meeting"`
	// Epoch is the key's epoch, from 1.
	Epoch uint64 `json:"epoch"`
	// Participant is the target's Ref.
	Participant string `json:"participant"`
	// Wrapped is the key wrapped to the target's public key, in keywrap's text form
	// "<suite>-wrapped:<base64url>".
	Wrapped string `json:"wrapped"`
}

// Bounds of a KeyEnvelope: the largest wrap (ML-KEM-768+X25519: 1120 bytes of encapsulated
// key, 32 of key, 16 of tag, in base64url) fits MaxWrappedKey.
const (
	MaxWrappedKey  = 2048
	MaxEnvelopeRef = 64
)

// Error codes of the e2ee key relay (SignalKey).
const (
	CodeNotLeader          = "not_leader"          // 403: only the meeting's key leader sends keys
	CodeUnknownParticipant = "unknown_participant" // 404: no participant of the meeting has that Ref
	CodeEnvelopeMismatch   = "envelope_mismatch"   // 400: the envelope names another meeting or participant
	CodeNotE2EE            = "not_e2ee"            // 403: the meeting's keys come from its key servers
)

// ICECandidate is an ICE candidate (RFC 8839), as the browser's RTCIceCandidateInit.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Joined is the answer to an admitted join or bridge.
type Joined struct {
	// Datacenter is the id of the datacenter that admitted the connection.
	Datacenter string `json:"datacenter"`
	// Meeting is the meeting's id.
	Meeting string `json:"meeting"`
	// Participant is the admitted participant (for a bridge: its first participant).
	Participant Participant `json:"participant"`
	// Home is the meeting's home datacenter.
	Home string `json:"home"`
	// Bridged is true when this datacenter is not the home: the participant's media reaches
	// the others of the home through a bridge.
	Bridged bool `json:"bridged"`
	// Participants are the others already in the meeting, as far as this datacenter knows.
	Participants []Participant `json:"participants,omitempty"`
	// Tracks are the tracks already published, which the subscriber PeerConnection will
	// carry (those withheld are in Withheld).
	Tracks []Track `json:"tracks,omitempty"`
	// Withheld are the tracks already published that this datacenter may not receive.
	Withheld []Withheld `json:"withheld,omitempty"`
	// Mode is the meeting's mode, ModeManaged or ModeE2EE.
	Mode string `json:"mode,omitempty"`
	// Leader is the meeting's key leader as far as this datacenter knows (e2ee meetings).
	Leader *Leader `json:"leader,omitempty"`
}

// Participant names a participant of a meeting. Participant ids are their account's own, so
// a participant is the pair (Account, ID); Ref is the pair as one opaque string, used in
// track events.
type Participant struct {
	// Ref identifies the participant in the meeting: opaque, stable while it is connected.
	Ref string `json:"ref"`
	// ID is the participant's id (its ticket's subject).
	ID string `json:"id"`
	// Account is the participant's account.
	Account string `json:"account"`
	// Datacenter is the datacenter the participant is connected to.
	Datacenter string `json:"datacenter"`
	// Bridged is true when the participant reaches this datacenter through a bridge.
	Bridged bool `json:"bridged,omitempty"`
	// Context is the participant's rule context (its ticket's), sent between media servers
	// only, so that a bridged datacenter can check every publisher with its own policy.
	Context *Context `json:"context,omitempty"`
	// PublicKey is the participant's HPKE public key from its ticket, in keywrap's text form
	// (e2ee meetings): what the leader wraps the meeting key to, and what the meeting
	// security code is computed over. The server never sets one the ticket does not carry.
	PublicKey string `json:"public_key,omitempty"`
}

// Track is a published track.
type Track struct {
	// ID is the track's id: the MediaStreamTrack id (msid) it has on the subscriber
	// PeerConnection. The publisher's own id for it is not kept.
	ID string `json:"id"`
	// Stream is the stream id (msid) of every track of the same publisher.
	Stream string `json:"stream"`
	// Kind is KindAudio or KindVideo.
	Kind string `json:"kind"`
	// MimeType is the codec, e.g. "video/VP8" or "audio/opus".
	MimeType string `json:"mime_type,omitempty"`
	// Participant is the publisher's Ref.
	Participant string `json:"participant"`
	// Datacenter is where the publisher is connected.
	Datacenter string `json:"datacenter"`
}

// Withheld is a track not forwarded to a datacenter.
type Withheld struct {
	// Track is the track withheld.
	Track Track `json:"track"`
	// Datacenter is the datacenter that may not receive it.
	Datacenter string `json:"datacenter"`
	// Code is the refusal's error code (residency_conflict, plan_conflict).
	Code string `json:"code"`
	// Rule is the rule that forbids it, in the config's words.
	Rule string `json:"rule,omitempty"`
	// Message says why, for the participant.
	Message string `json:"message"`
}

// MaxSignalSize bounds one signalling message: an SDP of a bridge carrying many tracks fits.
const MaxSignalSize = 256 << 10
