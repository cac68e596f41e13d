package mediaprofile

import (
	"errors"

	"github.com/geofence/geofence/crypto/sframe"
)

// Sentinel errors. Open returns them unwrapped, so that rejecting a frame never allocates.
var (
	// ErrShortFrame reports a frame shorter than its codec's clear prefix: an empty frame, a
	// VP8 key frame under 10 bytes or a delta frame under 3. It is not a frame of that codec;
	// Seal refuses it rather than make the wire frame ambiguous, and the caller drops it.
	ErrShortFrame = errors.New("mediaprofile: frame shorter than its codec's clear prefix")
	// ErrMalformed reports a wire frame that cannot be parsed: shorter than its prefix, an
	// SFrame header that is truncated or not minimal, or a ciphertext shorter than its tag.
	// It matches sframe.ErrMalformed too.
	ErrMalformed = sframe.ErrMalformed
	// ErrUnknownEpoch reports a frame whose KID names an epoch the Receiver holds no key for
	// (the key has not arrived yet, or the epoch is over), or a ratchet step it cannot reach.
	ErrUnknownEpoch = errors.New("mediaprofile: open: no key for the frame's epoch")
	// ErrAuth reports a frame that does not authenticate: encrypted under another key (a wrong
	// or stale meeting key), or altered on the way, prefix included.
	ErrAuth = sframe.ErrAuth
	// ErrReplay reports a frame whose counter its sender already used, or that is too old for
	// the replay window (RFC 9605 section 9.3).
	ErrReplay = sframe.ErrReplay
)

var errUnknownCodec = errors.New("mediaprofile: unknown codec")
