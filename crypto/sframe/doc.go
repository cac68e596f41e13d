// Package sframe implements SFrame, the end-to-end media frame encryption of RFC 9605, as used
// for every media frame Geofence carries (design section 8, invariant I5).
//
// It provides:
//
//   - the SFrame header (RFC 9605 section 4.3): [Header], [ParseHeader], [Header.Append];
//   - the five cipher suites of section 4.5 and the IANA registry of section 8.1, with the key
//     and salt derivation of section 4.4.2 and the AES-CTR + HMAC construction of section 4.5.1.
//     [DefaultSuite] is AES_256_GCM_SHA512_128, the suite invariant I5 asks for;
//   - a [Sender], which encrypts with one KID and a counter that never repeats (sections 4.4.1,
//     4.4.3 and 9.1), and a [Receiver], which holds the keys of one KID space and decrypts
//     (section 4.4.4) with a per-KID sliding replay window (section 9.3);
//   - the sender-key scheme of section 5.1: a KID is the key generation in its high 64-R bits and
//     the ratchet step in its low R bits, [Sender.Ratchet] moves a sender to its next ratchet step
//     and a [Receiver] follows a sender forward when a frame with a later step authenticates (at
//     most [Receiver.MaxRatchetSteps] at once), keeping the previous step for late frames only
//     until the new one is [ReplayWindow] counters in.
//
// It is not a key manager. It does not generate, negotiate, distribute, wrap or rotate base keys,
// nor decide when a sender ratchets: that is the key server (kms) or, in E2EE meetings, the
// leader's client, and the E2EE layer that hands keys to this package. It does not packetize,
// fragment or reassemble frames (section 4.4.4 leaves that to the transport), and it does not
// authenticate individual senders: anyone holding a key can encrypt under it (section 7.2).
//
// # KIDs and senders
//
// A Receiver is one "SFrame context" of RFC 9605 appendix A: KIDs are meaningful within it. In the
// scheme of section 5.1 senders are told apart outside SFrame (for example by RTP SSRC), so either
// use one Receiver per remote sender, or give every sender its own generations (for example by
// putting a sender index in the generation bits, above the R ratchet bits) so that their KIDs
// never collide and one Receiver serves them all. A base key may be shared by several senders only
// if their KIDs differ, since the KID is bound into the derived key and salt (section 4.4.2); every
// (base key, KID, CTR) triple must be used once (section 9.1).
//
// # Replay
//
// Each KID has a sliding window of [ReplayWindow] (128) counters, in the manner of RFC 3711
// section 3.3.2: a frame whose CTR was already accepted, or that is 128 or more below the highest
// CTR accepted for its KID, fails with [ErrReplay]. 128 frames is about four seconds of 30 fps
// video, far more reordering than a frame-level pipeline behind an SFU produces, while costing two
// words per key. The window moves only after a frame authenticates, so forged frames cannot push
// it forward.
//
// # Performance
//
// [Sender.Encrypt] and [Receiver.Decrypt] append to a caller-provided buffer and do not allocate
// once the Sender or Receiver has seen its largest metadata: ciphers, hash states and scratch
// buffers are built once per key. Either may work in place (dst = plaintext[:0] or
// ciphertext[:0]). Both are safe for concurrent use; calls on one Sender or Receiver are
// serialized, which is what keeps a counter from ever being used twice.
//
// Headers are parsed strictly: section 4.3 requires the minimal encoding, and a non-minimal
// header is rejected as malformed, so that every accepted header has exactly one encoding.
package sframe
