// Package sfu is the media server of one datacenter (DESIGN.md section 8): a selective
// forwarding unit on Pion WebRTC that admits participants by ticket, forwards their media to
// the others of their meeting without being able to read it, and bridges meetings between
// datacenters only inside each publisher's allowed set.
//
// Signalling is a WebSocket at wire.RTCPath (docs/rtc.md): the first message carries the
// ticket, which package admission checks exactly as the DC agent and the key server do (the
// signature, that the ticket lists this datacenter, and that this datacenter's own policy
// allows it and the meeting's home for the participant). One media session per participant
// and meeting (Config.Sessions, the DC agent's table): a second connection with the same
// identity replaces the first, so a replayed ticket adds no load.
//
// Each participant has two PeerConnections: the publisher one, which it offers, and the
// subscriber one, which the server offers, so that offers never cross. The server forwards
// RTP payloads byte for byte (the media profile of docs/media-profile.md keeps a codec
// prefix in clear for it): it rewrites SSRCs, payload types and header extension ids, which
// are per hop, answers NACKs from its own history (Pion's interceptors), relays picture loss
// to the publisher at most every 500 ms, asks for a key frame when a subscriber starts a
// track or a publisher re-keys, and writes to each subscriber from one goroutine with a
// bounded queue, so that a slow subscriber drops its own packets.
//
// A participant whose datacenter is not the meeting's home is bridged: this server opens one
// connection per (meeting, home) to the home's media server, authenticated by this
// datacenter's credential and the participant's ticket, and offers every participant of the
// meeting here on it with their tickets; the home admits each one as if it had connected
// there. A track crosses a bridge only when its publisher's rules allow the datacenter on
// the other side (I1 per publisher); otherwise the subscribers there are told it is withheld
// and by which rule (a named degradation, I4). Both ends check with their own policy.
//
// In an end-to-end encrypted meeting the home's server names the meeting's key leader (the
// earliest-admitted participant still in it, across bridges) and every server relays the
// leader's envelopes of the meeting key to their targets, over bridges both ways, refusing
// those from anyone but the leader, to an unknown participant, naming another meeting or
// target, or oversized. The envelopes hold nothing secret; the server never sets a public key
// a ticket does not carry.
//
// What it is not: it holds no keys and cannot decrypt (payload-blind), chooses no
// datacenters (the directory does), and does no simulcast or bandwidth estimation of its own.
package sfu
