// Package agent is the DC agent: the process that runs in each datacenter, admits a
// participant only with a ticket that proves the directory sent it there and that this
// datacenter's own copy of the policy allows, holds the participants' sessions and reports
// their number to the directory. It is the third enforcement layer of DESIGN.md section 1
// (point 3), after the directory and the client SDK, and the seed of the media server
// (section 8). Its HTTP API is documented in docs/agent.md; its bodies and error codes are
// package wire's.
//
// On POST /v1/connect it admits with package admission, the same code the key server and
// later the media server use: the ticket's signature, issuer and lifetime (through a
// TicketVerifier, in production a *ticket.RemoteKeys on the directory's key set); that the
// ticket lists this datacenter as a primary or a secondary; and, with policy.Model.Admit, that
// this datacenter and the meeting's home datacenter (where its media is bridged) are allowed
// for the participant and the meeting (I1) and of the right dedicated class (I3). A refusal
// names the rule. A valid signature is necessary, never sufficient: a directory running a
// wrong config cannot make an agent serve what its own policy forbids.
//
// A participant holds one session per meeting (DESIGN.md section 8): a second connect with a
// ticket for the same account, participant and meeting replaces the first, whose id stops
// working, so a ticket replayed any number of times holds one session and counts once in the
// load the directory sees. A session lives Config.SessionTTL after its connect or its last
// POST /v1/heartbeat; then it expires and leaves the count. POST /v1/disconnect ends it at
// once. The count is bounded by the datacenter's capacity (503 no_capacity beyond it, I4) and
// the HTTP server by package httpserve's deadlines and connection cap.
//
// It also simulates datacenter failures for tests and `geofence dev` ([Agent.SetFault],
// package fault): a black-holed agent accepts connections and never answers, a refusing one
// resets them at once.
//
// What it is not: it carries no media yet, issues no keys (the key server does), chooses no
// datacenters (the directory does), and does not decide residency itself (package policy
// does, through package admission).
package agent
