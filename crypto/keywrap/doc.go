// Package keywrap wraps a 256-bit meeting key to one participant's HPKE public key (RFC 9180,
// base mode) and unwraps it with the matching private key, as DESIGN.md section 8 and
// invariant I5 require of both the KMS and the E2EE leader's client.
//
// Two suites are offered, named by [Suite]; the zero value is the default:
//
//   - [X25519]: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM;
//   - [MLKEM768X25519]: the ML-KEM-768 + X25519 hybrid KEM (X-Wing, draft-ietf-hpke-pq),
//     HKDF-SHA256, AES-256-GCM, for participants that ask for post-quantum protection.
//
// Every wrap is bound to a [Binding] (meeting, key epoch, participant) through the HPKE info
// parameter, so a wrapped key relayed to another meeting, epoch or participant does not open.
//
// Keys and wrapped keys have a portable text form for JSON APIs, "<suite>:<base64url>" for a
// public key, "<suite>-private:<base64url>" for a private key and "<suite>-wrapped:<base64url>"
// for a wrapped key, with strict parsers meant for untrusted input: an encoding is accepted only
// in its one canonical form, so String of a parsed public or wrapped key gives back the input
// (a private key is the exception; see ParsePrivateKey).
//
// PublicKey, PrivateKey and Wrapped values are immutable and safe for concurrent use.
//
// It is not a general HPKE API: there is no PSK or auth mode, no AAD, no exporter and no choice
// of KDF or AEAD. It does not generate, store or rotate meeting keys (the KMS and package e2ee
// do), check who may receive a key (I1 is the KMS's job), or authenticate the sender of a
// wrapped key: HPKE base mode proves only that whoever wrapped the key knew the recipient's
// public key and the binding.
package keywrap
