package kms

import (
	"context"
	"errors"
	"fmt"
	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/wire"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/geofence/geofence/internal/jsonapi"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
)

// maxBody bounds the request bodies the key server reads: a ticket (at most
// ticket.MaxTokenSize), a public key (a hybrid one is about 1.6 KB as text) and an epoch.
const maxBody = ticket.MaxTokenSize + 8<<10

// retryAfterSeconds is the Retry-After of a 503: the ticket key set may be back soon.
const retryAfterSeconds = 2

// KeyRequest is the body of POST /v1/meetings/{id}/key.
type KeyRequest struct {
	// Token is the participant's ticket. Required.
	Token string `json:"token"`
	// PublicKey, when set, must be the public key the ticket carries (keywrap's text form):
	// a client may state which key it expects the meeting key wrapped to, never choose another.
	PublicKey string `json:"public_key,omitempty"`
	// Epoch asks for a given epoch: the current one or a superseded one still retained. Nil
	// asks for the current epoch, creating the meeting's first key (epoch 1) when it has none.
	Epoch *uint64 `json:"epoch,omitempty"`
}

// KeyResponse is the 200 answer to POST /v1/meetings/{id}/key.
type KeyResponse struct {
	Meeting string `json:"meeting"`
	Epoch   uint64 `json:"epoch"`
	// Suite is the keywrap suite of the participant's key: "x25519" or "mlkem768x25519".
	Suite string `json:"suite"`
	// Wrapped is the meeting key wrapped to the ticket's public key with keywrap, bound to
	// (meeting, epoch, participant), in keywrap's text form.
	Wrapped string `json:"wrapped"`
	// KMS is the id of the datacenter of the key server that issued it.
	KMS string `json:"kms"`
}

// LeaveRequest is the body of POST /v1/meetings/{id}/leave.
type LeaveRequest struct {
	// Token is the leaving participant's ticket. Required.
	Token string `json:"token"`
}

// LeaveResponse is the 200 answer to POST /v1/meetings/{id}/leave: the meeting's epoch after
// the rotation, or 0 when this key server holds no key for the meeting (nothing to rotate).
type LeaveResponse struct {
	Meeting string `json:"meeting"`
	Epoch   uint64 `json:"epoch"`
}

// ErrorResponse is the body of every error answer. Rule names the residency rule behind a
// 403 when a rule is the reason; it is present (maybe empty) in every 403. CurrentEpoch is the
// meeting's current epoch in the answer to a request for an epoch that is not available.
type ErrorResponse struct {
	Error        string  `json:"error"`
	Message      string  `json:"message"`
	Rule         *string `json:"rule,omitempty"`
	CurrentEpoch uint64  `json:"current_epoch,omitempty"`
}

// refusal is a request refused.
type refusal struct {
	status  int
	code    string
	rule    string
	msg     string
	current uint64
}

func badRequest(msg string) *refusal {
	return &refusal{status: http.StatusBadRequest, code: CodeBadRequest, msg: msg}
}

// decodeKeyRequest reads a key request body: one JSON object with a non-empty "token" and, if
// any, an epoch of at least 1. Unknown members are ignored, so that newer clients can send
// more.
func decodeKeyRequest(body io.Reader) (KeyRequest, error) {
	var req KeyRequest
	if err := jsonapi.Decode(body, &req); err != nil {
		return KeyRequest{}, err
	}
	if req.Token == "" {
		return KeyRequest{}, errors.New(`request has no "token"`)
	}
	if req.Epoch != nil && *req.Epoch == 0 {
		return KeyRequest{}, errors.New(`"epoch" must be at least 1 (epochs start at 1), or left out for the current one`)
	}
	return req, nil
}

// decodeLeaveRequest reads a leave request body: one JSON object with a non-empty "token".
func decodeLeaveRequest(body io.Reader) (LeaveRequest, error) {
	var req LeaveRequest
	if err := jsonapi.Decode(body, &req); err != nil {
		return LeaveRequest{}, err
	}
	if req.Token == "" {
		return LeaveRequest{}, errors.New(`request has no "token"`)
	}
	return req, nil
}

// issue answers POST /v1/meetings/{id}/key.
func (s *Server) issue(w http.ResponseWriter, r *http.Request) {
	const op = "key"
	meeting := r.PathValue("id")
	req, err := decodeKeyRequest(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.refuse(w, r, op, meeting, nil, 0, badRequest(err.Error()))
		return
	}
	var want uint64
	if req.Epoch != nil {
		want = *req.Epoch
	}
	c, ref := s.authorize(r.Context(), meeting, req.Token)
	var pub keywrap.PublicKey
	if ref == nil {
		pub, ref = publicKey(c, req.PublicKey)
	}
	if ref != nil {
		s.refuse(w, r, op, meeting, c, want, ref)
		return
	}

	now := s.cfg.Now()
	var (
		epoch, cur uint64
		sealed     []byte
	)
	if req.Epoch == nil {
		epoch, sealed, err = s.store.current(c.Meeting, c.ID, now, s.newSealed)
	} else {
		epoch = *req.Epoch
		sealed, cur, err = s.store.epoch(c.Meeting, c.ID, epoch, now)
	}
	if ref := lookupRefusal(err, c.Meeting, epoch, cur, s.cfg.Retain); ref != nil {
		s.refuse(w, r, op, meeting, c, want, ref)
		return
	}
	wrapped, err := s.wrap(pub, sealed, c.Meeting, c.Participant, epoch)
	if err != nil {
		// Cannot happen with a key this server sealed; the detail is for the operator.
		s.log.Error("cannot wrap the meeting key", "meeting", c.Meeting, "participant", c.Participant,
			"epoch", epoch, "err", err)
		s.refuse(w, r, op, meeting, c, want, &refusal{status: http.StatusInternalServerError, code: CodeInternal,
			msg: "the key server could not wrap the meeting key; try another key server"})
		return
	}
	suite := pub.Suite().String()
	s.metrics.issuances.WithLabelValues(suite).Inc()
	s.log.Info("key issued", "outcome", "issued", "meeting", c.Meeting, "participant", c.Participant,
		"epoch", epoch, "suite", suite, "participant_region", c.Context.ParticipantRegion,
		"meeting_region", c.Context.MeetingRegion, "ticket", c.ID)
	jsonapi.Write(w, http.StatusOK, KeyResponse{
		Meeting: c.Meeting, Epoch: epoch, Suite: suite, Wrapped: wrapped.String(), KMS: s.cfg.DC,
	})
}

// leave answers POST /v1/meetings/{id}/leave.
func (s *Server) leave(w http.ResponseWriter, r *http.Request) {
	const op = "leave"
	meeting := r.PathValue("id")
	req, err := decodeLeaveRequest(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.refuse(w, r, op, meeting, nil, 0, badRequest(err.Error()))
		return
	}
	c, ref := s.authorize(r.Context(), meeting, req.Token)
	if ref != nil {
		s.refuse(w, r, op, meeting, c, 0, ref)
		return
	}
	// The ticket stays retired until it could no longer be verified anyway.
	until := c.Expiry.Add(ticket.Leeway)
	prev, next, rotated := s.store.rotate(c.Meeting, c.ID, until, s.cfg.Now(), s.cfg.Retain, s.newSealed)
	if rotated {
		s.metrics.rotations.Inc()
		s.log.Info("key rotated", "outcome", "rotated", "meeting", c.Meeting, "participant", c.Participant,
			"epoch", next, "previous_epoch", prev, "retain", s.cfg.Retain, "ticket", c.ID)
	} else {
		s.log.Info("leave recorded", "outcome", "left", "meeting", c.Meeting, "participant", c.Participant,
			"epoch", next, "ticket", c.ID)
	}
	jsonapi.Write(w, http.StatusOK, LeaveResponse{Meeting: c.Meeting, Epoch: next})
}

// authorize checks a ticket for a request about meeting: valid, for this meeting, managed,
// listing this key server, and allowed here by this key server's own policy (I1, I3). It
// returns the claims once the ticket verifies, nil before.
func (s *Server) authorize(ctx context.Context, meeting, token string) (*wire.Claims, *refusal) {
	c, err := s.cfg.Keys.Verify(ctx, token)
	if err != nil {
		if errors.Is(err, ticket.ErrInvalid) {
			return nil, &refusal{status: http.StatusUnauthorized, code: CodeInvalidTicket, msg: err.Error()}
		}
		// Fail closed (I4): no key set, no key. The detail (a URL, a network error) is for the
		// operator's log, not for the client.
		s.log.Error("cannot verify tickets", "err", err)
		return nil, &refusal{status: http.StatusServiceUnavailable, code: CodeKeysUnavailable,
			msg: fmt.Sprintf("key server %s cannot verify tickets right now; try the ticket's other key server", s.cfg.DC)}
	}
	id := s.cfg.DC
	if c.Meeting != meeting {
		return &c, &refusal{status: http.StatusForbidden, code: CodeMeetingMismatch,
			msg: fmt.Sprintf("the ticket is for meeting %q, not %q", c.Meeting, meeting)}
	}
	if c.Mode != wire.ModeManaged {
		return &c, &refusal{status: http.StatusConflict, code: CodeE2EEMeeting,
			msg: fmt.Sprintf("meeting %s is end-to-end encrypted: its key comes from the meeting leader's client and no key server holds one", c.Meeting)}
	}
	if len(c.Meeting) > keywrap.MaxIDLen || len(c.Participant) > keywrap.MaxIDLen {
		return &c, badRequest(fmt.Sprintf("meeting and participant ids must be at most %d bytes", keywrap.MaxIDLen))
	}
	if !slices.Contains(c.Lists(id), wire.ListKMS) {
		return &c, &refusal{status: http.StatusForbidden, code: CodeNotListed,
			msg: fmt.Sprintf("the ticket for meeting %s does not list %s as a key server", c.Meeting, id)}
	}
	// I1 at the key server: the key is issued only where its own policy allows this
	// datacenter for both the participant and the meeting, whatever the ticket lists.
	if err := s.cfg.Model.Admit(admission.Party(c.Context), s.dc); err != nil {
		ref := &refusal{status: http.StatusForbidden, code: CodeResidencyConflict,
			msg: "key server " + id + " may not issue this meeting's key: " + err.Error()}
		var pr *policy.Refusal
		if errors.As(err, &pr) {
			ref.code, ref.rule = pr.Code(), pr.Rule
		}
		return &c, ref
	}
	return &c, nil
}

// publicKey returns the key to wrap to: the ticket's, which the directory signed. A request
// may repeat it, never substitute another: whoever steals a ticket must not get a key wrapped
// to a key of their own.
func publicKey(c *wire.Claims, requested string) (keywrap.PublicKey, *refusal) {
	if c.PublicKey == "" {
		return keywrap.PublicKey{}, &refusal{status: http.StatusBadRequest, code: CodeBadPublicKey,
			msg: "the ticket carries no public key to wrap the meeting key to; join again with a public_key"}
	}
	if requested != "" && requested != c.PublicKey {
		return keywrap.PublicKey{}, &refusal{status: http.StatusForbidden, code: CodePublicKeyMismatch,
			msg: "the request's public_key is not the one the ticket carries; the key is only ever wrapped to the ticket's public key"}
	}
	pub, err := keywrap.ParsePublicKey(c.PublicKey)
	if err != nil {
		return keywrap.PublicKey{}, &refusal{status: http.StatusBadRequest, code: CodeBadPublicKey,
			msg: fmt.Sprintf("the ticket's public key cannot be used: %v; join again with a valid public_key", err)}
	}
	return pub, nil
}

// lookupRefusal is the answer to a failed key lookup.
func lookupRefusal(err error, meeting string, epoch, current uint64, retain time.Duration) *refusal {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errLeft):
		// A participant that left must not open the media of the epochs that follow: its
		// ticket is retired here until it expires. Joining again gives a new ticket.
		return &refusal{status: http.StatusForbidden, code: CodeLeft,
			msg: fmt.Sprintf("this ticket was used to leave meeting %s; join again for a new ticket", meeting)}
	case errors.Is(err, errNoKey):
		return &refusal{status: http.StatusNotFound, code: CodeUnknownEpoch,
			msg: fmt.Sprintf("meeting %s has no key yet; ask without an epoch for the current one", meeting)}
	case errors.Is(err, errFutureEpoch):
		return &refusal{status: http.StatusNotFound, code: CodeUnknownEpoch, current: current,
			msg: fmt.Sprintf("meeting %s has no epoch %d yet; its current epoch is %d", meeting, epoch, current)}
	default:
		return &refusal{status: http.StatusGone, code: CodeEpochExpired, current: current,
			msg: fmt.Sprintf("epoch %d of meeting %s was superseded more than %s ago and is deleted; its current epoch is %d",
				epoch, meeting, retain, current)}
	}
}

// newSealed makes the key of a new epoch and returns it sealed; the plaintext is cleared.
func (s *Server) newSealed(meeting string, epoch uint64) []byte {
	k := newMeetingKey(epoch)
	defer k.destroy()
	return s.sealer.seal(k, meeting)
}

// wrap unseals a key for the moment of wrapping it to pub.
func (s *Server) wrap(pub keywrap.PublicKey, sealed []byte, meeting, participant string, epoch uint64) (keywrap.Wrapped, error) {
	k, err := s.sealer.open(sealed, meeting, epoch)
	if err != nil {
		return keywrap.Wrapped{}, fmt.Errorf("unseal key of meeting %s epoch %d: %w", meeting, epoch, err)
	}
	defer k.destroy()
	return keywrap.Wrap(pub, k.bytes(), keywrap.Binding{Meeting: meeting, Epoch: epoch, Participant: participant})
}

// refuse answers with ref, counts and logs it. c is nil when the ticket did not verify; then
// meeting is the unauthenticated id of the path.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, op, meeting string, c *wire.Claims, epoch uint64, ref *refusal) {
	s.metrics.refusals.WithLabelValues(ref.code, ref.rule).Inc()
	attrs := []any{"outcome", ref.code, "op", op, "status", ref.status, "rule", ref.rule,
		"message", ref.msg, "remote", r.RemoteAddr}
	if c != nil {
		attrs = append(attrs, "meeting", c.Meeting, "participant", c.Participant,
			"participant_region", c.Context.ParticipantRegion, "meeting_region", c.Context.MeetingRegion,
			"ticket", c.ID)
	} else {
		// Unauthenticated: the path's meeting, and no participant.
		attrs = append(attrs, "meeting", meeting, "participant", "")
	}
	// The epoch asked for; 0 when the request named none (the current one) or is a leave.
	attrs = append(attrs, "epoch", epoch)
	level := slog.LevelWarn
	switch ref.code {
	case CodeBadRequest, CodeBadPublicKey, CodeKeysUnavailable, CodeUnknownEpoch, CodeEpochExpired, CodeLeft:
		level = slog.LevelInfo
	case CodeInternal:
		level = slog.LevelError
	}
	// Warn: the directory or the client should never have sent this ticket here, so the
	// run-time layer caught what an earlier one missed, or someone is probing.
	s.log.Log(r.Context(), level, op+" refused", attrs...)
	body := ErrorResponse{Error: ref.code, Message: ref.msg, CurrentEpoch: ref.current}
	if ref.status == http.StatusForbidden {
		body.Rule = &ref.rule
	}
	if ref.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	jsonapi.Write(w, ref.status, body)
}
