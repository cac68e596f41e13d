// Package identity says who is calling the directory (DESIGN.md section 10): participants,
// vouched for by their account's own backend with a join token, and operators, with a bearer
// token.
//
// A join token is a compact JWS (RFC 7515) signed with Ed25519 (alg "EdDSA", RFC 8037) by a
// key registered on the account, public keys only, in the config or through the operator API;
// its header's kid selects the key. Its claims are [wire.JoinClaims]: iss the account, sub the
// participant, aud "geofence", iat and exp (at most [MaxLifetime] apart), optional nbf,
// meeting (only that meeting) and host (may create and end meetings). A [Verifier] checks one
// against a [Keys] and returns the [Identity] it vouches for; [Mint] makes one, as a
// customer's backend or `geofence token` does.
//
// Verify is strict, because the token comes from anyone on the internet: at most
// [MaxTokenSize] bytes of canonical compact serialization, alg exactly EdDSA, typ absent, "JWT"
// or [wire.JoinTokenType] (never a ticket's), no crit and no key carried in the token, no
// duplicated JSON member, ids of 1 to 128 characters of A-Z a-z 0-9 . _ -, NumericDates in
// whole seconds. Every refusal matches [ErrInvalid] and says what is wrong.
//
// An [Operator] checks the operator bearer token in constant time.
//
// What it is not: it decides who the caller is, not what the caller may do. Whether an
// account may join a meeting, host one or reach a datacenter is the directory's and the
// policy's to say. It stores no keys: [Keys] is the directory's account store.
package identity
