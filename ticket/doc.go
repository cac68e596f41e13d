// Package ticket is the directory's signed answer to a join: the claims it carries and their
// encoding as a JWS (RFC 7515) in compact serialization, signed with Ed25519 (alg "EdDSA",
// RFC 8037), together with the key set (RFC 7517) that lets others verify it.
//
// The directory signs tickets with a [Signer] and publishes its public keys at
// [JWKSPath] ([Signer.Handler]). wire.DC agents, media servers, key servers and clients check them
// with a [Verifier] built from a key set, or with [RemoteKeys], which fetches the key set over
// HTTPS and fetches it again when it meets a key it does not know, so that [Signer.Rotate]
// needs no coordination.
//
// Signing is on the directory's join path, so [Signer.Sign] builds the JWS by hand (package
// internal/jws) around one ed25519.Sign: the header is encoded once per key and the claims once
// per ticket ([wire.Claims.AppendJSON]). [Signer.SignJSON] also hands back the claims as signed
// and their JSON, from which the join answer can copy the DC lists. [CheckTTL] lets a server
// refuse a ticket lifetime Sign would refuse, when it starts.
//
// A ticket is what a layer needs to enforce the rules again at run time (design section 1,
// point 3): the participant, the meeting, the datacenters the directory chose for it (primary,
// secondary and key-server lists), and, in [wire.Context], the facts the residency invariant I1 and
// the dedicated-isolation invariant I3 are decided on (the participant's country, region and
// plan, the meeting's data region, the host's account, plan and data-region narrowing).
//
// What it is not: this package does not decide residency, choose datacenters, or know the
// policy. It only proves that the directory said what the ticket says. A media server admitting
// a participant, or a key server issuing a key, must still check with its own copy of the
// policy that its own wire.DC is allowed for the [wire.Context] the ticket carries
// (policy.Model.Admit with [wire.Context.Party]), and that the ticket names it ([wire.Claims.Lists]). A
// valid signature is necessary, never sufficient.
//
// Tickets are bearer tokens: whoever holds one can present it until it expires, so they are
// short lived (see [MaxTTL]) and carry the participant's public key, to which a key server wraps
// the meeting key, so that a stolen ticket yields no key.
package ticket
