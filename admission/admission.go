// Package admission is the run-time check every server in a datacenter makes before it serves
// a participant (DESIGN.md section 1, point 3): the ticket verifies, it lists this datacenter
// for the service asked, and this datacenter's own copy of the policy allows it for the
// participant and the meeting (policy.Model.Admit, the same residency check selection uses);
// for media, the meeting's home DC too, since a participant's media reaches it through a
// bridge (I1). The DC agent (later the SFU) and the key server call it; none has a copy.
//
// It is not the directory's selection and decides nothing the policy does not: it only refuses
// what the ticket's own context shows to be outside the rules.
package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

// Service is what a participant asks a datacenter for.
type Service int

// The services.
const (
	// Media: the DC carries the participant's media; the ticket must list it as a primary or
	// a secondary, and the home DC is checked too.
	Media Service = iota
	// KMS: the DC's key server issues the meeting key; the ticket must list it as a kms.
	KMS
)

func (s Service) String() string {
	if s == KMS {
		return "key server"
	}
	return "media server"
}

// TicketVerifier checks a ticket's signature, issuer and lifetime and returns its claims.
// Errors about the token match ticket.ErrInvalid; other errors (the key set cannot be
// fetched) say nothing about the token. *ticket.RemoteKeys is one.
type TicketVerifier interface {
	Verify(ctx context.Context, token string) (wire.Claims, error)
}

var _ TicketVerifier = (*ticket.RemoteKeys)(nil)

// Refusal is a participant refused: the HTTP status and wire error code to answer with, the
// rule behind it when a rule is the reason, and a message for the caller.
type Refusal struct {
	Status  int
	Code    string
	Rule    string
	Message string
	// Cause is the underlying error of a refusal that is not the participant's fault (the
	// key set cannot be fetched): for the operator's log, never sent to the caller.
	Cause error
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// Body is the wire error body of the refusal. A 403 names its rule in Rules, or carries an
// empty Rules when no rule is the reason (wire.Error); other statuses carry none.
func (r *Refusal) Body() wire.Error {
	body := wire.Error{Error: r.Code, Message: r.Message}
	if r.Status == http.StatusForbidden {
		body.Rules = []string{}
		if r.Rule != "" {
			body.Rules = []string{r.Rule}
		}
	}
	return body
}

// Party is a ticket's rule context in the terms of package policy.
func Party(x wire.Context) policy.Party {
	return policy.Party{
		ParticipantCountry: x.ParticipantCountry,
		ParticipantRegion:  x.ParticipantRegion,
		ParticipantPlan:    x.ParticipantPlan,
		MeetingRegion:      x.MeetingRegion,
		HostPlan:           x.HostPlan,
		HostDataRegions:    x.HostDataRegions,
	}
}

// Check decides whether datacenter dc of model m may serve claims c for svc. A nil answer
// admits.
func Check(m *policy.Model, dc policy.DCID, svc Service, c *wire.Claims) *Refusal {
	id := m.DCs[dc].ID
	lists := c.Lists(id)
	switch svc {
	case Media:
		if !slices.Contains(lists, wire.ListPrimary) && !slices.Contains(lists, wire.ListSecondary) {
			return &Refusal{Status: http.StatusForbidden, Code: wire.CodeNotListed,
				Message: fmt.Sprintf("the ticket for meeting %s does not list datacenter %s as a primary or secondary", c.Meeting, id)}
		}
	case KMS:
		if !slices.Contains(lists, wire.ListKMS) {
			return &Refusal{Status: http.StatusForbidden, Code: wire.CodeNotListed,
				Message: fmt.Sprintf("the ticket for meeting %s does not list %s as a key server", c.Meeting, id)}
		}
	}
	p := Party(c.Context)
	if err := m.Admit(p, dc); err != nil {
		return refusal(err, fmt.Sprintf("%s %s may not serve this participant: ", svc, id))
	}
	if svc != Media || c.Home == id {
		return nil
	}
	// I1 covers the meeting's home too: a participant connecting here has its media bridged
	// there.
	h, ok := m.DC(c.Home)
	if !ok {
		return &Refusal{Status: http.StatusForbidden, Code: wire.CodeResidencyConflict,
			Message: fmt.Sprintf("the meeting's home datacenter %q is not in datacenter %s's policy", c.Home, id)}
	}
	if err := m.Admit(p, h); err != nil {
		return refusal(err, fmt.Sprintf("the meeting's home datacenter %s, where datacenter %s bridges its media: ", c.Home, id))
	}
	return nil
}

func refusal(err error, prefix string) *Refusal {
	r := &Refusal{Status: http.StatusForbidden, Code: wire.CodeResidencyConflict, Message: prefix + err.Error()}
	var pr *policy.Refusal
	if errors.As(err, &pr) {
		r.Code, r.Rule = pr.Code(), pr.Rule
	}
	return r
}

// Admitter verifies a ticket and checks it for one datacenter.
type Admitter struct {
	// Model is the policy in force at this datacenter. Required.
	Model func() *policy.Model
	// DC is this datacenter's id. Required.
	DC string
	// Keys verifies tickets. Required.
	Keys TicketVerifier
}

// Admit verifies token and checks it for svc: [Admitter.Verify], then [Admitter.Check]. It
// returns the claims once the token verifies (nil before) and a refusal when the participant
// may not be served here.
func (a *Admitter) Admit(ctx context.Context, token string, svc Service) (*wire.Claims, *Refusal) {
	c, ref := a.Verify(ctx, token, svc)
	if ref != nil {
		return nil, ref
	}
	return c, a.Check(c, svc)
}

// Verify checks token's signature, issuer and lifetime. A token that does not verify is a 401
// invalid_ticket; a key set that cannot be fetched is a 503 keys_unavailable whose Cause says
// why (I4: no key set, no admission). A server with checks of its own on the claims (the key
// server: the meeting of the path, the mode) makes them between Verify and Check.
func (a *Admitter) Verify(ctx context.Context, token string, svc Service) (*wire.Claims, *Refusal) {
	c, err := a.Keys.Verify(ctx, token)
	if err != nil {
		if errors.Is(err, ticket.ErrInvalid) {
			return nil, &Refusal{Status: http.StatusUnauthorized, Code: wire.CodeInvalidTicket, Message: err.Error()}
		}
		// Fail closed (I4): no key set, no admission. The detail (a URL, a network error) is
		// for the operator's log, which the caller writes; the participant tries elsewhere.
		return nil, &Refusal{Status: http.StatusServiceUnavailable, Code: wire.CodeKeysUnavailable,
			Message: fmt.Sprintf("%s %s cannot verify tickets right now; try another one", svc, a.DC), Cause: err}
	}
	return &c, nil
}

// Check decides, with the policy in force, whether this datacenter may serve the verified
// claims c for svc ([Check]). A nil answer admits.
func (a *Admitter) Check(c *wire.Claims, svc Service) *Refusal {
	m := a.Model()
	dc, ok := m.DC(a.DC)
	if !ok {
		return &Refusal{Status: http.StatusServiceUnavailable, Code: wire.CodeInternal,
			Message: fmt.Sprintf("datacenter %s is not in the policy in force", a.DC)}
	}
	return Check(m, dc, svc, c)
}
