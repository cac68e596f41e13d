// Package agent is the DC agent: the process that runs in each datacenter, admits a
// participant only with a ticket that proves the directory sent it there and that this
// datacenter's own copy of the policy allows, counts the participants it serves and reports
// that load to the directory. It is the third enforcement layer of DESIGN.md section 1
// (point 3), after the directory and the client SDK, and the seed of the media server
// (section 8).
//
// On POST /v1/connect it checks, in order: the ticket's signature, issuer and lifetime
// (through a [TicketVerifier], in production a *ticket.RemoteKeys on the directory's key set);
// that the ticket lists this datacenter as a primary or a secondary; that the country the
// ticket places the participant in belongs to the region the ticket says, under this
// datacenter's policy; and, with policy.Model.Admit, that this datacenter and the meeting's
// home datacenter (where its media is bridged) are allowed for the participant and the
// meeting (I1) and of the right dedicated class (I3). A refusal names the rule. A valid
// signature is necessary, never sufficient: a directory running a wrong config cannot make
// an agent serve what its own policy forbids.
//
// It also simulates datacenter failures for tests and `geofence dev` ([Agent.SetFault]): a
// black-holed agent accepts connections and never answers, a refusing one resets them at
// once. Faults act on the listener and its connections, below HTTP, so they behave the same
// for any protocol served on the listener later (WebRTC signalling, media).
//
// What it is not: it carries no media yet, issues no keys (the key server does), chooses no
// datacenters (the directory does), and does not decide residency itself (package policy
// does). Its participant count is the number of open sessions; a client that vanishes
// without POST /v1/disconnect stays counted until the agent restarts, which the media server
// will fix by tying a session to its media connection.
package agent
