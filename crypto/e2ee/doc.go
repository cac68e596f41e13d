// Package e2ee holds the client-side key logic of the E2EE meeting mode (DESIGN.md section 8):
// the meeting leader generates a 256-bit key per epoch from crypto/rand (I5), wraps it to each
// participant's HPKE public key with package keywrap, and rotates it to a new epoch when a
// participant leaves; each participant unwraps its own copy; when the leader leaves, the next
// one takes over above every epoch in use (Participant.TakeOver), so that no one refuses its
// keys as stale; and everyone can compare a short meeting security code derived from the key,
// its epoch and the roster of public keys.
//
// The servers only relay [Envelope] values, which carry nothing secret. An [EpochKey] never
// prints, logs or marshals its key bytes; [EpochKey.Bytes] is the one way to get them out, for
// the SFrame layer.
//
// It is not the KMS (which issues keys for meetings that are not end-to-end encrypted), not
// SFrame (package mediaprofile derives each sender's SFrame keys from an EpochKey), and not a transport: it
// neither sends envelopes nor learns the roster by itself. It does not authenticate the leader
// or the roster; that is what comparing the security code out of band is for. Leader and
// Participant are not safe for concurrent use.
package e2ee
