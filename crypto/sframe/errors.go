package sframe

import "errors"

// Sentinel errors that callers branch on. Decrypt returns them unwrapped so that rejecting a
// frame never allocates; setup functions wrap them with the operation and the offending value.
var (
	// ErrMalformed reports a header or ciphertext that cannot be parsed: truncated, not
	// minimally encoded (RFC 9605 section 4.3), or shorter than its authentication tag.
	ErrMalformed = errors.New("sframe: malformed ciphertext")
	// ErrUnknownKID reports a frame whose KID has no key in the Receiver, including a later
	// ratchet step than Receiver.MaxRatchetSteps allows. RFC 9605 section 4.4.4 lets the caller
	// buffer such a frame and retry once the key arrives.
	ErrUnknownKID = errors.New("sframe: decrypt: no key for the frame's KID")
	// ErrReplay reports a frame whose CTR was already accepted for its KID, or that is too old for
	// the replay window.
	ErrReplay = errors.New("sframe: decrypt: replayed or too old counter")
	// ErrAuth reports a frame that fails authentication: the header, metadata, ciphertext or tag
	// was altered, or it was encrypted under another key.
	ErrAuth = errors.New("sframe: decrypt: authentication failed")
	// ErrCounterExhausted reports a Sender whose key has used every CTR value. The Sender never
	// wraps (RFC 9605 sections 7.4 and 9.1); ratchet it or create one with a new key.
	ErrCounterExhausted = errors.New("sframe: encrypt: counter exhausted for this key; ratchet or install a new key")
	// ErrUnsupportedSuite reports a cipher suite that is not one of RFC 9605 section 8.1. It
	// is returned wrapped, with the operation.
	ErrUnsupportedSuite = errors.New("not an RFC 9605 cipher suite (1 to 5)")
	// ErrDuplicateKID reports adding a key for a KID the Receiver already covers. It is
	// returned wrapped, with the operation.
	ErrDuplicateKID = errors.New("KID already has a key; remove it first")
)

// malformedError is a fixed, descriptive parse error that matches ErrMalformed under errors.Is.
type malformedError string

func (e malformedError) Error() string        { return string(e) }
func (e malformedError) Is(target error) bool { return target == ErrMalformed }

var (
	errEmptyHeader     error = malformedError("sframe: parse header: empty input")
	errTruncatedKID    error = malformedError("sframe: parse header: KID truncated")
	errTruncatedCTR    error = malformedError("sframe: parse header: CTR truncated")
	errNonMinimalKID   error = malformedError("sframe: parse header: KID not minimally encoded")
	errNonMinimalCTR   error = malformedError("sframe: parse header: CTR not minimally encoded")
	errShortCiphertext error = malformedError("sframe: decrypt: ciphertext shorter than its tag")
)
