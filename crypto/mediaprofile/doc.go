// Package mediaprofile is Geofence's media profile of SFrame (RFC 9605), DESIGN.md section 8:
// how every media frame of a meeting is encrypted, end to end, with keys derived from the
// meeting's epoch key. The profile is specified in docs/media-profile.md; the browser client
// implements the same profile in web/meeting/src/profile.js, and both are checked against the
// vectors in testdata/vectors.json.
//
// A frame keeps a codec-defined prefix in clear, because browsers' depacketizers read it: VP8
// keeps 10 bytes of a key frame and 3 of a delta frame (RFC 6386 section 9.1), Opus its TOC byte
// (RFC 6716 section 3.1), and [CodecNone] nothing. The prefix is SFrame's metadata
// (authenticated, not encrypted, RFC 9605 section 4.4.3) and the frame on the wire is
// prefix || SFrame ciphertext, so a media server can tell a key frame from a delta frame and can
// change nothing. A frame shorter than its codec's prefix is not a frame of that codec and is
// refused with [ErrShortFrame]: sealing it would make the wire frame ambiguous to the receiver.
//
// Every sending session of a participant has its own SFrame key. Its 64-bit KID is
// epoch (low 8 bits) || session (48 random bits) || ratchet step (8 bits); the sender's base key
// is derived with HKDF from the epoch key, the full epoch and the KID's first 56 bits, so a
// receiver derives it from the KID and the epoch key alone, and a participant that rejoins gets a
// new session and hence a new key. The low 8 bits are the RFC 9605 section 5.1 ratchet:
// [Sender.Ratchet] moves the sender's key forward and receivers follow without signalling.
//
// A [Sender] seals frames ([Sender.Seal]) and moves to a new epoch with [Sender.Rekey]; a
// [Receiver] holds the keys of several epochs at once, for the overlap of a re-key, and opens
// the frames of every sender of the meeting ([Receiver.Open]), reporting a malformed frame
// ([ErrMalformed]), a frame of an epoch it holds no key for ([ErrUnknownEpoch]), a frame that
// does not authenticate, that is a wrong key or tampering ([ErrAuth]), and a replay
// ([ErrReplay]) as distinct errors.
//
// It is not SFrame itself (package sframe), not key distribution (the key server, package kms,
// and the E2EE leader, package e2ee, produce the epoch keys), and not packetization: it works on
// whole encoded frames, as an RTCRtpScriptTransform does.
package mediaprofile
