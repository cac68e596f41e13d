// Package kms is the key server: the process in a datacenter that issues the key of a managed
// meeting to its participants, one at a time, each wrapped to the participant's own HPKE public
// key (DESIGN.md section 8, invariant I5). It is the last enforcement layer of DESIGN.md
// section 1 (point 3): the one that decides whether a key leaves the building.
//
// Its HTTP API is documented in docs/agent.md; its bodies and error codes are package wire's.
// On POST /v1/meetings/{id}/key it checks, in order: the ticket's signature, issuer and
// lifetime (package admission, through a TicketVerifier, in production a *ticket.RemoteKeys on
// the directory's key set); that the ticket is for meeting {id}; that the meeting is managed
// (in E2EE mode no server holds a key, so an E2EE ticket gets 409 e2ee_meeting); and, with
// package admission, the same check the DC agent makes: that the ticket lists this datacenter
// as a key server, that the country the ticket places the participant in belongs to the
// region the ticket says, under this key server's policy, and, with policy.Model.Admit, that
// this datacenter is allowed for the participant and the meeting and of the right dedicated
// class (I1, I3). A valid signature is necessary, never sufficient: a Beijing key
// server refuses a North American meeting even when a directory running a wrong config signed
// a ticket that lists it (the April 2020 failure). A refusal names the rule.
//
// The key is wrapped with package keywrap to the public key the ticket carries, which the
// directory signed at join time; a request may repeat that key but never substitute another,
// so a stolen ticket yields nothing its thief can open. The wrap is bound to (meeting, epoch,
// participant). Keys are 256 bits from crypto/rand, one per (meeting, epoch), created on the
// first request; the first epoch is 1. POST /v1/meetings/{id}/leave, with the leaving
// participant's ticket, retires that ticket here at once and rotates the meeting to a new
// epoch, at most once per Config.RotateInterval (DESIGN.md section 8): a leave within the
// interval after a rotation is coalesced with the others of that interval into one rotation at
// its end, which the leave's answer and every key answer until then announce (rotate_at). So a
// join and leave loop cannot churn a meeting through epochs (nor its participants through key
// fetches) faster than one per interval. The superseded epochs stay available for
// Config.Retain (media in flight is still decrypted) and are then deleted.
//
// At rest every key is sealed with AES-256-GCM under a key-encryption key (KEK, [LoadKEK]),
// bound to the datacenter, meeting and epoch; it is unsealed only for the moment of wrapping.
// Plaintext key material is never logged, never returned and never printed: the in-memory type
// that holds it redacts itself in fmt, slog and JSON. Every issuance, refusal, leave and
// rotation is logged (I6) with the meeting, participant, epoch, datacenter, outcome and rule.
//
// What it is not: it does not choose key servers (the directory does, with package route), does
// not decide residency itself (package policy does), and is not the E2EE mode's key source
// (package e2ee, on the leader's client). Its store is in memory and per process: two key
// servers listed for one meeting hold different keys for it until a shared sealed store
// exists, and a restart loses every meeting's key.
package kms
