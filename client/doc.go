// Package client is the Geofence client SDK: it asks the directory for a ticket to join a
// meeting, checks that ticket, and connects to a datacenter the way DESIGN.md section 4 says.
//
// [Client.Join] is the whole flow:
//
//  1. POST the join to the directory (section 7). A refusal comes back as a [*Refusal]
//     carrying the directory's code (residency_conflict, plan_conflict, no_capacity, ...),
//     the rules it names and its retry hint.
//  2. Verify the ticket's signature against the directory's published key set (a
//     ticket.RemoteKeys, cached in the Client), and check that the signed claims say what
//     the JSON answer says: the datacenters are taken from the signed ticket, never from
//     unsigned JSON, and a ticket for another meeting, participant or public key is refused.
//  3. Drop every datacenter in a country of the client's own pinned policy (Config.PinDeny),
//     whatever the ticket says (section 4, last paragraph).
//  4. Connect as RFC 8305 ("Happy Eyeballs v2", section 5) connects to addresses: start the
//     first primary; when it has not succeeded within Config.Stagger start the next one while
//     keeping the earlier attempts alive, and start the next one at once when an attempt
//     fails; when every primary has failed, start the secondaries together. The first success
//     wins and the others are canceled, except that, since an admission leaves state at the
//     datacenter, one that may be about to succeed is given a short grace and disconnected
//     if it does (see Client.Join).
//  5. Keep the winner's session alive: the DC holds a session for its TTL
//     (wire.Connected.SessionTTL) after the connect or the last heartbeat, so the client
//     sends POST /v1/heartbeat every third of it until [Client.Disconnect].
//     [Result.Done] and [Result.Err] say when the DC no longer holds the session (it
//     expired, or a newer join of the same participant replaced it).
//
// A connection attempt is, for now, the DC agent's POST /v1/connect with the ticket (package
// agent); the media server will replace it with a WebRTC session set up the same way. Every
// body is package wire's, the definition the servers use.
//
// [Client.FetchKey] gets a managed meeting's key from the ticket's key servers, wrapped to the
// participant's HPKE key; [MeetingKey.RotateAt] says when the key server starts the next
// epoch, because participants left.
//
// What it is not: it does not choose datacenters (the directory does) or decide residency
// (the pinned policy is the client's own veto, on top of the directory's and the DC's
// checks), and it carries no media.
package client
